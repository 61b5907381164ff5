#!/usr/bin/env bash
# npm test's first step: the Debian packages the tests run, beside Node.js, PostgreSQL and Redis.
# Installs the missing ones when run as root (Debian's apt-get), or stops at once naming them.
# A test that needs another program adds a line to PACKAGES: the command it runs, its package.
set -euo pipefail

PACKAGES=(
  "ab apache2-utils"      # load for the reload, pgbouncer and first-run tests (test/helpers/load.ts)
  "chromium chromium"     # the live page's end-to-end tests (test/helpers/browser.ts)
  "pgbouncer pgbouncer"   # test/pgbouncer.test.ts starts its own PgBouncer
  "prometheus prometheus" # test/prometheus.test.ts runs Prometheus against a cluster (deploy/observability/)
  "promtool prometheus"   # the same test checks and tests the alert rules
  "haproxy haproxy"       # test/lab.test.ts puts HAProxy in front of its hosts (scripts/lab/)
  "ip iproute2"           # the lab's network namespaces
)

# pgbouncer is in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for entry in "${PACKAGES[@]}"; do
  read -r command package <<<"$entry"
  command -v "$command" >/dev/null || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "npm test needs these Debian packages, which are not installed: ${missing[*]}" >&2
  echo "Install them (sudo apt-get install -y ${missing[*]}) and run it again." >&2
  exit 1
fi
echo "Installing the packages the tests need: ${missing[*]}"
# RUNLEVEL=1: a package's service (pgbouncer's) is not started by the install; the tests start
# their own.
apt-get update -qq
RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
