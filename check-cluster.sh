#!/usr/bin/env bash
# Proves a running deployment is really clustered: PM2 cluster mode, every instance online,
# answering with its own id and pid and present in the cluster membership, its Socket.IO adapter,
# readiness, the database budget, and load spread over every instance. Prints ✓/✗ with the
# figure for each check. The checks are scripts/check-cluster.ts (built to dist/); this file
# is the command. ./check-cluster.sh --help for the options; see docs/verification.md.
# Exit status: 0 when every check passes, 1 when any fails, 2 on bad usage.
set -uo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "node is required" >&2; exit 2; }
[ -x node_modules/.bin/pm2 ] || { echo "pm2 is not installed here; run npm install first" >&2; exit 2; }
[ -f dist/scripts/check-cluster.js ] || { echo "dist/scripts/check-cluster.js is missing; run npm run build first" >&2; exit 2; }
exec node dist/scripts/check-cluster.js "$@"
