#!/usr/bin/env bash
# The Docker tier: a Docker engine, a local registry and real kind/k3d clusters, sealed in a
# network namespace of their own that has no route out of this machine.
#
#   bash toolchain/docker-tier.sh start            # install, build, start the engine and registry, load images
#   bash toolchain/docker-tier.sh status           # what runs, where, which images are loaded
#   bash toolchain/docker-tier.sh run -- CMD...    # CMD inside the namespace: DOCKER_HOST set, kind, k3d and .venv on PATH
#   bash toolchain/docker-tier.sh stop             # remove every container, stop everything, restore sysctls
#
# Why a namespace: this machine forwards packets (ip_forward=1), so an engine on the host network
# could route a container's packets out. In the tier's namespace the only interfaces are loopback,
# the registry's address and the engine's own bridges; `ip route get` for anything else says
# "Network is unreachable". dockerd starts through `nsenter --net` (not `ip netns exec`, which
# remounts /sys and hides the cgroup hierarchies).
#
# No registry outside is reachable, so every image is built here (toolchain/images/) and served by
# a registry inside the namespace that answers for quay.io, ghcr.io, docker.io, public.ecr.aws and
# registry.k8s.io: an image NAME from HOST is stored as HOST/NAME. Clusters use it through
# cluster.registry_mirror (CLUSTERBOOT_REGISTRY_MIRROR, which `run` sets).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

NETNS=${CLUSTERBOOT_TIER_NETNS:-clusterboot-tier}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/clusterboot
DATA=${CLUSTERBOOT_TIER_DATA:-$CACHE/docker-tier}   # images and registry storage: kept between starts
RUN_DIR=${CLUSTERBOOT_TIER_RUN:-/run/clusterboot-tier}   # sockets, pids, what stop must undo
TOOLS=$DATA/bin
SOCK=$RUN_DIR/docker.sock
REGISTRY_ADDR=172.31.251.1        # on the namespace's loopback; nodes reach it through their bridge
REGISTRY_PORT=5000
BRIDGE_IP=172.31.250.1/24
ADDRESS_POOL=172.30.0.0/16        # the engine's networks (kind's, k3d's) are /24s from here
KIND_VERSION=v0.33.0
K3D_VERSION=v5.9.0
REGISTRY_VERSION=v3.0.0
MIRRORED_HOSTS=(docker.io quay.io ghcr.io public.ecr.aws registry.k8s.io)
SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory)   # every kubelet writes these VM-wide
APT_PACKAGES=(docker.io mmdebstrap iproute2 util-linux busybox-static libsqlite3-dev pkg-config gcc curl)

say() { printf '%s\n' "$*" >&2; }
die() { say "docker-tier: $*"; exit 1; }
in_ns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }
docker_() { DOCKER_HOST=unix://$SOCK docker "$@"; }

ns_exists() { [[ -e /run/netns/$NETNS ]]; }
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
engine_up() { [[ -S $SOCK ]] && docker_ version --format '{{.Server.Version}}' >/dev/null 2>&1; }
registry_up() { in_ns curl -fsS -o /dev/null "http://$REGISTRY_ADDR:$REGISTRY_PORT/v2/" 2>/dev/null; }

need_root() {
  [[ $(id -u) == 0 ]] || die "needs root: a network namespace, dockerd and privileged containers (run it with sudo)"
}

install_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "please install: ${missing[*]}"
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  # policy-rc.d keeps the package from starting a dockerd on the host network.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  rm -f /usr/sbin/policy-rc.d
}

