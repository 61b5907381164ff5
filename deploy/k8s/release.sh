#!/usr/bin/env bash
# One release to Kubernetes, done the same way every time (docs/deployment.md walks two):
#   deploy/k8s/release.sh registry.example.com/express-pm2-cluster:1.4.2
#   deploy/k8s/release.sh registry.example.com/express-pm2-cluster@sha256:<digest>
# 1. Refuses a mutable image reference (:latest, or none): the Deployment would not roll out,
#    and pods the HPA adds later would pull a newer image whose migration has not run.
# 2. Applies the ConfigMap, then creates this release's migration Job (a new Job every time:
#    generateName) and waits for it. A failed migration stops the release here, with its log;
#    no pod changes.
# 3. Rolls the Deployment to the image and waits for the rollout. Each new pod checks at start
#    that the database has every migration it carries, and refuses to serve otherwise.
# `--render IMAGE` prints the Job and Deployment it would send, without a cluster.
# kubectl's current context and namespace are used; NAMESPACE=... overrides the namespace.
set -euo pipefail
here=$(dirname "$0")

render=false
if [ "${1:-}" = "--render" ]; then render=true; shift; fi
image=${1:-}
if [ -z "$image" ] || [ $# -ne 1 ]; then
  echo "usage: $0 [--render] IMAGE   (an immutable tag or a digest: registry/express-pm2-cluster:1.4.2)" >&2
  exit 2
fi
# Only the part after the last '/' can hold the tag: 'registry:5000/name' has a port, not a tag.
case "${image##*/}" in
  *@sha256:*) ;;
  *:latest) echo "Refusing $image: ':latest' names no one release" >&2; exit 2 ;;
  *:*) ;;
  *) echo "Refusing $image: no tag or digest, which means ':latest'" >&2; exit 2 ;;
esac

# kubectl set image --local rewrites the placeholder image offline; nothing is edited on disk.
job_manifest() { kubectl set image --local -f "$here/migrate-job.yaml" "migrate=$image" -o yaml; }
deployment_manifest() { kubectl set image --local -f "$here/deployment.yaml" "api=$image" -o yaml; }

if $render; then
  job_manifest
  echo '---'
  deployment_manifest
  exit 0
fi

k=(kubectl ${NAMESPACE:+--namespace "$NAMESPACE"})
if ! "${k[@]}" get secret express-pm2-cluster-secrets >/dev/null; then
  echo "The Secret express-pm2-cluster-secrets does not exist; create it first (docs/deployment.md)" >&2
  exit 1
fi
"${k[@]}" apply -f "$here/configmap.yaml"

job=$(job_manifest | "${k[@]}" create -f - -o name)
echo "Migrating with $job ($image)"
# Bounded by the Job's activeDeadlineSeconds, after which it is Failed.
while :; do
  state=" $("${k[@]}" get "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}') "
  case "$state" in
    *" Complete "*) break ;;
    *" Failed "*)
      "${k[@]}" logs "$job" --tail=50 >&2 || true
      echo "Migration failed ($job); nothing was rolled out" >&2
      exit 1
      ;;
  esac
  sleep 2
done
"${k[@]}" logs "$job"

deployment_manifest | "${k[@]}" apply -f -
"${k[@]}" apply -f "$here/service.yaml" -f "$here/pdb.yaml" -f "$here/hpa.yaml"
"${k[@]}" rollout status deployment/express-pm2-cluster --timeout=15m
