"""The user-data an OCI instance boots with: the pinned k3s install script and clusterboot's
marker written by cloud-init, the iptables fix Oracle's images need (they REJECT everything but
SSH), then the install with the profile's version and arguments. Pure: text out.

The instance's public address is not known before the launch, so it is not a certificate
SAN: the kubeconfig reaches the public address and verifies the name ``kubernetes``, which
every k3s serving certificate carries.
"""

from __future__ import annotations

import base64
import shlex

import yaml

from bootstrap.components.k3s import config

TLS_SERVER_NAME = "kubernetes"
FLANNEL_VXLAN = 8472
KUBELET = 10250


def open_ports(api_port: int) -> list[str]:
    """Rules inserted before the image's final REJECT: the API, the kubelet, flannel."""
    rules = [
        f"iptables -I INPUT 6 -m state --state NEW -p tcp --dport {api_port} -j ACCEPT",
        f"iptables -I INPUT 6 -m state --state NEW -p tcp --dport {KUBELET} -j ACCEPT",
        f"iptables -I INPUT 6 -p udp --dport {FLANNEL_VXLAN} -j ACCEPT",
    ]
    return [*rules, "(netfilter-persistent save || iptables-save > /etc/iptables/rules.v4) || true"]


def user_data(
    *, script: bytes, version: str, exec_args: list[str], api_port: int, profile: str
) -> str:
    env = config.install_env(version, exec_args)
    install = " ".join(
        [*(shlex.quote(f"{k}={v}") for k, v in env.items()), "sh", config.REMOTE_SCRIPT]
    )
    document = {
        "write_files": [
            {
                "path": config.REMOTE_SCRIPT,
                "permissions": "0700",
                "encoding": "b64",
                "content": base64.b64encode(script).decode(),
            },
            {
                "path": config.MARKER,
                "permissions": "0644",
                "content": config.marker(version, exec_args, profile) + "\n",
            },
        ],
        "runcmd": [*open_ports(api_port), f"env {install}"],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1000)
