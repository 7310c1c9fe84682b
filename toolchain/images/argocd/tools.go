//go:build tools

// Package tools pins what recipes/argocd.sh builds: upstream's multi-call main
// (github.com/argoproj/argo-cd/v3/cmd, the binary of quay.io/argoproj/argocd), resolved with the
// requires and replaces of ../../argocd/go.mod (a copy of argo-cd v3.2.11's replaces) so it links
// the same versions as the project's own Argo CD build. Never built: the `tools` tag only keeps
// `go mod tidy` from dropping the requirement.
package tools

import (
	_ "github.com/argoproj/argo-cd/v3/cmd"
)
