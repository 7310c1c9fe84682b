# registry.k8s.io/kube-proxy, the DaemonSet kubeadm starts in a kind cluster (preloaded into
# recipes/kind-node.sh, and served by the tier's registry). Upstream's image is kube-proxy at
# /usr/local/bin on distroless-iptables (iptables legacy and nft, ipset, conntrack, and
# iptables-wrapper choosing the mode the node uses). Here: a Debian rootfs with iptables, ipset,
# conntrack and nftables (for kube-proxy's nftables mode), kind/iptables-wrapper in place of the
# iptables commands, and kube-proxy built from toolchain/kube/node/kube-proxy with build.sh's
# version stamping. No ENTRYPOINT, as upstream: kubeadm's DaemonSet names the command.
source "$(dirname "${BASH_SOURCE[0]}")/../kind/lib.sh"

IMAGE_VERSION="$KUBE_VERSION debian $DEBIAN_SUITE kindlib-$KIND_LIB_KEY wrapper-$(sha256sum "$kind_lib/iptables-wrapper" | cut -c1-12)"
IMAGE_REFS=("registry.k8s.io/kube-proxy:$KUBE_VERSION")
IMAGE_PUSH=1
IMAGE_CHANGES=('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')

build_rootfs() {
  local dir=$1 cmd
  kube_node_build kube-proxy
  debian_rootfs "$dir.debian.tar" iptables ipset conntrack nftables
  tar --xattrs --xattrs-include='*' -C "$dir" -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"
  # No apt in a running kube-proxy; keep the image small as distroless-iptables is.
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/* "$dir"/var/cache/debconf/*-old
  install -m 0755 "$kind_lib/iptables-wrapper" "$dir/usr/sbin/iptables-wrapper"
  for cmd in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sfn iptables-wrapper "$dir/usr/sbin/$cmd"
  done
  install -D -m 0755 "$KUBE_NODE_BIN/kube-proxy" "$dir/usr/local/bin/kube-proxy"
}
