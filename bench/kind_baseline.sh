#!/usr/bin/env bash
# The hand-written way to bootstrap the sample repository on kind, as the GitOps repositories'
# READMEs do it: kind create cluster, kubectl apply of each component's manifest (helm for
# Sealed Secrets' chart), kubectl rollout status, a git server for the repository, kubeseal for
# its secret, kubectl apply of the root Application, then a polling loop over the Applications.
# bench/kind_baseline.py runs it; every input comes from the environment:
#   NAME KIND_CONFIG NODE_IMAGE KUBECONFIG   the cluster
#   METALLB_YAML POOL                        MetalLB's manifest, the address range for its pool
#   CHART                                    Sealed Secrets' packaged chart (.tgz)
#   ARGOCD_YAML GIT_SERVER_YAML              Argo CD's install.yaml, the git server's objects
#   SAMPLE REPO_URL                          the sample repository, the URL Argo CD reads it at
#   ROOT_APP                                 the root Application
#   EXPECTED_APPS POLL                       Applications to wait for, seconds between polls
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

kind create cluster --name "$NAME" --image "$NODE_IMAGE" --config "$KIND_CONFIG" \
  --kubeconfig "$KUBECONFIG" --wait 300s

# MetalLB, then its pool once its webhook answers
kubectl apply -f "$METALLB_YAML"
kubectl -n metallb-system rollout status deploy/controller --timeout=600s
kubectl -n metallb-system rollout status ds/speaker --timeout=600s
cat > "$work/pool.yaml" <<EOF
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default, namespace: metallb-system}
spec: {addresses: ["$POOL"]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: default, namespace: metallb-system}
EOF
until kubectl apply -f "$work/pool.yaml"; do sleep 2; done

# Sealed Secrets, as its README installs it
helm install sealed-secrets "$CHART" --namespace kube-system \
  --set fullnameOverride=sealed-secrets-controller --set image.tag=0.36.6
kubectl -n kube-system rollout status deploy/sealed-secrets-controller --timeout=600s

# Argo CD (dex is left out of the wait: its image is not in this registry)
kubectl create namespace argocd
kubectl apply -n argocd --server-side --force-conflicts -f "$ARGOCD_YAML"
for workload in deploy/argocd-server deploy/argocd-repo-server deploy/argocd-redis \
    deploy/argocd-applicationset-controller sts/argocd-application-controller; do
  kubectl -n argocd rollout status "$workload" --timeout=600s
done

# The repository: served in the cluster, its Secret sealed with the new cluster's key
kubectl apply -f "$GIT_SERVER_YAML"
kubectl -n argocd rollout status deploy/clusterboot-sandbox-git --timeout=600s
cp -r "$SAMPLE" "$work/repo"
cd "$work/repo"
find . -name '*.yaml' -exec sed -i "s|REPO_URL|$REPO_URL|g" {} +
secret=apps/postgres/credentials.yaml
kubeseal --controller-namespace kube-system --controller-name sealed-secrets-controller \
  --format yaml < "$secret" > "$work/sealed.yaml"
mv "$work/sealed.yaml" "$secret"
git init -q -b main . && git add -A
git -c user.name=bench -c user.email=bench@localhost commit -q -m sample
pod=$(kubectl -n argocd get pod -l app.kubernetes.io/name=clusterboot-sandbox-git \
  -o jsonpath='{.items[0].metadata.name}')
git -c protocol.ext.allow=always push -q \
  "ext::kubectl -n argocd exec -i $pod -- git receive-pack /srv/git/gitops-sandbox.git" \
  HEAD:refs/heads/main
cd - >/dev/null

# The root app, then poll until every Application is Synced and Healthy
kubectl apply -f "$ROOT_APP"
while true; do
  states=$(kubectl -n argocd get applications \
    -o jsonpath='{range .items[*]}{.status.sync.status}/{.status.health.status}{"\n"}{end}')
  good=$(grep -c '^Synced/Healthy$' <<<"$states" || true)
  echo "$(date +%T) $good/$EXPECTED_APPS Synced and Healthy"
  [[ $good -ge $EXPECTED_APPS ]] && break
  sleep "$POLL"
done
