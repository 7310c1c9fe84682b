# kind's node image, docker.io/kindest/node:v1.36.1, assembled as kind v0.33.0 builds it
# (images/base/Dockerfile for the base, pkg/build/nodeimage for the node) from Debian packages and
# Go modules, because `kind build node-image` pulls its base image and fetches images from
# registries. The kind module in GOMODCACHE supplies images/base/files.
#
# Deviations from upstream (each needed on this machine or offline):
#   - Debian bookworm instead of trixie-slim: systemd 252 still runs on cgroup v1 (trixie's 257
#     is on the way out), and this VM has cgroup v1. Docs, man pages and locales are dropped as the
#     slim image's dpkg excludes do.
#   - Built from the module proxy instead of git clones, at upstream's versions: containerd
#     v2.3.4 (ctr, containerd-shim-runc-v2; CGO off, as the shim upstream), runc v1.4.3 (CGO,
#     seccomp), crictl v1.36.0, CNI plugins v1.9.1, containerd-fuse-overlayfs-grpc v2.1.7.
#     go-licenses' /LICENSES are not collected.
#   - /usr/local/sbin/runc is the caps wrapper (../capfix) and upstream's runc is beside it as
#     runc.real: every runc containerd's shims run (runtime "runc" and "test-handler" find it
#     first in PATH) goes through it. Without it every pod sandbox fails here: kubelet asks for a
#     negative oomScoreAdj and nothing on this VM holds CAP_SYS_RESOURCE.
#   - The bridge CNI plugin as well, and /etc/cni/net.d/10-bridge.conflist: kind's default CNI
#     is kindnetd, whose image cannot be built here (sigs.k8s.io/kindnet is not on the proxy). The
#     conflist (bridge + host-local over kind's default podSubnet 10.244.0.0/16 + portmap) networks
#     pods on one node; more nodes would need routes between them. A kindnetd that starts later
#     writes 10-kindnet.conflist, which sorts first and wins.
#   - /kind/manifests/default-cni.yaml, which `kind create cluster` applies unless
#     networking.disableDefaultCNI, is a ConfigMap saying so instead of kindnetd's DaemonSet.
#   - No /kind/manifests/default-storage.yaml: its local-path-provisioner images cannot be built
#     here; without the file kind installs a host-path StorageClass that needs no image.
#   - Preloaded images (containerd namespace k8s.io, pinned, not unpacked, as upstream's
#     `ctr images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack
#     --digests`; layers gzipped): kube-apiserver, kube-controller-manager, kube-scheduler,
#     kube-proxy, etcd, coredns and pause from this factory's recipes, imported at build time by
#     this image's own containerd run on the build host against the rootfs's /var/lib/containerd
#     (unix socket in a temporary directory, CRI/NRI plugins off). Upstream's image also holds
#     kindnetd and local-path-provisioner; not here (see above).
#   - kubelet, kubeadm and kubectl are built from toolchain/kube (node/*) with CGO off (upstream's
#     kubelet links libc); same version stamping as toolchain/build.sh.
#   - No STOPSIGNAL: see IMAGE_CHANGES below.
#   - Nothing else: kind's files, modes, systemd enable/mask steps, cri-base.json, ENTRYPOINT and
#     ENV container=docker are upstream's, and none of kind's files needed a change for cgroup v1.
#     The kubelet's failCgroupV1: false comes from clusterboot's kubeadm config patch
#     (stages/docker_nodes.py), not from this image.
source "$(dirname "${BASH_SOURCE[0]}")/../kind/lib.sh"

KIND_VERSION=v0.33.0
CONTAINERD_VERSION=v2.3.4
RUNC_VERSION=v1.4.3
CRICTL_VERSION=v1.36.0
CNI_PLUGINS_VERSION=v1.9.1
FUSE_OVERLAYFS_VERSION=v2.1.7
# kind's images/base/Dockerfile package list (clean-install), plus nothing.
KIND_NODE_PACKAGES=(
  systemd
  conntrack iptables nftables iproute2 ethtool util-linux mount kmod
  libseccomp2 pigz fuse-overlayfs
  nfs-common open-iscsi
  e2fsprogs
  bash ca-certificates curl jq procps
)
# The images the node's containerd holds when it boots (`kubeadm config images list` of
# $KUBE_VERSION less its pause, plus containerd's sandbox_image): recipe names.
KIND_NODE_PRELOAD=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd coredns-kind pause)

