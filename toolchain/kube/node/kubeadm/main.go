// Command kubeadm is the upstream kubeadm, linked from the k8s.io/kubernetes module (for the kind
// node image, toolchain/images/recipes/kind-node.sh).
package main

import (
	_ "time/tzdata"

	"k8s.io/kubernetes/cmd/kubeadm/app"
	utilerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
)

func main() { utilerrors.HandleError(app.Run()) }
