# Helpers for the recipes of the platform's images (recipes/argocd.sh, redis.sh,
# metallb-controller.sh, metallb-speaker.sh, sealed-secrets-controller.sh). Sourced by those
# recipes after ../lib.sh; never run. The recipes put $PLATFORM_LIB_KEY (a hash of this file) in
# their IMAGE_VERSION, so a change here rebuilds them.
platform_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PLATFORM_LIB_KEY=$(sha256sum "$platform_lib/lib.sh" | cut -c1-12)

# The Debian packages of the argocd image. The static images take their CA bundle from the same
# tree, so debian_rootfs builds (and caches) it once for all of them.
PLATFORM_DEBIAN_PACKAGES=(ca-certificates connect-proxy git git-lfs gnupg openssh-client tini tzdata)

# The image config of gcr.io/distroless/static, for IMAGE_CHANGES.
PLATFORM_DISTROLESS_ENV=(
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
)

# static_base_into DIR [PASSWD-LINE...] : the files of gcr.io/distroless/static a static Go binary
# needs: /etc/passwd and /etc/group with root, nobody and nonroot (65532) plus the given passwd
# lines (their groups added with the same name and gid), /etc/nsswitch.conf, /tmp (1777),
# /home/nonroot, /root, and the CA bundle at /etc/ssl/certs/ca-certificates.crt.
# The bundle is Debian bookworm's ca-certificates package as built into a fresh tree, never the
# build host's /etc/ssl/certs: that one can hold CAs added on this machine.
static_base_into() {
  local dir=$1 line name gid; shift
  mkdir -p "$dir"/{etc/ssl/certs,tmp,root,home/nonroot,run,var}
  chmod 1777 "$dir/tmp"; chmod 0700 "$dir/root"
  chown 65532:65532 "$dir/home/nonroot"
  ln -sfn /run "$dir/var/run"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' "$@" > "$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' > "$dir/etc/group"
  for line in "$@"; do
    name=${line%%:*}; gid=$(cut -d: -f4 <<<"$line")
    echo "$name:x:$gid:" >> "$dir/etc/group"
  done
  echo 'hosts: files dns' > "$dir/etc/nsswitch.conf"
  debian_rootfs "$dir.debian.tar" "${PLATFORM_DEBIAN_PACKAGES[@]}"
  tar -xOf "$dir.debian.tar" ./etc/ssl/certs/ca-certificates.crt > "$dir/etc/ssl/certs/ca-certificates.crt"
  rm -f "$dir.debian.tar"
  chmod 0644 "$dir/etc/ssl/certs/ca-certificates.crt"
  grep -q 'BEGIN CERTIFICATE' "$dir/etc/ssl/certs/ca-certificates.crt" || { say "no CA bundle in the Debian tree"; return 1; }
}