build_tools() {
  # kind, k3d and the registry from Go modules, once per version.
  mkdir -p "$TOOLS"
  export GOFLAGS=-buildvcs=false CGO_ENABLED=0
  if [[ ! -x $TOOLS/kind-$KIND_VERSION ]]; then
    say "building kind $KIND_VERSION"
    GOBIN="$TOOLS/.kind" nice go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION" >&2
    mv "$TOOLS/.kind/kind" "$TOOLS/kind-$KIND_VERSION"; rmdir "$TOOLS/.kind"
  fi
  ln -sf "kind-$KIND_VERSION" "$TOOLS/kind"
  local k3s_tag; k3s_tag=$(source "$here/images/recipes/k3s.sh"; echo "$K3S_IMAGE_TAG")
  if [[ ! -x $TOOLS/k3d-$K3D_VERSION-$k3s_tag ]]; then
    say "building k3d $K3D_VERSION (default k3s image tag $k3s_tag)"
    (cd "$here/images/k3d" && nice go build -trimpath -ldflags "-s -w \
        -X github.com/k3d-io/k3d/v5/version.Version=$K3D_VERSION \
        -X github.com/k3d-io/k3d/v5/version.K3sVersion=$k3s_tag" \
        -o "$TOOLS/k3d-$K3D_VERSION-$k3s_tag" github.com/k3d-io/k3d/v5) >&2
  fi
  ln -sf "k3d-$K3D_VERSION-$k3s_tag" "$TOOLS/k3d"
  if [[ ! -x $TOOLS/registry-$REGISTRY_VERSION ]]; then
    say "building the registry (distribution $REGISTRY_VERSION)"
    GOBIN="$TOOLS/.registry" nice go install -trimpath -ldflags "-s -w" \
      "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" >&2
    mv "$TOOLS/.registry/registry" "$TOOLS/registry-$REGISTRY_VERSION"; rmdir "$TOOLS/.registry"
  fi
  source "$here/images/lib.sh"
  capfix_into "$TOOLS"
}

create_netns() {
  if ! ns_exists; then
    [[ -d /run/netns ]] || touch "$RUN_DIR/created-run-netns"
    ip netns add "$NETNS"
  fi
  in_ns ip link set lo up
  # The registry's address sits on the namespace's loopback: the nodes' packets to it arrive
  # through their bridge and are delivered locally (this kernel has no dummy interfaces).
  in_ns ip addr replace "$REGISTRY_ADDR/32" dev lo
  if [[ -n $(in_ns ip route show default) ]]; then
    die "namespace $NETNS has a default route; refusing to start anything in it"
  fi
}

save_sysctls() {
  [[ -s $RUN_DIR/sysctls ]] && return
  local key
  for key in "${SYSCTLS[@]}"; do echo "$key=$(sysctl -n "$key")"; done > "$RUN_DIR/sysctls"
}

restore_sysctls() {
  [[ -s $RUN_DIR/sysctls ]] || return 0
  local line
  while IFS= read -r line; do sysctl -q -w "$line" >/dev/null; done < "$RUN_DIR/sysctls"
  rm -f "$RUN_DIR/sysctls"
}

start_engine() {
  if engine_up; then return; fi
  local d=$DATA/engine
  # An engine that died (killed, machine stopped) leaves its socket, pid file and mounts.
  unmount_under "$RUN_DIR/exec"
  rm -f "$SOCK" "$RUN_DIR/docker.pid"
  mkdir -p "$d" "$RUN_DIR/exec"
  say "starting dockerd in namespace $NETNS"
  # --iptables=false: nothing to NAT to, and no rules in the namespace to clean up; published
  # ports go through docker-proxy. cgroupns private keeps each node's kubelet under its container.
  in_ns setsid dockerd \
    --data-root "$d" --exec-root "$RUN_DIR/exec" --pidfile "$RUN_DIR/docker.pid" \
    -H "unix://$SOCK" --iptables=false --ip-masq=false --ip6tables=false \
    --bip "$BRIDGE_IP" --default-address-pool "base=$ADDRESS_POOL,size=24" \
    --default-cgroupns-mode private --cgroup-parent clusterboot-tier \
    --add-runtime "capfix=$TOOLS/runc-capfix" --default-runtime capfix \
    > "$RUN_DIR/dockerd.log" 2>&1 < /dev/null &
  local i
  for i in $(seq 60); do engine_up && return; sleep 1; done
  tail -n 20 "$RUN_DIR/dockerd.log" >&2
  die "dockerd did not answer on $SOCK within 60s (log: $RUN_DIR/dockerd.log)"
}

