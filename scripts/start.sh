#!/usr/bin/env bash
# npm start: build if the sources changed, apply pending migrations once, then start the PM2
# apps, or reload them with zero downtime if they already run. Returns once every instance has
# reported ready. Extra arguments go to PM2, e.g. `npm start -- --env production`.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src prisma scripts package.json tsconfig.json tsconfig.build.json -newer "$stamp" -not -path 'src/generated/*' -print -quit)" ]; then
  npm run --silent build
fi
node dist/scripts/migrate.js
# --update-env: on a reload, the instances get the caller's current environment.
npx --no-install pm2 startOrReload ecosystem.config.cjs --update-env "$@"
npx --no-install pm2 list