kind_node_preload_keys() {  # the cache paths of the preloaded images, so a change rebuilds this one
  local name
  for name in "${KIND_NODE_PRELOAD[@]}"; do
    basename "$(bash "$images_here/build.sh" --path "$name" 2>/dev/null || echo "$name-missing")"
  done | tr '\n' ' '
}

IMAGE_VERSION="$KUBE_VERSION kind $KIND_VERSION containerd $CONTAINERD_VERSION runc $RUNC_VERSION crictl $CRICTL_VERSION cni $CNI_PLUGINS_VERSION debian $DEBIAN_SUITE kindlib-$KIND_LIB_KEY preload: $(kind_node_preload_keys)"
IMAGE_REFS=("docker.io/kindest/node:$KUBE_VERSION")
IMAGE_PUSH=0
# Upstream also has STOPSIGNAL SIGRTMIN+3 (systemd's halt signal; SIGTERM makes it re-execute).
# `docker import` of Docker 20.10 refuses it ("stopsignal is not a valid change command"), so it is
# left out: `docker stop` of a node then ends in SIGKILL after the timeout. kind deletes nodes with
# `docker rm -f`, which is SIGKILL anyway. An engine that loads images with `docker load` of
# kind/lib.sh's image_archive (with KIND_NODE_STOPSIGNAL added) could carry it.
KIND_NODE_STOPSIGNAL='STOPSIGNAL SIGRTMIN+3'
IMAGE_CHANGES=(
  'ENV container=docker'
  'ENTRYPOINT ["/usr/local/bin/entrypoint","/sbin/init"]'
)

# in_root DIR CMD... : runs CMD chrooted in DIR with a /proc of its own (a private mount and pid
# namespace, so nothing is mounted on the host).
in_root() {
  local dir=$1; shift
  unshare --mount --pid --fork --mount-proc="$dir/proc" chroot "$dir" "$@"
}

# kind_node_runc DIR : runc $RUNC_VERSION as upstream's Makefile builds it (CGO, -buildmode=pie,
# tags seccomp urfave_cli_no_docs) into DIR/runc. libseccomp's headers come from a Debian tree with
# libseccomp-dev (not installed on the host); the binary links libseccomp.so.2 of the node image.
kind_node_runc() {
  local dir=$1 sysroot lib=usr/lib/x86_64-linux-gnu
  sysroot=$(mktemp -d "${TMPDIR:-/tmp}/seccomp-sysroot.XXXXXX")
  debian_rootfs "$sysroot/debian.tar" libseccomp-dev
  tar -C "$sysroot" -xf "$sysroot/debian.tar" --wildcards ./usr/include/seccomp*.h \
    "./$lib/libseccomp.*" "./$lib/pkgconfig/libseccomp.pc"
  rm -f "$sysroot/debian.tar"
  CGO_ENABLED=1 PKG_CONFIG_LIBDIR="$sysroot/$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$sysroot" \
    go_install_into "$dir" "github.com/opencontainers/runc@$RUNC_VERSION" \
      -buildmode=pie -tags "seccomp urfave_cli_no_docs" -ldflags "-X main.gitCommit=$RUNC_VERSION"
  rm -rf "$sysroot"
}

