"""``python -m bootstrap.kube.podexec KUBECONFIG CONTEXT NAMESPACE POD COMMAND...``: run
COMMAND in the pod with this process's standard streams as its own, as ``kubectl exec -i``
does, and exit with its status. git runs it as the transport of an ``ext::`` remote, so a push
travels through the Kubernetes API (and its RBAC) instead of a port opened for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bootstrap.errors import ClusterbootError
from bootstrap.kube.client import Kube


def main(argv: list[str]) -> int:
    if len(argv) < 5:
        print(
            "usage: python -m bootstrap.kube.podexec KUBECONFIG CONTEXT NAMESPACE POD COMMAND...",
            file=sys.stderr,
        )
        return 2
    kubeconfig, context, namespace, pod, *command = argv
    try:
        kube = Kube.connect(Path(kubeconfig), context=context or None, request_timeout=60)
        return kube.exec(
            namespace,
            pod,
            command,
            stdin=sys.stdin.buffer,
            stdout=sys.stdout.buffer,
            stderr=sys.stderr.buffer,
        )
    except ClusterbootError as err:
        print(f"clusterboot: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
