# Stand-in for k3d's tools image. k3d v5.9.0 starts a tools node with every cluster create (args
# ["noop"], the image volume mounted) and, with Linux docker, never execs in it: the container only
# has to stay up. With this entrypoint the "noop" lands in sh's $0. k3d v5.9.0 asks for the tag
# <version without v> (pkg/types/images.go GetHelperImageVersion), or $K3D_IMAGE_TOOLS.
# What it cannot do: `k3d image import --mode tools` (the real image runs k3d-tools in it); use
# --mode direct.
IMAGE_VERSION="busybox-static ${DEBIAN_SUITE-}"
IMAGE_REFS=(ghcr.io/k3d-io/k3d-tools:5.9.0)
IMAGE_PUSH=0
IMAGE_CHANGES=('ENTRYPOINT ["/bin/sh","-c","exec sleep 2147483647"]')

build_rootfs() {
  busybox_into "$1"
}
