# quay.io/argoproj/argocd, the one image of every Argo CD component in the pinned install.yaml
# (server, repo-server, application-controller, applicationset-controller, notifications, the
# redis pod's `secret-init` and the `copyutil` init containers).
#
# Like upstream's image (Dockerfile in the module: ubuntu base, argocd-base stage, final stage):
#   - /usr/local/bin/argocd: upstream's multi-call main github.com/argoproj/argo-cd/v3/cmd (it picks
#     the component by argv[0] or ARGOCD_BINARY_NAME), built through the wrapper module
#     ../argocd (toolchain/argocd's requires and replaces, which are argo-cd v3.2.11's own: the
#     build list is upstream's; its `go 1.25.5` line is argo-cd's, so the binary gets upstream's
#     GODEBUG defaults), CGO off, with the Makefile's version stamping;
#   - the Dockerfile's nine symlinks to it, gpg-wrapper.sh, git-verify-wrapper.sh, entrypoint.sh
#     (+ uid_entrypoint.sh), all copied from the module;
#   - helm and kustomize at hack/tool-versions.sh's versions, built from the module proxy with
#     their release version stamping;
#   - git, git-lfs, tini, gnupg, tzdata, connect-proxy (Debian bookworm's, not Ubuntu 25.04's),
#     plus openssh-client and ca-certificates, which upstream gets as git's recommends;
#   - user argocd 999:999, HOME /home/argocd (owned 999:0, g=u), /app/config/{ssh,tls,gpg} and
#     /etc/ssh/ssh_known_hosts -> /app/config/ssh/ssh_known_hosts; USER 999 (numeric: the pods
#     set runAsNonRoot without runAsUser), WORKDIR /home/argocd, ENTRYPOINT tini.
# Differences from upstream's image:
#   - no web UI: the UI is built with yarn (ui/ -> ui/dist/app) and the module holds only
#     ui/dist/app/gitkeep, so argocd-server serves the API and gRPC but no UI pages;
#   - Debian bookworm userland (git 2.39, gnupg 2.2, git-lfs 3.3) instead of Ubuntu 25.04's;
#   - the binaries are stripped (-s -w) and built with -trimpath and this machine's Go release
#     (upstream: golang 1.25.6, unstripped); BUILD_DATE is the tag's commit date, not CI's clock;
#   - no dist-upgrade layer history, labels, or docs/manpages (removed to save space).
source "$(dirname "${BASH_SOURCE[0]}")/../platform/lib.sh"
argocd_mod=$(cd "$(dirname "${BASH_SOURCE[0]}")/../argocd" && pwd)
# (`require X v` on one line, or in a block)
ARGOCD_VERSION=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/argoproj/argo-cd/v3" && $(i+1) ~ /^v/) { print $(i+1); exit } }' "$argocd_mod/go.mod")
# The commit of tag v3.2.11 in github.com/argoproj/argo-cd and its committer date (UTC): the
# release build's GIT_COMMIT, and our BUILD_DATE. The module proxy records no origin for it.
ARGOCD_GIT_COMMIT=6d66c1b29e4f25dccfb5b0c7a939785b0071ef9a
ARGOCD_BUILD_DATE=2026-04-30T17:24:29Z
# hack/tool-versions.sh of argo-cd v3.2.11 (helm3_version, kustomize5_version), and helm's tag
# commits (github.com/helm/helm v3.18.4; kubernetes-sigs/kustomize kustomize/v5.7.0, whose
# committer date stands in for its release's build date), which their release builds stamp in.
ARGOCD_HELM_VERSION=v3.18.4
ARGOCD_HELM_COMMIT=d80839cf37d860c8aa9a0503fe463278f26cd5e2
ARGOCD_KUSTOMIZE_VERSION=v5.7.0
ARGOCD_KUSTOMIZE_BUILD_DATE=2025-06-28T06:56:29Z

IMAGE_VERSION="argocd $ARGOCD_VERSION $(cat "$argocd_mod/go.mod" "$argocd_mod/go.sum" | sha256sum | cut -c1-12) helm $ARGOCD_HELM_VERSION kustomize $ARGOCD_KUSTOMIZE_VERSION platformlib-$PLATFORM_LIB_KEY"
IMAGE_REFS=("quay.io/argoproj/argocd:$ARGOCD_VERSION")
IMAGE_PUSH=1
IMAGE_CHANGES=(
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'ENV ARGOCD_USER_ID=999'
  'ENV DEBIAN_FRONTEND=noninteractive'
  'ENV USER=argocd'
  'USER 999'
  'WORKDIR /home/argocd'
  'ENTRYPOINT ["/usr/bin/tini","--"]'
)

