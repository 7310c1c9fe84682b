# The redis of Argo CD's pinned install.yaml (argocd-redis Deployment), under the name it uses:
# public.ecr.aws/docker/library/redis:8.2.2-alpine. The manifest starts it with args only
# (`--save "" --appendonly no --requirepass $(REDIS_PASSWORD)`), as runAsUser 999 (pod),
# runAsNonRoot, readOnlyRootFilesystem, capabilities dropped; its init container `secret-init`
# (argocd image) writes the password secret.
#
# Debian bookworm has no Redis 8.2: this is bookworm's redis-server 7.0.15 (apt), which takes the
# same command-line options. Like upstream's image (docker-library/redis Dockerfile and
# docker-entrypoint.sh): ENTRYPOINT docker-entrypoint.sh with CMD ["redis-server"], the entrypoint
# putting `redis-server` in front of arguments that start with `-` or name a .conf file (so the
# manifest's `--save ...` runs redis-server), dropping root to redis (setpriv here, gosu upstream)
# and setting umask 0077; user redis 999 with group redis 1000 (the alpine image's ids); WORKDIR
# /data owned by redis; EXPOSE 6379.
# Differences from upstream's image:
#   - Redis 7.0.15 instead of 8.2.2 (no 8.x commands, modules or new defaults);
#   - upstream compiles protected mode off; Debian's binary has it on, so the entrypoint adds
#     `--protected-mode no` when neither a config file nor --protected-mode is given (with a
#     config file, the file's setting or Debian's default applies). The manifest sets
#     requirepass, under which protected mode does not apply anyway;
#   - a Debian minbase userland (bash, coreutils, apt) instead of Alpine's busybox; USER 999 is
#     set in the image (upstream starts as root and drops to redis in the entrypoint);
#   - no VOLUME /data (the tier's pods never rely on image volumes); no redis-benchmark changes.
IMAGE_VERSION="debian redis-server (bookworm)"
IMAGE_REFS=(public.ecr.aws/docker/library/redis:8.2.2-alpine)
IMAGE_PUSH=1
IMAGE_CHANGES=(
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'USER 999'
  'WORKDIR /data'
  'EXPOSE 6379/tcp'
  'ENTRYPOINT ["docker-entrypoint.sh"]'
  'CMD ["redis-server"]'
)

build_rootfs() {
  local dir=$1 old_uid old_gid
  debian_rootfs "$dir.debian.tar" redis-server
  tar -C "$dir" --numeric-owner -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"
  # The runtime mounts /dev; the tree's device nodes (console, ptmx, tty...) are not wanted.
  rm -rf "$dir"/dev/*
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/var/log/*.log "$dir"/var/cache/debconf/*-old
  "$dir/usr/bin/redis-server" --version >&2

  # Debian's postinst made a system user redis; give it the ids of upstream's image.
  old_uid=$(awk -F: '$1 == "redis" { print $3 }' "$dir/etc/passwd")
  old_gid=$(awk -F: '$1 == "redis" { print $3 }' "$dir/etc/group")
  [[ -n $old_uid && -n $old_gid ]] || { say "redis: no redis user in the Debian tree"; return 1; }
  if awk -F: '$1 != "redis" && $3 == 999' "$dir/etc/passwd" | grep -q . ||
     awk -F: '$1 != "redis" && $3 == 1000' "$dir/etc/group" | grep -q .; then
    say "redis: uid 999 or gid 1000 already taken in the Debian tree"; return 1
  fi
  sed -i "s/^redis:x:$old_uid:$old_gid:/redis:x:999:1000:/" "$dir/etc/passwd"
  sed -i "s/^redis:x:$old_gid:/redis:x:1000:/" "$dir/etc/group"
  find "$dir" -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:1000 {} +
  install -d -o 999 -g 1000 -m 0755 "$dir/data"

  cat > "$dir/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# The entrypoint of the redis image (behaves as docker-library/redis's docker-entrypoint.sh).
set -e

# Options (`--save ...`, `-v`) or a config file as first argument: run redis-server with them.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# Started as root (docker run --user 0): give . to redis and run as redis.
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Files redis writes are for redis only, unless a umask was chosen.
if [ "$(umask)" = 0022 ]; then
	umask 0077
fi

# Upstream builds redis with protected mode off by default; Debian's has it on. Without a config
# file (or config on stdin, `-`) and without --protected-mode among the options, turn it off.
if [ "$1" = redis-server ] && { [ $# -eq 1 ] || { [ "${2#-}" != "$2" ] && [ "$2" != - ]; }; }; then
	case " $* " in
	*" --protected-mode"*) ;;
	*) set -- "$@" --protected-mode no ;;
	esac
fi

exec "$@"
EOF
  chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"
}