# kind_node_preload DIR : imports the KIND_NODE_PRELOAD images into DIR/var/lib/containerd with the
# image's own containerd and ctr, as `kind build node-image` does in its build container.
kind_node_preload() {
  local dir=$1 tmp pid name i
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kind-node-preload.XXXXXX")
  # gzip layers, as a registry serves them: the node image then holds about half the bytes.
  for name in "${KIND_NODE_PRELOAD[@]}"; do image_archive "$name" "$tmp/$name.tar" gzip; done
  # Only what an import needs: no CRI (it would open a streaming port), no NRI socket, no /opt.
  cat > "$tmp/config.toml" <<EOF
version = 3
root = "$dir/var/lib/containerd"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$tmp/containerd.sock"
[ttrpc]
  address = "$tmp/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
  "$dir/usr/local/bin/containerd" --config "$tmp/config.toml" --log-level warn > "$tmp/containerd.log" 2>&1 &
  pid=$!
  for i in $(seq 50); do
    [[ -S $tmp/containerd.sock ]] && "$dir/usr/local/bin/ctr" --address "$tmp/containerd.sock" version >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  local ctr=("$dir/usr/local/bin/ctr" --address "$tmp/containerd.sock" --namespace=k8s.io) rc=0
  for name in "${KIND_NODE_PRELOAD[@]}"; do
    "${ctr[@]}" images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests \
      "$tmp/$name.tar" >&2 || { rc=1; break; }
  done
  ((rc)) || "${ctr[@]}" images ls -q >&2 || rc=1
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  if ((rc)); then say "preload failed; containerd said:"; cat "$tmp/containerd.log" >&2; fi
  rm -rf "$tmp"
  return $rc
}

