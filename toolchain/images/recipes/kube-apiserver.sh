# registry.k8s.io/kube-apiserver, run by kubeadm as a static pod in a kind node: preloaded into
# recipes/kind-node.sh and served by the tier's registry. Upstream's image is the binary at
# /usr/local/bin/kube-apiserver on registry.k8s.io/build-image/go-runner (distroless/static plus
# /go-runner as ENTRYPOINT). Here: the binary toolchain/build.sh builds, on the files of
# distroless/static (lib.sh distroless_into), with no /go-runner and no ENTRYPOINT: kubeadm's
# static pod names the command, and /go-runner is only a log-redirecting wrapper around it.
source "$(dirname "${BASH_SOURCE[0]}")/../kind/lib.sh"

IMAGE_VERSION="$KUBE_VERSION kindlib-$KIND_LIB_KEY"
IMAGE_REFS=("registry.k8s.io/kube-apiserver:$KUBE_VERSION")
IMAGE_PUSH=1
IMAGE_CHANGES=("${DISTROLESS_ENV[@]}")

build_rootfs() {
  local dir=$1 bin
  bin=$(kube_control_plane_bin kube-apiserver)
  [[ -x $bin ]] || { say "kube-apiserver: not built ($bin)"; return 1; }
  distroless_into "$dir"
  install -m 0755 "$bin" "$dir/usr/local/bin/kube-apiserver"
}
