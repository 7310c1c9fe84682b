#!/usr/bin/env bash
# The Docker tier's image factory: every image the tier's clusters run, built here from Go
# modules and Debian packages (no registry is reachable), one recipe per image in recipes/.
#
#   bash toolchain/images/build.sh [IMAGE...]     # default: every recipe
#   bash toolchain/images/build.sh --list         # recipe, version, built or not
#
# A recipe (recipes/NAME.sh) sets
#   IMAGE_VERSION   what the image is built from (a change rebuilds it)
#   IMAGE_REFS      the names it is known by (upstream names: the tier's registry answers for them)
#   IMAGE_CHANGES   `docker import --change` lines (ENTRYPOINT, CMD, ENV, USER, WORKDIR)
#   IMAGE_PUSH      1: served by the tier's registry to the clusters' nodes; 0: only loaded into
#                   the tier's engine (node images, k3d's tools)
# and defines build_rootfs DIR, which fills DIR with the image's files.
# Each finished image is $IMAGE_DIR/NAME-KEY/{rootfs.tar,meta.sh}, KEY a hash of the version and
# the recipe; a finished one is not built again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

recipe_key() {  # NAME -> the key of its current version
  local name=$1
  ( source "$here/recipes/$name.sh"
    { echo "$IMAGE_VERSION"; cat "$here/recipes/$name.sh" "$here/lib.sh"; } | sha256sum | cut -c1-12 )
}

image_path() { echo "$IMAGE_DIR/$1-$(recipe_key "$1")"; }

build_one() {
  local name=$1 out tmp start
  out=$(image_path "$name")
  if [[ -s $out/rootfs.tar && -f $out/meta.sh ]]; then
    echo "$name: built ($out)"; prune_older "$name" "$out"; return
  fi
  start=$(date +%s)
  echo "$name: building"
  tmp="$out.tmp"; rm -rf "$tmp"; mkdir -p "$tmp/rootfs"
  (
    source "$here/recipes/$name.sh"
    build_rootfs "$tmp/rootfs"
    tar --numeric-owner --xattrs -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
    {
      printf 'IMAGE_VERSION=%q\n' "$IMAGE_VERSION"
      printf 'IMAGE_PUSH=%q\n' "${IMAGE_PUSH:-1}"
      printf 'IMAGE_REFS=('; printf '%q ' "${IMAGE_REFS[@]}"; printf ')\n'
      printf 'IMAGE_CHANGES=('; printf '%q ' "${IMAGE_CHANGES[@]}"; printf ')\n'
    } > "$tmp/meta.sh"
  )
  rm -rf "$tmp/rootfs"
  rm -rf "$out"; mv "$tmp" "$out"
  echo "$name: built in $(( $(date +%s) - start ))s ($(du -sh "$out/rootfs.tar" | cut -f1))"
  prune_older "$name" "$out"
}

prune_older() {  # NAME KEPT: remove NAME's images of other versions (disk is the tier's limit)
  local name=$1 kept=$2 old
  for old in "$IMAGE_DIR/$name"-*; do
    [[ $old != "$kept" && $(basename "$old") =~ ^$name-[0-9a-f]{12}(\.tmp)?$ ]] || continue
    echo "$name: removing $(basename "$old") (an older version)"
    rm -rf "$old"
  done
}

all_recipes() { for f in "$here"/recipes/*.sh; do basename "$f" .sh; done; }

if [[ ${1:-} == --list ]]; then
  for name in $(all_recipes); do
    out=$(image_path "$name")
    version=$(source "$here/recipes/$name.sh"; echo "$IMAGE_VERSION")
    state=missing; [[ -s $out/rootfs.tar ]] && state=built
    printf '%-22s %-40s %s\n' "$name" "$version" "$state"
  done
  exit 0
fi
if [[ ${1:-} == --path ]]; then image_path "$2"; exit 0; fi

names=("$@"); ((${#names[@]})) || mapfile -t names < <(all_recipes)
total=${#names[@]} i=0
for name in "${names[@]}"; do
  i=$((i + 1))
  [[ -f $here/recipes/$name.sh ]] || { echo "no recipe $name (recipes: $(all_recipes | tr '\n' ' '))" >&2; exit 2; }
  printf '[%d/%d] ' "$i" "$total"
  build_one "$name"
done
