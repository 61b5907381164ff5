#!/usr/bin/env bash
# Generating the client needs no engine binary, but the Prisma 7 CLI tries to download its
# schema engine first and fails where Prisma's download server is unreachable. Pointing it at
# any existing file satisfies that check; generation never runs it. See docs/database.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PRISMA_SCHEMA_ENGINE_BINARY:-}" ] && ! compgen -G 'node_modules/@prisma/engines/schema-engine*' >/dev/null; then
  export PRISMA_SCHEMA_ENGINE_BINARY="$(command -v node)"
fi
npx --no-install prisma generate
npx --no-install tsx scripts/prisma-compiler-file.ts