# argocd_build : builds upstream's argocd main once per wrapper-module state and version, and sets
# ARGOCD_BIN to the directory holding it (a variable, not output: a failure inside $(...) would
# not stop the build).
argocd_build() {
  local key out pkg=github.com/argoproj/argo-cd/v3/common kubectl ld
  key=$( { cat "$argocd_mod/go.mod" "$argocd_mod/go.sum"
           echo "$ARGOCD_VERSION $ARGOCD_GIT_COMMIT $ARGOCD_BUILD_DATE"; } | sha256sum | cut -c1-12)
  out="$GO_OUT/argocd-$ARGOCD_VERSION-$key"
  ARGOCD_BIN=$out
  [[ $ARGOCD_VERSION == v* ]] || { say "argocd: no github.com/argoproj/argo-cd/v3 version in $argocd_mod/go.mod"; return 1; }
  [[ -x $out/argocd ]] && return
  say "argocd $ARGOCD_VERSION: building upstream's multi-call main (first time: 15-30 min on 2 cores)"
  # The Makefile's KUBECTL_VERSION: the client-go version the build resolves (v0.34.0, replaced).
  kubectl=$(cd "$argocd_mod" && go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/client-go)
  [[ -n $kubectl ]] || { say "argocd: cannot resolve k8s.io/client-go in $argocd_mod"; return 1; }
  # The Makefile's LDFLAGS as the release workflow sets them (GIT_TAG, GIT_COMMIT, clean tree), so
  # `argocd version` says v3.2.11 like upstream's, plus -s -w.
  ld="-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.buildDate=$ARGOCD_BUILD_DATE"
  ld+=" -X $pkg.gitCommit=$ARGOCD_GIT_COMMIT -X $pkg.gitTreeState=clean"
  ld+=" -X $pkg.kubectlVersion=$kubectl -X $pkg.gitTag=$ARGOCD_VERSION"
  mkdir -p "$out.tmp"
  ( cd "$argocd_mod" && CGO_ENABLED=0 nice go build -trimpath -ldflags "$ld" \
      -o "$out.tmp/argocd" github.com/argoproj/argo-cd/v3/cmd ) >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# argocd_tools_build : helm and kustomize as their release builds stamp them, once per version;
# sets ARGOCD_TOOLS_BIN. (Not go_install_into: it names the binary after the module path's last
# element, which for sigs.k8s.io/kustomize/kustomize/v5 is "v5".)
argocd_tools_build() {
  local h=helm.sh/helm/v3 hmod k8s_minor ld kld key out
  kld="-s -w -X sigs.k8s.io/kustomize/api/provenance.version=$ARGOCD_KUSTOMIZE_VERSION"
  kld+=" -X sigs.k8s.io/kustomize/api/provenance.buildDate=$ARGOCD_KUSTOMIZE_BUILD_DATE"
  key=$(echo "$ARGOCD_HELM_COMMIT $kld" | sha256sum | cut -c1-12)
  out="$GO_OUT/argocd-tools-helm-$ARGOCD_HELM_VERSION-kustomize-$ARGOCD_KUSTOMIZE_VERSION-$key"
  ARGOCD_TOOLS_BIN=$out
  [[ -x $out/helm && -x $out/kustomize ]] && return
  say "helm $ARGOCD_HELM_VERSION, kustomize $ARGOCD_KUSTOMIZE_VERSION: go install"
  mkdir -p "$out.tmp"
  # helm's Makefile on a tag: version, empty metadata, commit, clean tree, and the default
  # Kubernetes version for templates from its client-go (v0.33.x -> 1.33).
  go mod download "$h@$ARGOCD_HELM_VERSION" >&2
  hmod=$(go mod download -json "$h@$ARGOCD_HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  k8s_minor=$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "$hmod")
  [[ -n $k8s_minor ]] || { say "helm: cannot find its k8s.io/client-go version in $hmod"; return 1; }
  ld="-s -w -X $h/internal/version.version=$ARGOCD_HELM_VERSION -X $h/internal/version.metadata="
  ld+=" -X $h/internal/version.gitCommit=$ARGOCD_HELM_COMMIT -X $h/internal/version.gitTreeState=clean"
  ld+=" -X $h/pkg/lint/rules.k8sVersionMajor=1 -X $h/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ld+=" -X $h/pkg/chartutil.k8sVersionMajor=1 -X $h/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  CGO_ENABLED=0 GOBIN="$out.tmp" nice go install -trimpath -ldflags "$ld" "$h/cmd/helm@$ARGOCD_HELM_VERSION" >&2
  # kustomize's releasing/create-release.sh: version and build date (Argo CD parses the semver
  # out of `kustomize version --short` to pick flags).
  CGO_ENABLED=0 GOBIN="$out.tmp" nice go install -trimpath -ldflags "$kld" \
    "sigs.k8s.io/kustomize/kustomize/v5@$ARGOCD_KUSTOMIZE_VERSION" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_rootfs() {
  local dir=$1 src f
  argocd_build
  argocd_tools_build
  ( cd "$argocd_mod" && go mod download github.com/argoproj/argo-cd/v3 ) >&2
  src=$(cd "$argocd_mod" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
  [[ -f $src/Dockerfile ]] || { say "argocd: module source not found ($src)"; return 1; }

  # ../platform/lib.sh's list (git, git-lfs, tini, gnupg, tzdata, connect-proxy, openssh-client,
  # ca-certificates); the static images take their CA bundle from the same cached tree.
  debian_rootfs "$dir.debian.tar" "${PLATFORM_DEBIAN_PACKAGES[@]}"
  tar -C "$dir" --numeric-owner -xpf "$dir.debian.tar"
  rm -f "$dir.debian.tar"
  # The runtime mounts /dev; the tree's device nodes (console, ptmx, tty...) are not wanted.
  rm -rf "$dir"/dev/*
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/var/log/* "$dir"/var/cache/debconf/*-old

  # groupadd -g 999 argocd; useradd -r -u 999 -g argocd argocd (home /home/argocd, shell /bin/sh).
  if grep -q '^[^:]*:[^:]*:999:' "$dir/etc/passwd" "$dir/etc/group"; then
    say "argocd: uid or gid 999 already taken in the Debian tree"; return 1
  fi
  echo 'argocd:x:999:999::/home/argocd:/bin/sh' >> "$dir/etc/passwd"
  echo 'argocd:x:999:' >> "$dir/etc/group"
  [[ -f $dir/etc/shadow ]] && echo 'argocd:!:20000::::::' >> "$dir/etc/shadow"
  [[ -f $dir/etc/gshadow ]] && echo 'argocd:!::' >> "$dir/etc/gshadow"
  install -d -o 999 -g 0 -m 0775 "$dir/home/argocd"

  install -m 0755 "$ARGOCD_BIN/argocd" "$dir/usr/local/bin/argocd"
  for f in argocd-server argocd-repo-server argocd-cmp-server argocd-application-controller \
           argocd-dex argocd-notifications argocd-applicationset-controller argocd-k8s-auth \
           argocd-commit-server; do
    ln -s /usr/local/bin/argocd "$dir/usr/local/bin/$f"
  done
  install -m 0755 "$ARGOCD_TOOLS_BIN/helm" "$ARGOCD_TOOLS_BIN/kustomize" "$dir/usr/local/bin/"
  install -m 0755 "$src/hack/gpg-wrapper.sh" "$src/hack/git-verify-wrapper.sh" "$src/entrypoint.sh" \
    "$dir/usr/local/bin/"
  ln -s /usr/local/bin/entrypoint.sh "$dir/usr/local/bin/uid_entrypoint.sh"

  # Configuration mounted from config maps and secrets (common.go's /app/config paths).
  install -d -m 0755 "$dir/app/config/ssh" "$dir/app/config/tls" "$dir/app/config/gpg/source"
  install -d -o 999 -m 0700 "$dir/app/config/gpg/keys"
  : > "$dir/app/config/ssh/ssh_known_hosts"
  mkdir -p "$dir/etc/ssh"
  ln -sfn /app/config/ssh/ssh_known_hosts "$dir/etc/ssh/ssh_known_hosts"
}
