# The pod sandbox image, for k3s (its default --pause-image, pkg/cli/cmds/agent.go) and for kind
# (containerd's sandbox_image in kindest/node). Both names get the same binary, the pause of the
# kubernetes module (its Makefile's TAG, 3.10.2): a sandbox only needs it to hold the namespaces,
# reap children and exit on SIGINT/SIGTERM. Built as upstream does (build/pause/Makefile: gcc -Os
# -static, stripped; Dockerfile: scratch, USER 65535:65535).
PAUSE_KUBERNETES=v1.36.1
IMAGE_VERSION="pause from k8s.io/kubernetes@$PAUSE_KUBERNETES"
IMAGE_REFS=(docker.io/rancher/mirrored-pause:3.6 registry.k8s.io/pause:3.10)
IMAGE_PUSH=1
IMAGE_CHANGES=('USER 65535:65535' 'ENTRYPOINT ["/pause"]')

build_rootfs() {
  local dir=$1 info src tag
  info=$(cd / && go mod download -json "k8s.io/kubernetes@$PAUSE_KUBERNETES")
  src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<< "$info")
  [[ -f $src/build/pause/linux/pause.c ]] || { say "pause: no build/pause/linux/pause.c in '$src'"; return 1; }
  tag=$(sed -n 's/^TAG ?= //p' "$src/build/pause/Makefile")
  gcc -Os -Wall -Werror -static -DVERSION="v$tag-k8s-$PAUSE_KUBERNETES" \
    -o "$dir/pause" "$src/build/pause/linux/pause.c"
  strip "$dir/pause"
}
