# registry.k8s.io/etcd:3.6.8-0, the etcd kubeadm v1.36 runs as a static pod (its constants.go
# SupportedEtcdVersion), preloaded into recipes/kind-node.sh and served by the tier's registry.
# Upstream's image (kubernetes cluster/images/etcd) is distroless/static with etcd, etcdctl,
# etcdutl and a `migrate` helper in /usr/local/bin. Here: etcd and etcdctl built from the wrapper
# module ../etcd-3.6.8 (the project's toolchain/etcd pins another release), on the files of
# distroless/static; no etcdutl and no migrate (kubeadm's pod runs only `etcd`).
source "$(dirname "${BASH_SOURCE[0]}")/../kind/lib.sh"
etcd_mod=$(cd "$(dirname "${BASH_SOURCE[0]}")/../etcd-3.6.8" && pwd)
ETCD_VERSION=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$etcd_mod/go.mod")

IMAGE_VERSION="etcd $ETCD_VERSION $(cat "$etcd_mod/go.sum" "$etcd_mod"/*/main.go | sha256sum | cut -c1-12) kindlib-$KIND_LIB_KEY"
IMAGE_REFS=("registry.k8s.io/etcd:${ETCD_VERSION#v}-0")
IMAGE_PUSH=1
IMAGE_CHANGES=("${DISTROLESS_ENV[@]}" 'WORKDIR /')

build_rootfs() {
  local dir=$1 name
  distroless_into "$dir"
  for name in etcd etcdctl; do
    ( cd "$etcd_mod" && CGO_ENABLED=0 nice go build -trimpath -ldflags "-s -w" \
        -o "$dir/usr/local/bin/$name" "./$name" ) >&2
  done
  mkdir -p "$dir/var/lib/etcd" "$dir/var/etcd"
}