start_registry() {
  if registry_up; then return; fi
  mkdir -p "$DATA/registry"
  cat > "$RUN_DIR/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $DATA/registry}
  delete: {enabled: true}
http:
  addr: 0.0.0.0:$REGISTRY_PORT
EOF
  say "starting the registry on $REGISTRY_ADDR:$REGISTRY_PORT"
  # nsenter and setsid exec in turn, so $! is the registry itself (a function would add a shell).
  OTEL_TRACES_EXPORTER=none nsenter --net="/run/netns/$NETNS" -- \
    setsid "$TOOLS/registry-$REGISTRY_VERSION" serve "$RUN_DIR/registry.yml" \
    > "$RUN_DIR/registry.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/registry.pid"
  local i
  for i in $(seq 30); do registry_up && return; sleep 1; done
  tail -n 20 "$RUN_DIR/registry.log" >&2
  die "the registry did not answer within 30s (log: $RUN_DIR/registry.log)"
}

# mirror_path REF -> the registry repository for an upstream name: HOST/PATH (docker.io's
# one-word names get library/, as containerd asks for them).
mirror_path() {
  local ref=$1 host rest
  host=${ref%%/*}; rest=${ref#*/}
  if [[ $ref != */* || ( $host != *.* && $host != *:* && $host != localhost ) ]]; then
    host=docker.io; rest=$ref
  fi
  [[ $host == docker.io && $rest != */* ]] && rest=library/$rest
  echo "$host/$rest"
}

