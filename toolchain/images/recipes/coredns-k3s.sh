# CoreDNS for k3s's coredns manifest (rancher/mirrored-coredns-coredns:1.14.1, manifests/coredns.yaml).
# Like upstream's image (Dockerfile: distroless static, USER nonroot): a static /coredns run as
# 65532. Upstream also gives the binary cap_net_bind_service; not here: k3s's containerd allows
# unprivileged ports in pods (enable_unprivileged_ports), and the pod sets allowPrivilegeEscalation
# false, under which file capabilities are not granted anyway.
COREDNS_VERSION=v1.14.1
IMAGE_VERSION="coredns $COREDNS_VERSION"
IMAGE_REFS=(docker.io/rancher/mirrored-coredns-coredns:${COREDNS_VERSION#v})
IMAGE_PUSH=1
IMAGE_CHANGES=('USER 65532:65532' 'WORKDIR /' 'ENTRYPOINT ["/coredns"]')

build_rootfs() {
  local dir=$1
  CGO_ENABLED=0 go_install_into "$dir" "github.com/coredns/coredns@$COREDNS_VERSION" -ldflags "-s -w"
  mkdir -p "$dir/etc" "$dir/tmp"; chmod 1777 "$dir/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > "$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' > "$dir/etc/group"
  echo 'hosts: files dns' > "$dir/etc/nsswitch.conf"
}
