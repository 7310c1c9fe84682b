# quay.io/metallb/controller, the controller Deployment of MetalLB's pinned metallb-native.yaml
# (go.universe.tf/metallb v0.15.2, config/manifests/metallb-native.yaml).
#
# Like upstream's image (controller/Dockerfile: gcr.io/distroless/static:latest, /controller,
# /LICENSE, ENTRYPOINT ["/controller"], no USER): the controller main from the module proxy with
# the Dockerfile's version stamping as the release workflow (publish.yaml) sets it, GIT_COMMIT the
# tag's commit and GIT_BRANCH the tag, on the distroless/static files (../platform/lib.sh). The
# manifest runs it as 65534 (pod runAsUser, runAsNonRoot) with a read-only root filesystem; it
# writes nothing (the webhook certificate is mounted read-only from a secret).
# Differences from upstream's image: stripped (-s -w), -trimpath, this machine's Go release
# (upstream: golang 1.24.3); the CA bundle is Debian bookworm's, not distroless's; no labels.
source "$(dirname "${BASH_SOURCE[0]}")/../platform/lib.sh"
METALLB_VERSION=v0.15.2
# The commit of tag v0.15.2 in github.com/metallb/metallb (the module proxy records no origin).
METALLB_GIT_COMMIT=942c2fe54a75ac6353d3099eeebff33b6b8fe3f0
METALLB_LDFLAGS="-s -w -X go.universe.tf/metallb/internal/version.gitCommit=$METALLB_GIT_COMMIT -X go.universe.tf/metallb/internal/version.gitBranch=$METALLB_VERSION"

IMAGE_VERSION="metallb controller $METALLB_VERSION $METALLB_GIT_COMMIT platformlib-$PLATFORM_LIB_KEY"
IMAGE_REFS=("quay.io/metallb/controller:$METALLB_VERSION")
IMAGE_PUSH=1
IMAGE_CHANGES=("${DISTROLESS_ENV[@]}" 'ENTRYPOINT ["/controller"]')

build_rootfs() {
  local dir=$1 src
  distroless_into "$dir"
  CGO_ENABLED=0 go_install_into "$dir" "go.universe.tf/metallb/controller@$METALLB_VERSION" -ldflags "$METALLB_LDFLAGS"
  go mod download "go.universe.tf/metallb@$METALLB_VERSION" >&2
  src=$(go mod download -json "go.universe.tf/metallb@$METALLB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -f $src/LICENSE ]] || { say "metallb: module source not found ($src)"; return 1; }
  install -m 0644 "$src/LICENSE" "$dir/LICENSE"
}
