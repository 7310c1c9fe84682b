# CoreDNS for kubeadm's coredns Deployment in a kind node (registry.k8s.io/coredns/coredns:v1.14.2,
# kubeadm v1.36's CoreDNSVersion), preloaded into recipes/kind-node.sh and served by the tier's
# registry. Like upstream's image (coredns Dockerfile: distroless/static:nonroot, USER
# nonroot:nonroot, WORKDIR /, ENTRYPOINT ["/coredns"]): a static /coredns run as 65532 (numeric,
# so runAsNonRoot can be checked). Upstream also gives the binary cap_net_bind_service; not here:
# containerd allows unprivileged ports in pods (enable_unprivileged_ports) and kubeadm's pod sets
# allowPrivilegeEscalation: false, under which file capabilities are not granted anyway.
source "$(dirname "${BASH_SOURCE[0]}")/../kind/lib.sh"
COREDNS_VERSION=v1.14.2
IMAGE_VERSION="coredns $COREDNS_VERSION kindlib-$KIND_LIB_KEY"
IMAGE_REFS=("registry.k8s.io/coredns/coredns:$COREDNS_VERSION")
IMAGE_PUSH=1
IMAGE_CHANGES=("${DISTROLESS_ENV[@]}" 'USER 65532:65532' 'WORKDIR /' 'EXPOSE 53/tcp' 'EXPOSE 53/udp' 'ENTRYPOINT ["/coredns"]')

build_rootfs() {
  local dir=$1
  distroless_into "$dir"
  CGO_ENABLED=0 go_install_into "$dir" "github.com/coredns/coredns@$COREDNS_VERSION" -ldflags "-s -w"
}
