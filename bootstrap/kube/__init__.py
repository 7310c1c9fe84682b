"""The API seam: the only package that talks to the Kubernetes API (client, apply, watch, kubeconfig)."""
