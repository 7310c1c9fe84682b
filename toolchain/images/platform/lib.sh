# Helpers for the recipes of the platform's images (recipes/argocd.sh, redis.sh,
# metallb-controller.sh, metallb-speaker.sh, sealed-secrets-controller.sh). Sourced by those
# recipes after ../lib.sh; never run. The recipes put $PLATFORM_LIB_KEY (a hash of this file) in
# their IMAGE_VERSION, so a change here rebuilds them.
platform_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PLATFORM_LIB_KEY=$(sha256sum "$platform_lib/lib.sh" | cut -c1-12)

# The Debian packages of the argocd image.
PLATFORM_DEBIAN_PACKAGES=(ca-certificates connect-proxy git git-lfs gnupg openssh-client tini tzdata)


