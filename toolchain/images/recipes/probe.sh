# The workload image the tests run in clusters: busybox with httpd, as `httpd -f -p 8080 -h /www`.
# It answers to docker.io/library/busybox:1.37 but is Debian's busybox-static (1.35.0): the
# applets the tests use (httpd, nc, sh, sleep) are the same. Its wget fetches by IP address; by
# name it is unreliable (static glibc resolves names poorly; a segfault was seen on this VM), so
# use nc or addresses.
IMAGE_VERSION="busybox-static ${DEBIAN_SUITE-}"
IMAGE_REFS=(docker.io/library/busybox:1.37)
IMAGE_PUSH=1
IMAGE_CHANGES=('CMD ["sh"]')

build_rootfs() {
  local dir=$1
  busybox_into "$dir"
  mkdir -p "$dir/www"
  echo "clusterboot probe" > "$dir/www/index.html"
}
