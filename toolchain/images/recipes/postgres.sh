# The database of the sample GitOps repository (examples/gitops-sandbox/apps/postgres), under the
# name it uses: docker.io/library/postgres:16.4. The StatefulSet starts it without command or
# args, with POSTGRES_DB and POSTGRES_PASSWORD (the latter from the Secret that the Sealed Secrets
# controller unseals), and no volume: the data directory is the container's own.
#
# Debian bookworm has no PostgreSQL 16: this is bookworm's PostgreSQL 15 (apt). Like upstream's
# image (docker-library/postgres Dockerfile and docker-entrypoint.sh): ENTRYPOINT
# docker-entrypoint.sh, CMD ["postgres"], PGDATA /var/lib/postgresql/data, user postgres 999:999,
# the server's binaries on PATH; on an empty data directory the entrypoint runs initdb with
# POSTGRES_USER (default postgres) and POSTGRES_PASSWORD (required unless
# POSTGRES_HOST_AUTH_METHOD=trust), lets hosts in with scram-sha-256, creates POSTGRES_DB, then
# starts the server listening on every address; started as root it drops to postgres.
# Differences from upstream's image:
#   - PostgreSQL 15 instead of 16.4 (a 16 client or dump will not load into it);
#   - the entrypoint is a shorter one: no /docker-entrypoint-initdb.d scripts, no *_FILE
#     variables, no POSTGRES_INITDB_ARGS / POSTGRES_INITDB_WALDIR;
#   - no STOPSIGNAL SIGINT (docker import takes none): a pod's stop is SIGTERM, postgres's
#     "smart" shutdown.
IMAGE_VERSION="debian postgresql-15 (bookworm) entrypoint-1"
IMAGE_REFS=(docker.io/library/postgres:16.4)
IMAGE_PUSH=1
IMAGE_CHANGES=(
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'ENV PGDATA=/var/lib/postgresql/data'
  'ENV LANG=C.UTF-8'
  'EXPOSE 5432/tcp'
  'ENTRYPOINT ["docker-entrypoint.sh"]'
  'CMD ["postgres"]'
)

build_rootfs() {
  local dir=$1 old_uid old_gid
  debian_rootfs "$dir.debian.tar" postgresql-15
  tar -C "$dir" --numeric-owner -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"
  rm -rf "$dir"/dev/*
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/var/log/*.log "$dir"/var/cache/debconf/*-old
  "$dir/usr/lib/postgresql/15/bin/postgres" --version >&2
  # Debian's postinst made a cluster (15/main); the image's data directory is PGDATA instead.
  rm -rf "$dir"/var/lib/postgresql/15 "$dir"/etc/postgresql/15

  old_uid=$(awk -F: '$1 == "postgres" { print $3 }' "$dir/etc/passwd")
  old_gid=$(awk -F: '$1 == "postgres" { print $3 }' "$dir/etc/group")
  [[ -n $old_uid && -n $old_gid ]] || { say "postgres: no postgres user in the Debian tree"; return 1; }
  if awk -F: '$1 != "postgres" && $3 == 999' "$dir/etc/passwd" | grep -q . ||
     awk -F: '$1 != "postgres" && $3 == 999' "$dir/etc/group" | grep -q .; then
    say "postgres: uid or gid 999 already taken in the Debian tree"; return 1
  fi
  sed -i "s/^postgres:x:$old_uid:$old_gid:/postgres:x:999:999:/" "$dir/etc/passwd"
  sed -i "s/^postgres:x:$old_gid:/postgres:x:999:/" "$dir/etc/group"
  find "$dir" -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 999:999 {} +
  install -d -o 999 -g 999 -m 0700 "$dir/var/lib/postgresql/data"
  # /var/run is a link to /run (absolute: follow it inside the tree, never on this machine)
  install -d -o 999 -g 999 -m 3777 "$dir/run/postgresql"

  cat > "$dir/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# The entrypoint of the postgres image (behaves as docker-library/postgres's for the variables it
# reads: POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD, PGDATA).
set -e

# Options first: run postgres with them.
if [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	user=${POSTGRES_USER:-postgres}
	method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$method" != trust ]; then
		cat >&2 <<-'MSG'
		Error: Database is uninitialized and superuser password is not specified.
		       You must specify POSTGRES_PASSWORD to a non-empty value for the
		       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
		MSG
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb --username="$user" --pwfile="$pwfile" -D "$PGDATA" >/dev/null
	rm -f "$pwfile"
	printf '\nhost all all all %s\n' "$method" >> "$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	db=${POSTGRES_DB:-$user}
	if [ "$db" != postgres ]; then
		PGPASSWORD=$POSTGRES_PASSWORD psql -v ON_ERROR_STOP=1 --username "$user" --no-password \
			--dbname postgres -q -c "CREATE DATABASE \"$db\";"
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo 'PostgreSQL init process complete; ready for start up.'
fi

if [ "$1" = postgres ]; then
	shift
	set -- postgres -c listen_addresses='*' "$@"
fi
exec "$@"
EOF
  chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"
}
