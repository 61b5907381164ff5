#!/usr/bin/env bash
# Proves a running deployment is really clustered: PM2 cluster mode, every instance online and
# answering with its own id and pid, the logs, readiness, the database budget, and load spread
# over every instance. Prints ✓/✗ with the figure for each check; exits 1 if any fails.
# Needs bash, curl and what the project installs (node, pm2); ab is used when installed.
# See docs/verification.md.
set -uo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./check-cluster.sh [options]

  --url URL        base URL of the API (default: http://127.0.0.1:$PORT, PORT from the
                   environment or .env, else 3000)
  --name NAME      PM2 app name of the API (default: $API_NAME or "api")
  --expect N       expected instance count (default: what ecosystem.config.cjs resolves to,
                   i.e. the CPU count for 'max')
  --requests N     probe requests for the instance checks (default: 40)
  --load N         requests in the load check (default: 400)
  --json           print one JSON object instead of the ✓/✗ lines
  -h, --help       this help

PM2 is reached through the PM2_HOME of the environment, like the pm2 command.
Exit status: 0 when every check passes, 1 when any fails, 2 on bad usage.
USAGE
}

dotenv_value() { [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1; }

URL="" NAME="${API_NAME:-$(dotenv_value API_NAME)}" EXPECT="" REQUESTS=40 LOAD=400 JSON=0
NAME="${NAME:-api}"
while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL="${2:?--url needs a value}"; shift 2 ;;
    --name) NAME="${2:?--name needs a value}"; shift 2 ;;
    --expect) EXPECT="${2:?--expect needs a value}"; shift 2 ;;
    --requests) REQUESTS="${2:?--requests needs a value}"; shift 2 ;;
    --load) LOAD="${2:?--load needs a value}"; shift 2 ;;
    --json) JSON=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "Unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in REQUESTS LOAD; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "--$(echo "$n" | tr 'A-Z' 'a-z') must be a positive integer" >&2; exit 2; }
done
[ -z "$EXPECT" ] || [[ "$EXPECT" =~ ^[1-9][0-9]*$ ]] || { echo "--expect must be a positive integer" >&2; exit 2; }
if [ -z "$URL" ]; then
  PORT_VALUE="${PORT:-$(dotenv_value PORT)}"
  URL="http://127.0.0.1:${PORT_VALUE:-3000}"
fi
URL="${URL%/}"
command -v curl >/dev/null || { echo "curl is required" >&2; exit 2; }
command -v node >/dev/null || { echo "node is required" >&2; exit 2; }
PM2=node_modules/.bin/pm2
[ -x "$PM2" ] || { echo "pm2 is not installed here; run npm install first" >&2; exit 2; }

# What ecosystem.config.cjs resolves the app's instance count to ('max' = CPU count).
if [ -z "$EXPECT" ]; then
  EXPECT=$(API_NAME="$NAME" node -e '
    const os = require("os"); const cpus = os.availableParallelism();
    const app = require("./ecosystem.config.cjs").apps.find((a) => a.name === process.argv[1]);
    const n = app ? app.instances : "max";
    console.log(n === "max" || n === 0 ? cpus : n < 0 ? Math.max(1, cpus + n) : n);' "$NAME")
fi

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }   # ok|fail, name, detail
# Evaluates JavaScript against JSON on stdin: js 'expression using d' < file
js() { node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{let d;try{d=JSON.parse(s)}catch{d=null};const r=($1);console.log(typeof r==='string'?r:JSON.stringify(r))})"; }

# --- PM2 ---------------------------------------------------------------------------------
JLIST=$(mktemp); trap 'rm -f "$RESULTS" "$JLIST"' EXIT
if "$PM2" jlist > "$JLIST" 2>/dev/null && node -e 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))' "$JLIST" 2>/dev/null; then
  record ok "PM2 reachable" "PM2_HOME=${PM2_HOME:-~/.pm2}"
  APPS=$(js "(d||[]).filter(p=>p.name==='$NAME').map(p=>({id:p.pm2_env.NODE_APP_INSTANCE,mode:p.pm2_env.exec_mode,status:p.pm2_env.status,restarts:p.pm2_env.restart_time,log:p.pm2_env.pm_out_log_path}))" < "$JLIST")
  COUNT=$(echo "$APPS" | js 'd.length')
  if [ "$COUNT" = 0 ]; then
    record fail "API app '$NAME' found in PM2" "no process named '$NAME' (see --name)"
  else
    MODES=$(echo "$APPS" | js '[...new Set(d.map(p=>p.mode))].join(",")')
    [ "$MODES" = cluster_mode ] && record ok "runs in cluster mode" "exec_mode $MODES" || record fail "runs in cluster mode" "exec_mode $MODES (fork mode runs one process per app; set exec_mode: 'cluster')"
    ONLINE=$(echo "$APPS" | js 'd.filter(p=>p.status==="online").length')
    [ "$ONLINE" = "$COUNT" ] && record ok "every instance online" "$ONLINE/$COUNT online" || record fail "every instance online" "$ONLINE/$COUNT online: $(echo "$APPS" | js 'd.map(p=>p.id+":"+p.status).join(" ")')"
    [ "$COUNT" = "$EXPECT" ] && record ok "instance count" "$COUNT (expected $EXPECT)" || record fail "instance count" "$COUNT (expected $EXPECT)"
    record ok "restart counts" "$(echo "$APPS" | js 'd.map(p=>"#"+p.id+": "+p.restarts).join(", ")')"
    LOGFILES=$(echo "$APPS" | js '[...new Set(d.map(p=>p.log))].join("\n")')
  fi