load_images() {
  say "building images (toolchain/images; first time: long, later: seconds)"
  bash "$here/images/build.sh" >&2
  local recipe dir key ref first mirror
  mkdir -p "$DATA/pushed"
  for recipe in "$here"/images/recipes/*.sh; do
    recipe=$(basename "$recipe" .sh)
    dir=$(bash "$here/images/build.sh" --path "$recipe")
    key=$(basename "$dir")
    (
      source "$dir/meta.sh"
      first=${IMAGE_REFS[0]}
      if [[ $(docker_ image inspect -f '{{index .Config.Labels "io.clusterboot.image"}}' "$first" 2>/dev/null) != "$key" ]]; then
        say "  load $first"
        local changes=() c
        for c in "${IMAGE_CHANGES[@]}"; do changes+=(--change "$c"); done
        docker_ import "${changes[@]}" --change "LABEL io.clusterboot.image=$key" "$dir/rootfs.tar" "$first" >/dev/null
      fi
      for ref in "${IMAGE_REFS[@]:1}"; do docker_ tag "$first" "$ref"; done
      [[ ${IMAGE_PUSH:-1} == 1 ]] || exit 0
      for ref in "${IMAGE_REFS[@]}"; do
        mirror=$(mirror_path "$ref")
        [[ -e $DATA/pushed/$key-${mirror//\//_} ]] && continue
        say "  push $ref (as 127.0.0.1:$REGISTRY_PORT/$mirror)"
        docker_ tag "$first" "127.0.0.1:$REGISTRY_PORT/$mirror"
        docker_ push -q "127.0.0.1:$REGISTRY_PORT/$mirror" >/dev/null
        docker_ rmi "127.0.0.1:$REGISTRY_PORT/$mirror" >/dev/null
        touch "$DATA/pushed/$key-${mirror//\//_}"
      done
    )
  done
  # Images a newer version replaced lose their names; they only take disk, which the nodes'
  # kubelets watch (DiskPressure).
  docker_ image prune -f >/dev/null
}

cmd_start() {
  need_root
  mkdir -p "$RUN_DIR" "$DATA"
  install_packages
  build_tools
  create_netns
  save_sysctls
  start_engine
  start_registry
  load_images
  say "tier running: DOCKER_HOST=unix://$SOCK, registry http://$REGISTRY_ADDR:$REGISTRY_PORT (namespace $NETNS)"
  say "  run a command in it: bash toolchain/docker-tier.sh run -- invoke up --profile kind"
}

cmd_status() {
  local state=stopped
  ns_exists && engine_up && registry_up && state=running
  echo "docker tier: $state"
  echo "  namespace  $NETNS: $(ns_exists && echo present || echo absent)"
  if ns_exists; then
    echo "  routes     $(in_ns ip -4 route show | wc -l) (default: $(in_ns ip route show default | grep -c . || true))"
  fi
  echo "  engine     unix://$SOCK: $(engine_up && docker_ version --format 'dockerd {{.Server.Version}}' || echo down)"
  echo "  registry   http://$REGISTRY_ADDR:$REGISTRY_PORT: $(ns_exists && registry_up && echo up || echo down)"
  if engine_up; then
    echo "  containers $(docker_ ps -q | wc -l) running"
    docker_ ps --format '    {{.Names}} ({{.Image}}) {{.Status}}'
  fi
  [[ $state == running ]]
}

cmd_run() {
  ns_exists && engine_up || die "the tier is not running: bash toolchain/docker-tier.sh start"
  local rundir=$RUN_DIR path=$TOOLS:$PATH venv
  # This checkout's virtualenv (`make deps`), so `run -- invoke up ...` works as in the README.
  venv=$(cd "$here/.." && pwd)/.venv/bin
  [[ -x $venv/invoke ]] && path=$TOOLS:$venv:$PATH
  in_ns env DOCKER_HOST="unix://$SOCK" PATH="$path" \
    CLUSTERBOOT_REGISTRY_MIRROR="http://$REGISTRY_ADDR:$REGISTRY_PORT" \
    CLUSTERBOOT_DOCKER_TIER="$rundir" "$@"
}

kill_pidfile() {
  local file=$1 pid i
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

cmd_stop() {
  need_root
  if engine_up; then
    local ids; ids=$(docker_ ps -aq)
    [[ -z $ids ]] || { say "removing $(echo "$ids" | wc -l) containers"; docker_ rm -f -v $ids >/dev/null; }
    docker_ network prune -f >/dev/null
  fi
  kill_pidfile "$RUN_DIR/registry.pid"
  kill_pidfile "$RUN_DIR/docker.pid"
  # Whatever is still in the namespace (a stray shim or proxy) goes with it.
  if ns_exists; then
    local pids; pids=$(ip netns pids "$NETNS" 2>/dev/null || true)
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
  fi
  unmount_under "$RUN_DIR"
  unmount_under "$DATA/engine"
  if ns_exists; then ip netns delete "$NETNS"; fi
  if [[ -e $RUN_DIR/created-run-netns ]] && [[ -d /run/netns ]] && [[ -z $(ls -A /run/netns) ]]; then
    umount /run/netns 2>/dev/null || true; rmdir /run/netns 2>/dev/null || true
  fi
  restore_sysctls
  remove_cgroups
  rm -rf "$RUN_DIR"
  say "docker tier stopped"
}

unmount_under() {  # DIR: every mount below DIR, deepest first
  local m
  { grep -o " $1/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

remove_cgroups() {
  # The engine's containers live under clusterboot-tier in each hierarchy; empty ones are removed
  # deepest first (a cgroup can only be removed once empty).
  local root
  for root in /sys/fs/cgroup/*/; do
    [[ -d ${root}clusterboot-tier ]] || continue
    find "${root}clusterboot-tier" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0   # sourced: the functions only

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  run) shift; [[ ${1:-} == -- ]] && shift; (($#)) || die "usage: run -- CMD..."; cmd_run "$@" ;;
  *) say "usage: $0 {start|stop|status|run -- CMD...}"; exit 2 ;;
esac
