# docker.io/bitnami/sealed-secrets-controller, the controller of the Sealed Secrets chart the
# product renders (chart 2.18.4 from github.com/bitnami-labs/sealed-secrets v0.36.6,
# helm/sealed-secrets; bootstrap/artifacts/pins.py sets image.tag 0.36.6 over the chart's 0.36.1,
# and the template writes image: <registry>/<repository>:<tag> = docker.io/bitnami/...).
#
# Like upstream's image (docker/controller.Dockerfile: gcr.io/distroless/static, USER 1001,
# /usr/local/bin/controller, EXPOSE 8080 8081, ENTRYPOINT ["controller"]): cmd/controller from the
# module proxy with goreleaser's flags (CGO off, -X main.VERSION=0.36.6), on the distroless/static
# files (../platform/lib.sh). The chart runs `command: [controller]` (found on the image's PATH)
# as runAsUser 1001, runAsNonRoot, readOnlyRootFilesystem, capabilities dropped, with an emptyDir
# on /tmp.
# Differences from upstream's image: stripped (-s -w), -trimpath, this machine's Go release;
# /etc/passwd has a `sealed-secrets` entry for 1001 (upstream's has none); the CA bundle is Debian
# bookworm's, not distroless's; no labels.
source "$(dirname "${BASH_SOURCE[0]}")/../platform/lib.sh"
SEALED_SECRETS_VERSION=v0.36.6

IMAGE_VERSION="sealed-secrets controller $SEALED_SECRETS_VERSION platformlib-$PLATFORM_LIB_KEY"
IMAGE_REFS=("docker.io/bitnami/sealed-secrets-controller:${SEALED_SECRETS_VERSION#v}")
IMAGE_PUSH=1
IMAGE_CHANGES=("${DISTROLESS_ENV[@]}" 'USER 1001' 'EXPOSE 8080/tcp' 'EXPOSE 8081/tcp'
  'ENTRYPOINT ["controller"]')

build_rootfs() {
  local dir=$1
  distroless_into "$dir" 'sealed-secrets:x:1001:1001:sealed-secrets:/nonexistent:/sbin/nologin'
  CGO_ENABLED=0 go_install_into "$dir/usr/local/bin" \
    "github.com/bitnami-labs/sealed-secrets/cmd/controller@$SEALED_SECRETS_VERSION" \
    -ldflags "-s -w -X main.VERSION=${SEALED_SECRETS_VERSION#v}"
}
