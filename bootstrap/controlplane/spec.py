"""The command lines of the local cluster's components, in start order, each with the probe
that says it is ready. Flags follow kwokctl's binary runtime; everything binds to 127.0.0.1.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.controlplane.binaries import Binaries
from bootstrap.controlplane.layout import Layout
from bootstrap.controlplane.pki import Pki
from bootstrap.profile.schema import LocalCluster

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class Ports:
    """Ports inside the cluster's namespace (fixed with isolation, free host ports without)."""

    etcd_client: int = 2379
    etcd_peer: int = 2380
    apiserver: int = 6443
    controller_manager: int = 10257
    scheduler: int = 10259
    kwok: int = 10247

    @classmethod
    def for_isolation(cls, isolation: str, api_port: int) -> Ports:
        if isolation == "netns":
            return cls()
        free = [free_port() for _ in range(5)]
        return cls(free[0], free[1], api_port, free[2], free[3], free[4])


def free_port() -> int:
    """A port nothing on 127.0.0.1 listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keeper_spec(
    cfg: LocalCluster,
    *,
    name: str,
    layout: Layout,
    pki: Pki,
    binaries: Binaries,
    ports: Ports,
) -> dict[str, Any]:
    """The keeper's spec: relays and components, as JSON-ready data."""
    kubeconfig = str(layout.admin_kubeconfig)
    api = f"https://127.0.0.1:{ports.apiserver}"
    etcd_url = f"http://127.0.0.1:{ports.etcd_client}"
    shared = [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]
    components = [
        {
            "name": "etcd",
            "argv": [
                str(binaries.etcd),
                "--name=node0",
                f"--data-dir={layout.etcd_data}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                f"--initial-cluster=node0=http://127.0.0.1:{ports.etcd_peer}",
                "--auto-compaction-retention=1",
                "--quota-backend-bytes=4294967296",
                "--unsafe-no-fsync=true",
            ],
            "ready": {"kind": "http", "url": f"{etcd_url}/health"},
            "ready_timeout": 30,
        },
        {
            "name": "kube-apiserver",
            "argv": [
                str(binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={ports.apiserver}",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                f"--tls-cert-file={pki.admin_cert}",
                f"--tls-private-key-file={pki.admin_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--kubelet-client-certificate={pki.admin_cert}",
                f"--kubelet-client-key={pki.admin_key}",
                *(_audit_flags(layout) if cfg.audit_log else []),
            ],
            "ready": _https(f"{api}/readyz", pki),
            "ready_timeout": 90,
        },
        {
            "name": "kube-controller-manager",
            "argv": [
                str(binaries.kube_controller_manager),
                *shared,
                f"--secure-port={ports.controller_manager}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--node-monitor-grace-period=60s",
                "--concurrent-deployment-syncs=10",
            ],
            "ready": _https(
                f"https://127.0.0.1:{ports.controller_manager}/healthz", pki, insecure=True
            ),
            "ready_timeout": 60,
        },
        {
            "name": "kube-scheduler",
            "argv": [str(binaries.kube_scheduler), *shared, f"--secure-port={ports.scheduler}"],
            "ready": _https(f"https://127.0.0.1:{ports.scheduler}/healthz", pki, insecure=True),
            "ready_timeout": 60,
        },
        {
            "name": "kwok",
            "argv": [
                str(binaries.kwok),
                f"--kubeconfig={kubeconfig}",
                "--manage-all-nodes=true",
                "--node-ip=127.0.0.1",
                f"--node-port={ports.kwok}",
                f"--server-address=127.0.0.1:{ports.kwok}",
                f"--tls-cert-file={pki.admin_cert}",
                f"--tls-private-key-file={pki.admin_key}",
                f"--cidr={POD_CIDR}",
                "--node-lease-duration-seconds=40",
                *[f"--config={stage}" for stage in binaries.kwok_stages],
            ],
            "ready": {"kind": "tcp", "host": "127.0.0.1", "port": ports.kwok},
            "ready_timeout": 30,
        },
    ]
    for component in components:
        component["log"] = str(layout.log_file(str(component["name"])))
    relays = []
    if cfg.isolation == "netns":
        relays.append(
            {"listen": ["127.0.0.1", cfg.api_port], "target": ["127.0.0.1", ports.apiserver]}
        )
    return {
        "name": name,
        "state_dir": str(layout.root),
        "isolation": cfg.isolation,
        "relays": relays,
        "components": components,
        "ports": ports.__dict__,
    }


AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


def audit_log(layout: Layout) -> Path:
    """Every request the API server answered, one JSON event per line (``audit_log: true``)."""
    return layout.logs / "audit.log"


def _audit_flags(layout: Layout) -> list[str]:
    policy = layout.root / "audit-policy.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(AUDIT_POLICY)
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={audit_log(layout)}",
        "--audit-log-format=json",
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
    ]


def _https(url: str, pki: Pki, *, insecure: bool = False) -> dict[str, Any]:
    """A probe that presents the admin certificate (controller-manager/scheduler serve
    self-signed certificates, so those probes skip verification: they only say 'is it up')."""
    return {
        "kind": "https",
        "url": url,
        "ca": None if insecure else str(pki.ca_cert),
        "insecure": insecure,
        "cert": str(pki.admin_cert),
        "key": str(pki.admin_key),
    }
