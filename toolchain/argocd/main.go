// Command argocd runs the Argo CD components a local cluster needs as plain processes, linked
// from the github.com/argoproj/argo-cd/v3 module. Like upstream's single binary, it picks the
// component from its own name or from ARGOCD_BINARY_NAME.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	applicationset "github.com/argoproj/argo-cd/v3/cmd/argocd-applicationset-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	apiserver "github.com/argoproj/argo-cd/v3/cmd/argocd-server/commands"
)

func main() {
	name := filepath.Base(os.Args[0])
	if env := os.Getenv("ARGOCD_BINARY_NAME"); env != "" {
		name = env
	}
	commands := map[string]func() *cobra.Command{
		"argocd-application-controller":    appcontroller.NewCommand,
		"argocd-repo-server":               reposerver.NewCommand,
		"argocd-applicationset-controller": applicationset.NewCommand,
		"argocd-server":                    apiserver.NewCommand,
	}
	build, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown Argo CD component %q: set ARGOCD_BINARY_NAME\n", name)
		os.Exit(2)
	}
	if err := build().Execute(); err != nil {
		os.Exit(1)
	}
}