else
  record fail "PM2 reachable" "pm2 jlist failed (is the cluster started, and PM2_HOME the same?)"
fi

# --- the instances answer ------------------------------------------------------------------
INFOS=$(mktemp); trap 'rm -f "$RESULTS" "$JLIST" "$INFOS"' EXIT
for _ in $(seq 1 "$REQUESTS"); do
  # A new connection each time, so PM2's round-robin can pick another instance.
  curl -s -m 5 -H 'Connection: close' "$URL/api/cluster-info" >> "$INFOS" && echo >> "$INFOS"
done
SUMMARY=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  const infos = lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
  console.log(JSON.stringify({ answers: infos.length, ids: [...new Set(infos.map((i) => i.instanceId))].sort((a, b) => a - b),
    pids: [...new Set(infos.map((i) => i.pid))], clusterMode: infos.length > 0 && infos.every((i) => i.clusterMode === true),
    cpu: infos[0] ? infos[0].cpuCount : null, budget: infos[0] && infos[0].db ? infos[0].db.budget : null,
    adapter: infos[0] && infos[0].socket ? infos[0].socket.adapter : null }));' "$INFOS")
ANSWERS=$(echo "$SUMMARY" | js 'd.answers')
IDS=$(echo "$SUMMARY" | js 'd.ids.join(",")')
NIDS=$(echo "$SUMMARY" | js 'd.ids.length')
NPIDS=$(echo "$SUMMARY" | js 'd.pids.length')
if [ "$ANSWERS" = 0 ]; then
  record fail "/api/cluster-info answers" "no answer from $URL"
else
  [ "$NIDS" -ge "$EXPECT" ] && [ "$NPIDS" -ge "$EXPECT" ] \
    && record ok "answers from every instance" "$NIDS instance ids [$IDS], $NPIDS pids over $ANSWERS requests" \
    || record fail "answers from every instance" "$NIDS instance ids [$IDS], $NPIDS pids over $ANSWERS requests (expected $EXPECT)"
  [ "$(echo "$SUMMARY" | js 'd.clusterMode')" = true ] \
    && record ok "clusterMode reported" "clusterMode true on every answer; cpuCount $(echo "$SUMMARY" | js 'd.cpu')" \
    || record fail "clusterMode reported" "clusterMode false on some answer; cpuCount $(echo "$SUMMARY" | js 'd.cpu')"
fi

