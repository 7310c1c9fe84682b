// Command kubectl is the upstream kubectl (k8s.io/kubernetes cmd/kubectl), linked from the
// k8s.io/kubectl module at the version k8s.io/kubernetes pins (for the kind node image,
// toolchain/images/recipes/kind-node.sh).
package main

import (
	"os"
	_ "time/tzdata"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