build_rootfs() {
  local dir=$1 kind_src files name bin
  kind_src=$(cd / && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)
  files=$kind_src/images/base/files
  [[ -f $files/usr/local/bin/entrypoint ]] || { say "kind-node: no images/base/files in '$kind_src'"; return 1; }

  # --- base: Debian with kind's packages (upstream: FROM debian:trixie-slim + clean-install)
  debian_rootfs "$dir.debian.tar" "${KIND_NODE_PACKAGES[@]}"
  tar --xattrs --xattrs-include='*' -C "$dir" -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"
  rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
    "$dir"/var/cache/debconf/*-old "$dir"/var/log/apt/* "$dir"/var/log/dpkg.log "$dir"/var/log/alternatives.log
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  # The build host's, if mmdebstrap left them; docker mounts the container's own.
  rm -f "$dir/etc/resolv.conf" "$dir/etc/hostname"

  # --- kind's static files with the Dockerfile's modes (COPY --chmod)
  install -d -m 0755 "$dir/kind" "$dir/kind/bin" "$dir/LICENSES"
  install -m 0755 "$files"/usr/local/bin/* "$dir/usr/local/bin/"
  install -m 0644 "$files"/kind/README.txt "$dir/kind/"
  install -m 0755 "$files"/kind/bin/* "$dir/kind/bin/"
  install -m 0644 "$files"/LICENSES/* "$dir/LICENSES/"
  install -m 0644 "$files"/etc/crictl.yaml "$dir/etc/"
  install -D -m 0644 "$files"/etc/containerd/config.toml "$dir/etc/containerd/config.toml"
  install -m 0644 "$files"/etc/default/kubelet "$dir/etc/default/"
  install -m 0644 "$files"/etc/sysctl.d/* "$dir/etc/sysctl.d/"
  install -m 0644 "$files"/etc/systemd/system/*.service "$files"/etc/systemd/system/*.slice "$dir/etc/systemd/system/"
  install -d -m 0755 "$dir/etc/systemd/system/kubelet.service.d"
  install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$dir/etc/systemd/system/kubelet.service.d/"

  # --- the Dockerfile's clean-up and systemd steps
  find "$dir/lib/systemd/system/sysinit.target.wants/" -name "systemd-tmpfiles-setup.service" -delete
  rm -f "$dir"/lib/systemd/system/multi-user.target.wants/* "$dir"/etc/systemd/system/*.wants/* \
    "$dir"/lib/systemd/system/local-fs.target.wants/* "$dir"/lib/systemd/system/sockets.target.wants/*udev* \
    "$dir"/lib/systemd/system/sockets.target.wants/*initctl* "$dir"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> "$dir/etc/systemd/journald.conf"
  ln -sfn /usr/lib/systemd/systemd "$dir/sbin/init"
  chroot "$dir" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >&2
  chroot "$dir" systemctl mask systemd-binfmt.service >&2
  mkdir -p "$dir/etc/kubernetes/manifests"

  # --- containerd, runc (behind the caps wrapper), crictl, CNI plugins, fuse-overlayfs snapshotter
  local ctrd=github.com/containerd/containerd/v2
  local ctrd_ld="-s -w -X $ctrd/version.Version=$CONTAINERD_VERSION -X $ctrd/version.Package=$ctrd"
  local tags="no_aufs no_zfs no_btrfs no_devmapper urfave_cli_no_docs"
  go_install_into "$dir/usr/local/bin" "$ctrd/cmd/containerd@$CONTAINERD_VERSION" -tags "$tags" -ldflags "$ctrd_ld"
  go_install_into "$dir/usr/local/bin" "$ctrd/cmd/ctr@$CONTAINERD_VERSION" -tags "$tags" -ldflags "$ctrd_ld"
  go_install_into "$dir/usr/local/bin" "$ctrd/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    -tags "$tags no_grpc" -ldflags "$ctrd_ld"
  in_root "$dir" /bin/sh -c "ctr oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}' \
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json && containerd --version" >&2
  [[ -s $dir/etc/containerd/cri-base.json ]] || { say "kind-node: no cri-base.json"; return 1; }

  kind_node_runc "$dir/usr/local/sbin"
  mv "$dir/usr/local/sbin/runc" "$dir/usr/local/sbin/runc.real"
  capfix_into "$dir/usr/local/sbin"
  mv "$dir/usr/local/sbin/runc-capfix" "$dir/usr/local/sbin/runc"
  in_root "$dir" runc --version >&2

  go_install_into "$dir/usr/local/bin" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRICTL_VERSION#v}"
  mkdir -p "$dir/opt/cni/bin"
  for name in ipam/host-local main/loopback main/ptp meta/portmap main/bridge; do
    go_install_into "$dir/opt/cni/bin" "github.com/containernetworking/plugins/plugins/$name@$CNI_PLUGINS_VERSION" \
      -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION"
  done
  go_install_into "$dir/usr/local/bin" \
    "github.com/containerd/fuse-overlayfs-snapshotter/v2/cmd/containerd-fuse-overlayfs-grpc@$FUSE_OVERLAYFS_VERSION" \
    -ldflags "-s -w"

  # --- one-node pod network in place of kindnetd (see the header)
  install -d -m 0755 "$dir/etc/cni/net.d"
  cat > "$dir/etc/cni/net.d/10-bridge.conflist" <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

  # --- the node image proper (pkg/build/nodeimage buildcontext.go)
  kube_node_build kubelet kubeadm kubectl
  for bin in kubeadm kubelet kubectl; do
    install -m 0755 -o root -g root "$KUBE_NODE_BIN/$bin" "$dir/usr/bin/$bin"
  done
  printf '%s' "$KUBE_VERSION" > "$dir/kind/version"
  install -d -m 0755 "$dir/kind/manifests"
  cat > "$dir/kind/manifests/default-cni.yaml" <<'EOF'
# clusterboot's kindest/node has no kindnetd (its image cannot be built offline): pods are networked
# by /etc/cni/net.d/10-bridge.conflist in the node image, on one node. `kind create cluster`
# applies this file when networking.disableDefaultCNI is false; it only records that.
# would you kindly template this file
apiVersion: v1
kind: ConfigMap
metadata:
  name: clusterboot-node-cni
  namespace: kube-system
data:
  plugin: "bridge, /etc/cni/net.d/10-bridge.conflist in the node image, subnet 10.244.0.0/16"
  podSubnet: "{{ .PodSubnet }}"
EOF

  # Check the preload list against kubeadm's own (less pause: kind preloads containerd's
  # sandbox_image, pause:3.10, instead).
  local want have
  want=$(in_root "$dir" kubeadm config images list --kubernetes-version "$KUBE_VERSION" | grep -v /pause: | sort)
  [[ -n $want ]] || { say "kind-node: kubeadm config images list gave nothing"; return 1; }
  have=$(for name in "${KIND_NODE_PRELOAD[@]}"; do (source "$images_here/recipes/$name.sh"; printf '%s\n' "${IMAGE_REFS[@]}"); done | sort)
  if [[ -n $(comm -23 <(echo "$want") <(echo "$have")) ]]; then
    say "kind-node: kubeadm needs images no recipe provides: $(comm -23 <(echo "$want") <(echo "$have") | tr '\n' ' ')"
    return 1
  fi
  grep -q 'sandbox_image = "registry.k8s.io/pause:3.10"' "$dir/etc/containerd/config.toml" \
    || { say "kind-node: containerd's sandbox_image is not pause:3.10"; return 1; }
  kind_node_preload "$dir"
}
