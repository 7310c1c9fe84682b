"""cluster_k3s_ssh: k3s on a server reached over SSH (the prodesk profile); the path itself is
in stages/k3s_server.py, which cluster_k3s_oci shares."""

from __future__ import annotations

from stages.k3s_server import K3sServer


class ClusterK3sSsh(K3sServer):
    name = "cluster_k3s_ssh"
    provider = "k3s-ssh"
