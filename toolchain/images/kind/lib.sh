# Helpers for the recipes of kind's images (recipes/kind-node.sh and the images kubeadm runs in a
# kind node: kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd,
# coredns-kind). Sourced by those recipes after ../lib.sh; never run. The recipes put
# $KIND_LIB_KEY (a hash of this file) in their IMAGE_VERSION, so a change here rebuilds them.
kind_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIND_LIB_KEY=$(sha256sum "$kind_lib/lib.sh" | cut -c1-12)
toolchain_dir=$(cd "$kind_lib/../.." && pwd)

# The Kubernetes release of toolchain/kube (k8s.io/kubernetes in its go.mod), e.g. v1.36.1.
KUBE_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$toolchain_dir/kube/go.mod")

# kube_ldflags : the version stamping of toolchain/build.sh's build_kubernetes, for $KUBE_VERSION.
kube_ldflags() {
  local v=$KUBE_VERSION minor
  minor=$(echo "$v" | cut -d. -f2)
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$v"
}

# kube_node_build NAME... : builds toolchain/kube/node/NAME (kubelet, kubeadm, kubectl,
# kube-proxy) once per module state, and sets KUBE_NODE_BIN to the directory holding them
# (a variable, not output: a failure inside $(...) would not stop the build).
kube_node_build() {
  local name key out missing=()
  key=$( { cat "$toolchain_dir/kube/go.mod" "$toolchain_dir/kube/go.sum"; kube_ldflags
           cat "$toolchain_dir"/kube/node/*/main.go; } | sha256sum | cut -c1-12)
  out="$GO_OUT/kubernetes-node-$KUBE_VERSION-$key"
  KUBE_NODE_BIN=$out
  for name in "$@"; do [[ -x $out/$name ]] || missing+=("$name"); done
  ((${#missing[@]})) || return 0
  say "kubernetes $KUBE_VERSION: building ${missing[*]} (first time: several minutes on 2 cores)"
  mkdir -p "$out.tmp"
  for name in "${missing[@]}"; do
    ( cd "$toolchain_dir/kube" && CGO_ENABLED=0 nice go build -trimpath -ldflags "$(kube_ldflags)" \
        -o "$out.tmp/$name" "./node/$name" ) >&2
  done
  mkdir -p "$out"
  for name in "${missing[@]}"; do mv "$out.tmp/$name" "$out/$name"; done
  rm -rf "$out.tmp"
}

# kube_control_plane_bin NAME : the path of kube-apiserver, kube-controller-manager or
# kube-scheduler as toolchain/build.sh builds them (it is run first; it skips a built version).
kube_control_plane_bin() {
  local bin_dir=${CLUSTERBOOT_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterboot/bin}
  nice bash "$toolchain_dir/build.sh" kubernetes >&2
  echo "$bin_dir/kubernetes-$KUBE_VERSION/$1"
}


# changes_config CHANGE... : the image config (the "config" object of an OCI/Docker image
# config) that `docker import --change CHANGE...` gives, as JSON. Knows ENTRYPOINT, CMD, ENV,
# USER, WORKDIR, STOPSIGNAL, LABEL, EXPOSE and VOLUME in their one-value forms.
changes_config() {
  local cfg='{}' line kw rest key val
  for line in "$@"; do
    [[ -n $line ]] || continue
    kw=${line%%[[:space:]]*}; rest=${line#"$kw"}; rest=${rest#"${rest%%[![:space:]]*}"}
    case ${kw^^} in
      ENTRYPOINT|CMD)
        [[ ${kw^^} == CMD ]] && key=Cmd || key=Entrypoint
        if [[ $rest == \[* ]]; then val=$rest; else val=$(jq -cn --arg c "$rest" '["/bin/sh","-c",$c]'); fi
        cfg=$(jq -c --arg k "$key" --argjson v "$val" '.[$k] = $v' <<<"$cfg") ;;
      ENV)
        if [[ $rest == *=* && ${rest%%=*} != *[[:space:]]* ]]; then key=${rest%%=*}; val=${rest#*=}
        else key=${rest%%[[:space:]]*}; val=${rest#"$key"}; val=${val#"${val%%[![:space:]]*}"}; fi
        [[ $val == \"*\" ]] && val=${val:1:-1}
        cfg=$(jq -c --arg k "$key" --arg e "$key=$val" \
          '.Env = ([(.Env // [])[] | select(startswith($k + "=") | not)] + [$e])' <<<"$cfg") ;;
      USER) cfg=$(jq -c --arg v "$rest" '.User = $v' <<<"$cfg") ;;
      WORKDIR) cfg=$(jq -c --arg v "$rest" '.WorkingDir = $v' <<<"$cfg") ;;
      STOPSIGNAL) cfg=$(jq -c --arg v "$rest" '.StopSignal = $v' <<<"$cfg") ;;
      LABEL) cfg=$(jq -c --arg k "${rest%%=*}" --arg v "${rest#*=}" '.Labels[$k] = ($v | ltrimstr("\"") | rtrimstr("\""))' <<<"$cfg") ;;
      EXPOSE) val=$rest; [[ $val == */* ]] || val="$val/tcp"
        cfg=$(jq -c --arg p "$val" '.ExposedPorts[$p] = {}' <<<"$cfg") ;;
      VOLUME) if [[ $rest == \[* ]]; then val=$rest; else val=$(jq -cn --arg v "$rest" '[$v]'); fi
        cfg=$(jq -c --argjson v "$val" 'reduce $v[] as $p (.; .Volumes[$p] = {})' <<<"$cfg") ;;
      *) say "changes_config: cannot translate '$line'"; return 1 ;;
    esac
  done
  echo "$cfg"
}

