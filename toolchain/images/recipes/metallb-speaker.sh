# quay.io/metallb/speaker, the speaker DaemonSet of MetalLB's pinned metallb-native.yaml
# (go.universe.tf/metallb v0.15.2, config/manifests/metallb-native.yaml).
#
# Like upstream's image (speaker/Dockerfile: gcr.io/distroless/static:latest, ENTRYPOINT
# ["/speaker"], no USER): /speaker, and the FRR-mode helpers the Dockerfile adds beside it
# (/cp-tool, /frr-metrics, /frr-reloader.sh, which metallb-frr.yaml's init containers copy into
# the FRR sidecars), /LICENSE, on the distroless/static files (../platform/lib.sh), with the
# Dockerfile's version stamping as the release workflow sets it. In the native manifest the
# speaker runs as root with hostNetwork and NET_RAW and a read-only root filesystem; in L2 mode it
# executes nothing (the module's only exec is frr-metrics' /usr/bin/vtysh, FRR mode only).
# Differences from upstream's image: stripped (-s -w), -trimpath, this machine's Go release
# (upstream: golang 1.24.3); the CA bundle is Debian bookworm's, not distroless's; no labels.
# frr-reloader.sh needs a shell and FRR's tools, which only the FRR image (quay.io/frrouting/frr)
# has, as upstream.
source "$(dirname "${BASH_SOURCE[0]}")/metallb-controller.sh"

# The controller's recipe holds the version and flags: a change there rebuilds this image too.
IMAGE_VERSION="metallb speaker $METALLB_VERSION $METALLB_GIT_COMMIT platformlib-$PLATFORM_LIB_KEY controller-recipe-$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/metallb-controller.sh" | cut -c1-12)"
IMAGE_REFS=("quay.io/metallb/speaker:$METALLB_VERSION")
IMAGE_PUSH=1
IMAGE_CHANGES=("${DISTROLESS_ENV[@]}" 'ENTRYPOINT ["/speaker"]')

build_rootfs() {
  local dir=$1 src m=go.universe.tf/metallb
  distroless_into "$dir"
  CGO_ENABLED=0 go_install_into "$dir" "$m/speaker@$METALLB_VERSION" -ldflags "$METALLB_LDFLAGS"
  CGO_ENABLED=0 go_install_into "$dir" "$m/frr-tools/cp-tool@$METALLB_VERSION" -ldflags "$METALLB_LDFLAGS"
  # upstream: go build -o /build/frr-metrics frr-tools/metrics/exporter.go
  CGO_ENABLED=0 go_install_into "$dir" "$m/frr-tools/metrics@$METALLB_VERSION" -ldflags "$METALLB_LDFLAGS"
  mv "$dir/metrics" "$dir/frr-metrics"
  go mod download "$m@$METALLB_VERSION" >&2
  src=$(go mod download -json "$m@$METALLB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -f $src/frr-tools/reloader/frr-reloader.sh ]] || { say "metallb: module source not found ($src)"; return 1; }
  install -m 0755 "$src/frr-tools/reloader/frr-reloader.sh" "$dir/frr-reloader.sh"
  install -m 0644 "$src/LICENSE" "$dir/LICENSE"
}
