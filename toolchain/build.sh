#!/usr/bin/env bash
# Build the local control plane's binaries from Go modules into a cache keyed by version:
#   $BIN_DIR/kubernetes-vX.Y.Z/{kube-apiserver,kube-controller-manager,kube-scheduler}
#   $BIN_DIR/etcd-vX.Y.Z/etcd
#   $BIN_DIR/kwok-vX.Y.Z/{kwok,stages/*.yaml}
#   $BIN_DIR/sealed-secrets-vX.Y.Z/{controller,kubeseal,crds/*.yaml,chart/}
#   $BIN_DIR/metallb-vX.Y.Z/{controller,metallb-native.yaml}
# A binary already built for its version is skipped. Versions come from the go.mod files here
# (kubernetes, etcd) and KWOK_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=${CLUSTERBOOT_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterboot/bin}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.1}
SEALED_SECRETS_VERSION=${SEALED_SECRETS_VERSION:-v0.36.6}
METALLB_VERSION=${METALLB_VERSION:-v0.15.2}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

module_version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

build_kubernetes() {
  local v dir minor
  v=$(module_version "$here/kube" k8s.io/kubernetes)
  dir="$BIN_DIR/kubernetes-$v"
  if [[ -x "$dir/kube-apiserver" && -x "$dir/kube-controller-manager" && -x "$dir/kube-scheduler" ]]; then
    echo "kubernetes $v: already built in $dir"; return
  fi
  minor=$(echo "$v" | cut -d. -f2)
  echo "kubernetes $v: building kube-apiserver, kube-controller-manager, kube-scheduler (first time: ~10 min on 2 cores)"
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1"
  ld="$ld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$v"
  mkdir -p "$dir.tmp"
  (cd "$here/kube" && go build -trimpath -ldflags "$ld" -o "$dir.tmp/" ./cmd/...)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_etcd() {
  local v dir
  v=$(module_version "$here/etcd" go.etcd.io/etcd/server/v3)
  dir="$BIN_DIR/etcd-$v"
  if [[ -x "$dir/etcd" ]]; then echo "etcd $v: already built in $dir"; return; fi
  echo "etcd $v: building"
  mkdir -p "$dir.tmp"
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$dir.tmp/etcd" .)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_kwok() {
  local dir="$BIN_DIR/kwok-$KWOK_VERSION" src
  if [[ -x "$dir/kwok" && -f "$dir/stages/pod-ready.yaml" ]]; then
    echo "kwok $KWOK_VERSION: already built in $dir"; return
  fi
  echo "kwok $KWOK_VERSION: go install"
  mkdir -p "$dir.tmp/stages"
  GOBIN="$dir.tmp" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok >= v0.8.0 has no built-in stages: take the upstream ones from the module just built.
  src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  cp "$src/node/fast/node-initialize.yaml" \
     "$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
     "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" \
     "$src/pod/fast/pod-delete.yaml" "$dir.tmp/stages/"
  chmod u+w "$dir.tmp/stages/"*
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_argocd() {
  # Argo CD's controllers and repo-server as one binary, plus the helm and kustomize the
  # repo-server runs, and Argo CD's own manifests (CRDs, install.yaml) from the module built.
  local v dir src
  v=$(module_version "$here/argocd" github.com/argoproj/argo-cd/v3)
  dir="$BIN_DIR/argocd-$v"
  if [[ -x "$dir/argocd" && -x "$dir/helm" && -x "$dir/kustomize" && -f "$dir/manifests/core-install.yaml" ]]; then
    echo "argocd $v: already built in $dir"; return
  fi
  echo "argocd $v: building application-controller, repo-server, applicationset-controller (first time: ~15 min)"
  mkdir -p "$dir.tmp/manifests"
  (cd "$here/argocd" && go build -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${v#v}" -o "$dir.tmp/argocd" .)
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  GOBIN="$dir.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  src="$(go env GOMODCACHE)/github.com/argoproj/argo-cd/v3@$v/manifests"
  cp -r "$src/crds" "$src/install.yaml" "$src/core-install.yaml" "$dir.tmp/manifests/"
  chmod -R u+w "$dir.tmp/manifests"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_sealed_secrets() {
  # The Sealed Secrets controller (run as a local process against the local cluster:
  # components.sealed_secrets.mode: processes) and kubeseal, plus the SealedSecret CRD and the
  # Helm chart (its service account and RBAC) from the module just built.
  local v=$SEALED_SECRETS_VERSION dir src
  dir="$BIN_DIR/sealed-secrets-$v"
  if [[ -x "$dir/controller" && -x "$dir/kubeseal" && -f "$dir/crds/bitnami.com_sealedsecrets.yaml" \
        && -f "$dir/chart/Chart.yaml" ]]; then
    echo "sealed-secrets $v: already built in $dir"; return
  fi
  echo "sealed-secrets $v: go install controller and kubeseal"
  mkdir -p "$dir.tmp/crds"
  GOBIN="$dir.tmp" nice go install -trimpath -ldflags "-s -w -X main.VERSION=${v#v}" \
    "github.com/bitnami-labs/sealed-secrets/cmd/controller@$v" \
    "github.com/bitnami-labs/sealed-secrets/cmd/kubeseal@$v"
  src="$(go env GOMODCACHE)/github.com/bitnami-labs/sealed-secrets@$v/helm/sealed-secrets"
  cp "$src/crds/bitnami.com_sealedsecrets.yaml" "$dir.tmp/crds/"
  cp -r "$src" "$dir.tmp/chart"
  chmod -R u+w "$dir.tmp/crds" "$dir.tmp/chart"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

build_metallb() {
  # MetalLB's controller (run as a local process against the local cluster:
  # components.metallb.mode: processes) and the native manifest from the module just built.
  local v=$METALLB_VERSION dir
  dir="$BIN_DIR/metallb-$v"
  if [[ -x "$dir/controller" && -f "$dir/metallb-native.yaml" ]]; then
    echo "metallb $v: already built in $dir"; return
  fi
  echo "metallb $v: go install controller"
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" nice go install -trimpath -ldflags "-s -w" "go.universe.tf/metallb/controller@$v"
  cp "$(go env GOMODCACHE)/go.universe.tf/metallb@$v/config/manifests/metallb-native.yaml" "$dir.tmp/"
  chmod u+w "$dir.tmp/metallb-native.yaml"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

mkdir -p "$BIN_DIR"
case "${1:-all}" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  argocd) build_argocd ;;
  sealed-secrets) build_sealed_secrets ;;
  metallb) build_metallb ;;
  all) build_kubernetes; build_etcd; build_kwok; build_sealed_secrets; build_metallb ;;
  *) echo "usage: $0 [all|kubernetes|etcd|kwok|argocd|sealed-secrets|metallb]" >&2; exit 2 ;;
esac
echo "binaries in $BIN_DIR"