# image_archive NAME OUT [gzip] : builds image NAME (recipes/NAME.sh) if needed and writes it as a
# `docker save` tarball (one layer, its IMAGE_REFS as RepoTags) to OUT, the format
# `ctr images import` and `docker load` read. With gzip the layer is stored compressed (both
# detect that); its diff_id stays the digest of the uncompressed tar, as it must.
image_archive() {
  local name=$1 out=$2 compress=${3:-} path work layer cfg cfg_sha
  bash "$images_here/build.sh" "$name" >&2
  path=$(bash "$images_here/build.sh" --path "$name")
  [[ -s $path/rootfs.tar && -f $path/meta.sh ]] || { say "image $name was not built ($path)"; return 1; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/image-archive.XXXXXX")
  (
    # shellcheck source=/dev/null
    source "$path/meta.sh"
    layer=$(sha256sum "$path/rootfs.tar" | cut -d' ' -f1)
    mkdir "$work/$layer"
    if [[ $compress == gzip ]]; then
      gzip -n -c "$path/rootfs.tar" > "$work/$layer/layer.tar"
    else
      ln "$path/rootfs.tar" "$work/$layer/layer.tar" 2>/dev/null || cp "$path/rootfs.tar" "$work/$layer/layer.tar"
    fi
    cfg=$(changes_config "${IMAGE_CHANGES[@]}")
    jq -cn --argjson config "$cfg" --arg diff "sha256:$layer" --arg by "clusterboot toolchain/images/recipes/$name.sh" \
      '{architecture: "amd64", os: "linux", config: $config,
        rootfs: {type: "layers", diff_ids: [$diff]}, history: [{created_by: $by}]}' > "$work/config.json"
    cfg_sha=$(sha256sum "$work/config.json" | cut -d' ' -f1)
    mv "$work/config.json" "$work/$cfg_sha.json"
    printf '%s\n' "${IMAGE_REFS[@]}" | jq -cRn --arg c "$cfg_sha.json" --arg l "$layer/layer.tar" \
      '[{Config: $c, RepoTags: [inputs], Layers: [$l]}]' > "$work/manifest.json"
    tar --numeric-owner -C "$work" -cf "$out" manifest.json "$cfg_sha.json" "$layer"
  ) || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}
