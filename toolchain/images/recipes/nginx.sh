# The web server of the sample GitOps repository (examples/gitops-sandbox/apps/web), under the
# name it uses: docker.io/library/nginx:1.27.2. The Deployment starts it without command or args
# and serves on port 80.
#
# Debian bookworm has no nginx 1.27: this is bookworm's nginx 1.22.1 (apt). Like upstream's image
# (docker-library/nginx Dockerfile): CMD ["nginx", "-g", "daemon off;"], the master as root and
# workers as user nginx 101:101, conf.d/default.conf serving /usr/share/nginx/html on port 80
# with upstream's "Welcome to nginx!" page, access and error logs to the container's stdout and
# stderr, EXPOSE 80.
# Differences from upstream's image:
#   - nginx 1.22.1 instead of 1.27.2, with Debian's module set (no njs, no geoip2);
#   - no /docker-entrypoint.sh (the envsubst templates and the IPv6 listen script): the sample's
#     pods use neither;
#   - no STOPSIGNAL SIGQUIT (docker import takes no STOPSIGNAL): a pod's stop is SIGTERM, a fast
#     shutdown instead of a graceful one.
IMAGE_VERSION="debian nginx (bookworm) welcome-page-1"
IMAGE_REFS=(docker.io/library/nginx:1.27.2)
IMAGE_PUSH=1
IMAGE_CHANGES=(
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'EXPOSE 80/tcp'
  'CMD ["nginx", "-g", "daemon off;"]'
)

build_rootfs() {
  local dir=$1
  debian_rootfs "$dir.debian.tar" nginx
  tar -C "$dir" --numeric-owner -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"
  rm -rf "$dir"/dev/*
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/var/log/*.log "$dir"/var/cache/debconf/*-old
  "$dir/usr/sbin/nginx" -v >&2

  if awk -F: '$3 == 101' "$dir/etc/passwd" | grep -q . ||
     awk -F: '$3 == 101' "$dir/etc/group" | grep -q .; then
    say "nginx: uid or gid 101 already taken in the Debian tree"; return 1
  fi
  echo 'nginx:x:101:101:nginx user:/nonexistent:/usr/sbin/nologin' >> "$dir/etc/passwd"
  echo 'nginx:x:101:' >> "$dir/etc/group"
  echo 'nginx:!:19000::::::' >> "$dir/etc/shadow"

  # Upstream's layout: nginx.conf includes conf.d/*.conf; default.conf serves the welcome page.
  rm -f "$dir"/etc/nginx/sites-enabled/*
  sed -i 's/^user www-data;/user nginx;/' "$dir/etc/nginx/nginx.conf"
  grep -q '^user nginx;' "$dir/etc/nginx/nginx.conf" || { say "nginx: no user line"; return 1; }
  cat > "$dir/etc/nginx/conf.d/default.conf" <<'EOF'
server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
EOF
  mkdir -p "$dir/usr/share/nginx/html"
  cat > "$dir/usr/share/nginx/html/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>
</body>
</html>
EOF
  echo '<html><body><h1>An error occurred.</h1></body></html>' \
    > "$dir/usr/share/nginx/html/50x.html"
  ln -sf /dev/stdout "$dir/var/log/nginx/access.log"
  ln -sf /dev/stderr "$dir/var/log/nginx/error.log"
}
