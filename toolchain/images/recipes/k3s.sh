# The node image k3d runs, docker.io/rancher/k3s. Upstream's image is scratch plus k3s-root (a
# buildroot userland fetched from GitHub) and binaries built from git clones; none of that is
# reachable, so the userland here is Debian's and k3s comes from the module proxy (../k3s/go.mod).
#
# Differences from upstream that callers must know:
#   - no flannel CNI plugin (not on the proxy): run k3s with --flannel-backend=none; a bridge
#     conflist in /etc/cni/net.d then serves pods, so one node only;
#   - no traefik chart (build/static is downloaded by upstream's scripts, not in the module): run
#     with --disable=traefik;
#   - runc is Debian's (1.1.5), behind the caps wrapper (capfix) so pods run on this VM;
#   - /bin/sh is bash (k3d's entrypoint needs a sh that takes `trap ... SIGTERM`);
#   - built with the local Go, and stamped so (pkg/version.UpstreamGolang).
#
# Sourcing this file only sets variables; the k3d CLI takes K3S_IMAGE_TAG as its default image tag
# (-X github.com/k3d-io/k3d/v5/version.K3sVersion=$K3S_IMAGE_TAG).

k3s_mod=$(cd "$(dirname "${BASH_SOURCE[0]}")/../k3s" && pwd)
# A pseudo-version (vX.Y.Z-0.DATE-COMMIT12): the proxy serves no k3s release tag.
K3S_MODULE_VERSION=$(awk '$1 == "github.com/k3s-io/k3s" && $2 ~ /^v/ { print $2; exit }' "$k3s_mod/go.mod")
K3S_COMMIT=${K3S_MODULE_VERSION##*-}
# Upstream's untagged-build version (scripts/version.sh): <kubernetes version>+k3s-<commit:8>.
K3S_VERSION=v1.35.1+k3s-${K3S_COMMIT:0:8}
# Image tags cannot hold '+'; upstream's VERSION_TAG replaces it the same way.
K3S_IMAGE_TAG=${K3S_VERSION//+/-}
export K3S_IMAGE_TAG

IMAGE_VERSION="$K3S_VERSION"
IMAGE_REFS=("docker.io/rancher/k3s:$K3S_IMAGE_TAG")
IMAGE_PUSH=0
IMAGE_CHANGES=(
  'ENTRYPOINT ["/bin/k3s"]'
  'CMD ["agent"]'
  # /opt/cni/bin stays off PATH: with flannel left on, k3s then exits at once ("failed to find
  # host-local: executable file not found") instead of starting pods that fail on the missing
  # flannel plugin.
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'ENV CRI_CONFIG_FILE=/var/lib/rancher/k3s/agent/etc/crictl.yaml'
  # Upstream's volumes (package/Dockerfile), and they are needed: k3d mounts nothing there, and
  # without a volume containerd's overlayfs snapshotter sits on the container's own overlay root,
  # where the kernel refuses overlay mounts ("overlayfs snapshotter cannot be enabled ... invalid
  # argument") and k3s waits forever.
  'VOLUME /var/lib/kubelet'
  'VOLUME /var/lib/rancher/k3s'
  'VOLUME /var/lib/cni'
  'VOLUME /var/log'
)

# Upstream's tags (scripts/build); the shim gets netgo instead of netcgo, as upstream builds it.
K3S_TAGS="ctrd netcgo osusergo providerless urfave_cli_no_docs sqlite_omit_load_extension apparmor seccomp"

# k3s_build : builds k3s and containerd-shim-runc-v2 once per module state and version, and sets
# K3S_BIN to the directory holding them. Sets a variable rather than printing the path because a
# failure inside $(...) would not stop the build.
k3s_build() {
  local key out tmp src ctrd_version ctrd_path crictl_version ld go_version
  go_version=$(go env GOVERSION)
  key=$( { cat "$k3s_mod/go.mod" "$k3s_mod/go.sum"; echo "$K3S_VERSION $K3S_TAGS $go_version"
           declare -f k3s_build; } | sha256sum | cut -c1-12)
  out="$GO_OUT/k3s-$K3S_IMAGE_TAG-$key"
  K3S_BIN=$out
  [[ -x $out/k3s && -x $out/containerd-shim-runc-v2 ]] && return

  say "k3s $K3S_VERSION: building k3s and containerd-shim-runc-v2 (first time: 6 min on 2 idle cores, 30+ under load)"
  # The same scratch path every time, so that a rebuild finds the copied module's packages in
  # GOCACHE.
  tmp="$GO_OUT/k3s-build-$K3S_MODULE_VERSION"; rm -rf "$tmp"; mkdir -p "$tmp/mod" "$tmp/bin"
  ( cd "$k3s_mod" && go mod download github.com/k3s-io/k3s )
  src=$(cd "$k3s_mod" && go list -m -f '{{.Dir}}' github.com/k3s-io/k3s)
  ctrd_version=$(cd "$k3s_mod" && go list -m -f '{{.Replace.Version}}' github.com/containerd/containerd/v2)
  ctrd_path=$(cd "$k3s_mod" && go list -m -f '{{.Replace.Path}}' github.com/containerd/containerd/v2)
  crictl_version=$(cd "$k3s_mod" && go list -m -f '{{.Replace.Version}}' sigs.k8s.io/cri-tools)
  [[ -d $src && -n $ctrd_version && -n $crictl_version ]] || { say "k3s: cannot resolve the module in $k3s_mod"; return 1; }

  # The module holds only .empty in pkg/deploy/embed: upstream copies manifests/ in before the
  # build, or k3s deploys no coredns, rolebindings or ccm. A copy of the module with them in it
  # replaces the proxy's for this build only.
  cp -a "$src" "$tmp/k3s-src"; chmod -R u+w "$tmp/k3s-src"
  cp -a "$tmp/k3s-src/manifests/." "$tmp/k3s-src/pkg/deploy/embed/"
  cp "$k3s_mod/go.mod" "$k3s_mod/go.sum" "$tmp/mod/"
  ( cd "$tmp/mod" && go mod edit -replace "github.com/k3s-io/k3s=$tmp/k3s-src" )

  # Upstream's version flags (scripts/build). UpstreamGolang is the Go release Kubernetes names
  # for its version; `k3s server` and `k3s agent` stop at once when it is empty or differs from
  # the Go that built the binary (pkg/cli/cmds/golang.go). This binary is built with the local Go,
  # not Kubernetes's, so it names that one.
  ld="-s -w"
  ld+=" -X github.com/k3s-io/k3s/pkg/version.Version=$K3S_VERSION"
  ld+=" -X github.com/k3s-io/k3s/pkg/version.GitCommit=${K3S_COMMIT:0:8}"
  ld+=" -X github.com/k3s-io/k3s/pkg/version.UpstreamGolang=$go_version"
  local p
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $p.gitVersion=$K3S_VERSION -X $p.gitCommit=$K3S_COMMIT -X $p.gitTreeState=clean"
  done
  ld+=" -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version"
  ld+=" -X github.com/containerd/containerd/v2/version.Version=$ctrd_version"
  ld+=" -X github.com/containerd/containerd/v2/version.Package=$ctrd_path"

  ( cd "$tmp/mod"
    CGO_ENABLED=1 CGO_CFLAGS="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1" \
      nice go build -trimpath -tags "$K3S_TAGS" -ldflags "$ld" -o "$tmp/bin/k3s" \
      github.com/k3s-io/k3s/cmd/server >&2
    CGO_ENABLED=1 nice go build -trimpath -tags "${K3S_TAGS/netcgo/netgo}" -ldflags "$ld" \
      -o "$tmp/bin/containerd-shim-runc-v2" \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 >&2 )
  rm -rf "$out"; mv "$tmp/bin" "$out"; rm -rf "$tmp"
}

# Only the plugins the bridge conflist and containerd use; Debian ships 20-odd more.
K3S_CNI_PLUGINS=(bridge host-local loopback portmap)

build_rootfs() {
  local dir=$1 f
  k3s_build
  # mount: k3d's entrypoint runs `mount --make-rshared /`; iptables-save/-restore, sed, grep and cp:
  # k3d's DNS fix; iptables, ipset, conntrack: kube-proxy and the bridge plugin's masquerade.
  debian_rootfs "$dir.debian.tar" iptables ipset conntrack iproute2 mount runc containernetworking-plugins
  tar -C "$dir" --numeric-owner -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"

  # k3d's entrypoint (k3d-entrypoint.sh, /bin/sh) runs `trap cleanup SIGTERM SIGINT ...` after the
  # node is up; dash rejects the SIG prefix ("trap: SIGTERM: bad trap") and exits, and the node
  # container stops with it. Upstream's sh is busybox ash, which accepts it; bash does too.
  ln -sf bash "$dir/usr/bin/sh"

  install -m 0755 "$K3S_BIN/k3s" "$dir/usr/bin/k3s"
  install -m 0755 "$K3S_BIN/containerd-shim-runc-v2" "$dir/usr/bin/containerd-shim-runc-v2"
  # k3s is multi-call (reexec by argv[0]), as upstream's bin/ has it.
  for f in kubectl crictl ctr containerd; do ln -sf k3s "$dir/usr/bin/$f"; done

  # The shim runs `runc` from PATH, and /usr/bin/runc is Debian's link to /usr/sbin/runc: with the
  # wrapper at /usr/sbin/runc and the real one beside it as runc.real (where the wrapper looks
  # first), every runc the node starts goes through the wrapper.
  mv "$dir/usr/sbin/runc" "$dir/usr/sbin/runc.real"
  capfix_into "$dir/usr/sbin"
  mv "$dir/usr/sbin/runc-capfix" "$dir/usr/sbin/runc"

  # containerd's CRI defaults (k3s sets no CNI dirs without flannel): /opt/cni/bin, /etc/cni/net.d.
  mkdir -p "$dir/opt/cni/bin" "$dir/etc/cni/net.d"
  for f in "${K3S_CNI_PLUGINS[@]}"; do mv "$dir/usr/lib/cni/$f" "$dir/opt/cni/bin/$f"; done
  rm -rf "$dir/usr/lib/cni"
  # One node: pods on a bridge with addresses from k3s's default cluster CIDR (10.42.0.0/16, the
  # range kube-proxy treats as pods'). A cluster made with another --cluster-cidr needs its own file.
  cat > "$dir/etc/cni/net.d/10-bridge.conflist" <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "k3s-bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "10.42.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

  # Upstream's image has these (package/Dockerfile).
  mkdir -p "$dir/usr/lib/modules" "$dir/usr/lib/firmware" "$dir/var/lib/rancher/k3s" "$dir/var/lib/kubelet" \
    "$dir/var/lib/cni" "$dir/var/log"
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
    "$dir"/var/log/* "$dir"/var/cache/debconf/*-old
}
