# Shared by the image factory (build.sh) and its recipes. Sourced, never run.
#   IMAGE_DIR   where finished images are kept, one directory per image and version
#   GO_OUT      where Go-built binaries are kept, by module and version
IMAGE_DIR=${CLUSTERBOOT_IMAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterboot/images}
GO_OUT=$IMAGE_DIR/go
DEBIAN_SUITE=${CLUSTERBOOT_DEBIAN_SUITE:-bookworm}
images_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOFLAGS=-buildvcs=false

say() { printf '  %s\n' "$*" >&2; }

# debian_rootfs TAR PACKAGE... : a minimal Debian tree with these packages, as a tarball
# (cached by suite and package list: the same list is built once).
debian_rootfs() {
  local out=$1; shift
  local key; key=$(printf '%s\n' "$DEBIAN_SUITE" merged-usr-hook "$@" | sha256sum | cut -c1-12)
  local cached="$IMAGE_DIR/debian/$DEBIAN_SUITE-$key.tar"
  if [[ ! -s $cached ]]; then
    say "debian $DEBIAN_SUITE rootfs with: $* (mmdebstrap, first time: 1-3 min)"
    mkdir -p "$IMAGE_DIR/debian"
    local include; include=$(IFS=,; echo "$*")
    # The merged-usr hook installs usr-is-merged; without it apt meets init-system-helpers'
    # "usrmerge | usr-is-merged" with usrmerge, which brings 50 MB of perl into every image.
    mmdebstrap --quiet --format=tar --variant=minbase ${include:+--include="$include"} \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
      "$DEBIAN_SUITE" "$cached.part" >&2
    mv "$cached.part" "$cached"
  fi
  cp "$cached" "$out"
}

# go_install_into DIR MODULE@VERSION [go build flags...] : `go install` a main package into DIR,
# once per module and version (kept under $GO_OUT).
go_install_into() {
  local dir=$1 pkg=$2; shift 2
  local name=${pkg%@*}; [[ $name =~ /v[0-9]+$ ]] && name=${name%/*}; name=${name##*/}
  local key; key=$(printf '%s\n' "$pkg" "$@" "${CGO_ENABLED:-0}" | sha256sum | cut -c1-12)
  local cached="$GO_OUT/$name-$key"
  if [[ ! -x $cached/$name ]]; then
    say "go install $pkg"
    mkdir -p "$cached.tmp"
    # The key says CGO off unless asked; go itself would turn it on wherever gcc is installed.
    CGO_ENABLED=${CGO_ENABLED:-0} GOBIN="$cached.tmp" nice go install -trimpath "$@" "$pkg" >&2
    rm -rf "$cached"; mv "$cached.tmp" "$cached"
  fi
  install -D -m 0755 "$cached/$name" "$dir/$name"
}

# capfix_into DIR : the runc wrapper every container engine of the tier runs (capfix/README).
capfix_into() {
  local dir=$1 cached="$GO_OUT/runc-capfix-$(sha256sum "$images_here/capfix/main.go" | cut -c1-12)"
  if [[ ! -x $cached/runc-capfix ]]; then
    say "building the runc wrapper (capfix)"
    mkdir -p "$cached"
    (cd "$images_here/capfix" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cached/runc-capfix" .)
  fi
  install -D -m 0755 "$cached/runc-capfix" "$dir/runc-capfix"
}

# busybox_into DIR : Debian's busybox-static as DIR/bin/busybox with a link per applet beside it
# (all in /bin, as in the busybox images), root and nobody in /etc/passwd, and /tmp.
busybox_into() {
  local dir=$1 applet applets
  debian_rootfs "$dir.debian.tar" busybox-static
  mkdir -p "$dir/bin" "$dir/etc" "$dir/root" "$dir/tmp"
  # bookworm has merged /usr: the package's /bin/busybox is usr/bin/busybox in the tree.
  tar -xOf "$dir.debian.tar" ./usr/bin/busybox > "$dir/bin/busybox"
  rm -f "$dir.debian.tar"
  chmod 0755 "$dir/bin/busybox"; chmod 1777 "$dir/tmp"
  applets=$("$dir/bin/busybox" --list)
  for applet in $applets; do
    [[ $applet == busybox ]] || ln -sf busybox "$dir/bin/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/home:/bin/false' > "$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' > "$dir/etc/group"
}

# The image config of gcr.io/distroless/static, for IMAGE_CHANGES.
DISTROLESS_ENV=(
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
)

# distroless_into DIR [PASSWD-LINE...] : the files of gcr.io/distroless/static a static binary
# needs: /etc/passwd and /etc/group with root, nobody and nonroot (65532) plus the given passwd
# lines (their groups added with the same name and gid), /etc/nsswitch.conf, /tmp (1777),
# /home/nonroot, /root, /run, and the CA bundle at /etc/ssl/certs/ca-certificates.crt.
# The bundle is Debian's ca-certificates package as built into a fresh tree, never the build
# host's /etc/ssl/certs: that one can hold CAs added on this machine.
distroless_into() {
  local dir=$1 line name gid; shift
  mkdir -p "$dir"/{etc/ssl/certs,tmp,root,home/nonroot,run,var,usr/local/bin}
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
  debian_rootfs "$dir.debian.tar" ca-certificates
  tar -xOf "$dir.debian.tar" ./etc/ssl/certs/ca-certificates.crt > "$dir/etc/ssl/certs/ca-certificates.crt"
  rm -f "$dir.debian.tar"
  chmod 0644 "$dir/etc/ssl/certs/ca-certificates.crt"
  grep -q 'BEGIN CERTIFICATE' "$dir/etc/ssl/certs/ca-certificates.crt" || { say "no CA bundle in the Debian tree"; return 1; }
}
