# The shop of the sample GitOps repository (examples/gitops-sandbox/charts/shop), under the name
# its values give: ghcr.io/sandbox/shop:1.4.2. That image does not exist anywhere: the sample's
# chart names a made-up application. This stand-in lets its pods run for real: busybox's httpd
# on port 8080 (the chart's containerPort, started without command or args), answering with a
# page naming the shop and its version.
IMAGE_VERSION="busybox-static ${DEBIAN_SUITE-} shop-page-1"
IMAGE_REFS=(ghcr.io/sandbox/shop:1.4.2)
IMAGE_PUSH=1
IMAGE_CHANGES=(
  'EXPOSE 8080/tcp'
  'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'
)

build_rootfs() {
  local dir=$1
  busybox_into "$dir"
  mkdir -p "$dir/www"
  echo "sandbox shop 1.4.2" > "$dir/www/index.html"
}
