"""k3s on a server reached over SSH: what the install should be (``config``, pure) and the
host it runs on (``host``: probes, uploads, the install script, the kubeconfig, all through
one SSH runner, with sudo when the user is not root)."""
