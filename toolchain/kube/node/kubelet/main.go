// Command kubelet is the upstream kubelet, linked from the k8s.io/kubernetes module (for the kind
// node image, toolchain/images/recipes/kind-node.sh; kept out of ./cmd so toolchain/build.sh's
// control-plane build does not pick it up).
package main

import (
	"context"
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() { os.Exit(cli.Run(app.NewKubeletCommand(context.Background()))) }
