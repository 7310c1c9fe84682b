#!/usr/bin/env bash
# The hand-written way the GitOps repositories bootstrap today, once Argo CD is installed:
# apply the root app, wait for it with kubectl, then poll the Applications until every one is
# Synced and Healthy. Used by bench/baseline.py as the baseline; not part of clusterboot.
#   KUBECONFIG=... ROOT_APP=root.yaml EXPECTED_APPS=7 POLL_SECONDS=5 bench/baseline.sh
set -euo pipefail
: "${ROOT_APP:?}" "${EXPECTED_APPS:?}"
poll="${POLL_SECONDS:-5}"
deadline=$(( $(date +%s) + ${DEADLINE_SECONDS:-600} ))
ns="${ARGOCD_NAMESPACE:-argocd}"
name="$(kubectl apply -f "$ROOT_APP" -o name)"
kubectl -n "$ns" wait --for=jsonpath='{.status.sync.status}'=Synced "$name" --timeout=600s
while :; do
  states="$(kubectl -n "$ns" get applications.argoproj.io \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.sync.status} {.status.health.status}{"\n"}{end}')"
  total="$(grep -c . <<<"$states" || true)"
  ready="$(grep -c ' Synced Healthy$' <<<"$states" || true)"
  echo "$(date +%T) $ready of $total Applications Synced and Healthy"
  if [ "$total" -ge "$EXPECTED_APPS" ] && [ "$ready" -eq "$total" ]; then
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "timed out; not ready:" >&2
    grep -v ' Synced Healthy$' <<<"$states" >&2 || true
    exit 1
  fi
  sleep "$poll"
done