# --- logs ----------------------------------------------------------------------------------
# Only lines written by the processes running now count (matched by pid): a log file keeps
# lines from earlier runs, which must not vouch for the current deployment.
if [ -n "${LOGFILES:-}" ]; then
  LOGCHECK=$(node -e '
    const fs = require("fs");
    const [jlistFile, name, expect, ...files] = process.argv.slice(1);
    const procs = JSON.parse(fs.readFileSync(jlistFile, "utf8")).filter((p) => p.name === name);
    const lines = files.flatMap((f) => { try { return fs.readFileSync(f, "utf8").split("\n"); } catch { return []; } });
    const linesOf = (pid) => lines.filter((l) => l.includes(`"pid":${pid},`));
    const missing = [];
    for (let id = 0; id < Number(expect); id += 1) {
      const p = procs.find((q) => Number(q.pm2_env.NODE_APP_INSTANCE) === id);
      if (!p || !linesOf(p.pid).some((l) => l.includes(`(Instance: ${id})`))) missing.push(id);
    }
    const adapter = procs.some((p) => linesOf(p.pid).some((l) => l.includes("Socket.IO Redis Adapter enabled for cluster mode")));
    console.log(JSON.stringify({ missing, adapter }));' "$JLIST" "$NAME" "$EXPECT" $LOGFILES)
  MISSING=$(echo "$LOGCHECK" | js 'd.missing.join(" ")')
  [ -z "$MISSING" ] && record ok "logs show every instance" "'(Instance: N)' from the running process for N = 0..$((EXPECT - 1))" || record fail "logs show every instance" "no '(Instance: N)' line from a running process for N = $MISSING"
  [ "$(echo "$LOGCHECK" | js 'd.adapter')" = true ] \
    && record ok "logs show the Redis adapter" "'Socket.IO Redis Adapter enabled for cluster mode'" \
    || record fail "logs show the Redis adapter" "line not found for the running processes (ENABLE_CLUSTER=false? events would stay in one instance)"
fi

# --- readiness on every instance ------------------------------------------------------------
READY=$(mktemp); trap 'rm -f "$RESULTS" "$JLIST" "$INFOS" "$READY"' EXIT
for _ in $(seq 1 $((REQUESTS * 2))); do
  curl -s -m 5 -o /dev/null -H 'Connection: close' -D - "$URL/ready" 2>/dev/null | tr -d '\r' | awk 'NR==1{code=$2} tolower($1)=="x-instance-id:"{id=$2} END{if(id!="")print id, code}' >> "$READY"
  [ "$(cut -d' ' -f1 "$READY" | sort -u | wc -l)" -ge "$EXPECT" ] && break
done
READY_SEEN=$(cut -d' ' -f1 "$READY" | sort -u | wc -l)
NOT_READY=$(awk '$2!=200{print "#"$1": "$2}' "$READY" | sort -u | tr '\n' ' ')
if [ "$READY_SEEN" -ge "$EXPECT" ] && [ -z "$NOT_READY" ]; then
  record ok "/ready on every instance" "200 from $READY_SEEN instances"
else
  record fail "/ready on every instance" "$READY_SEEN/$EXPECT instances answered; not ready: ${NOT_READY:-none}"
fi

# --- database budget -----------------------------------------------------------------------
if [ -f dist/scripts/db-connections.js ] && CONN=$(node dist/scripts/db-connections.js 2>&1); then
  TOTAL=$(echo "$CONN" | js 'd.total')
  BUDGET=$(echo "$SUMMARY" | js 'd.budget===null?"":d.budget')
  BUDGET=${BUDGET:-$(echo "$CONN" | js 'd.budget')}
  DETAIL="$TOTAL connections ($(echo "$CONN" | js 'Object.entries(d.byApplication).map(([k,v])=>k+" "+v).join(", ")')), budget $BUDGET"
  [ "$TOTAL" -le "$BUDGET" ] && record ok "database connections within budget" "$DETAIL" || record fail "database connections within budget" "$DETAIL"
else
  record fail "database connections within budget" "cannot count: ${CONN:-dist/scripts/db-connections.js missing; run npm run build}"
fi

# --- load spread ---------------------------------------------------------------------------
# Requests served per instance, from the cluster-wide /metrics, before and after the load.
served() { curl -s -m 10 "$URL/metrics" | awk -F'[{}]' '/^http_request_duration_seconds_count\{/ && /route="\/api\/status"/ { if (match($2, /instance="[^"]*"/)) { i=substr($2, RSTART+10, RLENGTH-11); n[i]+=$3 } } END { for (i in n) print i, n[i] }' | sort -n; }
BEFORE=$(served)
if command -v ab >/dev/null; then
  TOOL=ab; ab -q -c 10 -n "$LOAD" "$URL/api/status" > /dev/null 2>&1; LOAD_RC=$?
else
  TOOL=autocannon; node_modules/.bin/autocannon -c 10 -a "$LOAD" "$URL/api/status" > /dev/null 2>&1; LOAD_RC=$?
fi
sleep 0.2
AFTER=$(served)
SHARE=$(printf '%s\n---\n%s\n' "$BEFORE" "$AFTER" | awk -v expect="$EXPECT" '
  $0=="---" {after=1; next}
  NF==2 { if (after) a[$1]=$2; else b[$1]=$2 }
  END { total=0; for (i in a) { d[i]=a[i]-b[i]; total+=d[i] }
        hit=0; out=""; for (i in d) { if (d[i]>0) hit++; out=out sprintf("#%s %d (%.0f%%) ", i, d[i], total ? 100*d[i]/total : 0) }
        printf "%d\t%d\t%s\n", hit, total, out }')
HIT=$(echo "$SHARE" | cut -f1); SERVED=$(echo "$SHARE" | cut -f2); SHARES=$(echo "$SHARE" | cut -f3)
if [ "$LOAD_RC" = 0 ] && [ "${HIT:-0}" -ge "$EXPECT" ]; then
  record ok "load spread over every instance" "$TOOL, $SERVED requests: ${SHARES% }"
else
  record fail "load spread over every instance" "$TOOL (exit $LOAD_RC), $SERVED requests reached ${HIT:-0}/$EXPECT instances: ${SHARES:-none}"
fi

# --- report ----------------------------------------------------------------------------------
FAILED=$(grep -c "^fail" "$RESULTS")
if [ "$JSON" = 1 ]; then
  node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => l.split("\t"));
    const checks = rows.map(([status, name, detail]) => ({ name, ok: status === "ok", detail }));
    console.log(JSON.stringify({ ok: checks.every((c) => c.ok), url: process.argv[2], app: process.argv[3], expected: Number(process.argv[4]), checks }, null, 2));' \
    "$RESULTS" "$URL" "$NAME" "$EXPECT"
else
  echo "Cluster check: $URL, PM2 app '$NAME', expecting $EXPECT instances"
  if [ -t 1 ]; then OK=$'\033[32m✓\033[0m' KO=$'\033[31m✗\033[0m'; else OK='✓' KO='✗'; fi
  while IFS=$'\t' read -r status name detail; do
    if [ "$status" = ok ]; then echo "  $OK $name: $detail"; else echo "  $KO $name: $detail"; fi
  done < "$RESULTS"
  [ "$FAILED" = 0 ] && echo "All checks passed." || echo "$FAILED check(s) failed."
fi
[ "$FAILED" = 0 ]
