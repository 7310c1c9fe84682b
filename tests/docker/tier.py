"""What the Docker tier's tests share: the tier they run inside (its engine, its sealed network
namespace), profiles that extend the shipped ones, clusterboot's commands run in-process, and a
probe workload whose pod really runs and answers through its Service."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from bootstrap import wait
from bootstrap.commands import app
from bootstrap.wait import Verdict
from tests import own_networks

NETNS = "clusterboot-tier"
RUN_VIA = "make e2e (or: bash toolchain/docker-tier.sh run -- .venv/bin/pytest tests/docker)"
PLATFORM_OFF = {c: {"enabled": False} for c in ("metallb", "argocd", "sealed_secrets")}
PROBE_IMAGE = "docker.io/library/busybox:1.37"  # the tier's probe image (toolchain/images)


def outside_tier() -> str | None:
    """Why this process is not inside the tier's namespace, or None when it is."""
    if not os.environ.get("CLUSTERBOOT_DOCKER_TIER"):
        return f"not run inside the Docker tier: {RUN_VIA}"
    ns = Path("/run/netns") / NETNS
    if not ns.exists() or ns.stat().st_ino != Path("/proc/self/ns/net").stat().st_ino:
        return f"not inside network namespace {NETNS}: {RUN_VIA}"
    return None


def routes() -> list[dict[str, Any]]:
    shown = subprocess.run(["ip", "-j", "-4", "route", "show"], capture_output=True, text=True,
                           check=True).stdout
    found: list[dict[str, Any]] = json.loads(shown or "[]")
    return found


def own_networks_now() -> list[ipaddress.IPv4Network]:
    """The namespace's directly connected networks (its bridges: no gateway, no default) and
    its own addresses (the registry's, on loopback)."""
    shown = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True,
                           check=True).stdout
    own = [ipaddress.IPv4Network(f"{a['local']}/32") for link in json.loads(shown or "[]")
           for a in link.get("addr_info", [])]
    return own + [ipaddress.IPv4Network(r["dst"]) for r in routes()
                  if r["dst"] != "default" and "gateway" not in r]


def docker(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


def tool(*argv: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """kind or k3d itself, as a user runs it."""
    return subprocess.run(list(argv), capture_output=True, text=True, check=check,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def write_profile(directory: Path, name: str, data: dict[str, Any]) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "state_dir": str(directory / "state"), **data}))
    return path


@dataclass
class Run:
    code: int
    text: str

    def __str__(self) -> str:
        return f"exit {self.code}\n{self.text}"


def invoke(command: str, profile: Path, *sets: str, **options: Any) -> Run:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), sets=sets, log_format="console", out=out, err=err,
                         **options)
    commands: dict[str, Callable[[app.Invocation], int]] = {
        "up": app.up, "down": app.down, "plan": app.plan, "status": app.status,
    }
    code = commands[command](inv)
    return Run(code, out.getvalue() + err.getvalue())


def last_report(profile: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (profile.parent / "state" / "reports" / "last-up.json").read_text())
    return report


def stage_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    stage: dict[str, Any] = next(s for s in report["stages"] if s["name"] == name)
    return stage


def api(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def wait_for(what: str, check: Callable[[], Any], *, timeout: float = 300,
             every: float = 2) -> Any:
    """``check()``'s first truthy answer, waited for through ``wait.until`` (an exception is
    one more try); fails naming ``what`` and the last answer."""
    found: list[Any] = []

    def look() -> Verdict:
        try:
            answer = check()
        except Exception as err:  # an answer not there yet is one more try
            return Verdict.waiting(f"last answer: {err!r}")
        if answer:
            found.append(answer)
            return Verdict.passed(what)
        return Verdict.waiting(f"last answer: {answer!r}")

    wait.until(look, what=what, deadline=timeout, clock=wait.RealClock(), interval=every,
               max_interval=every)
    return found[0]


@dataclass
class Probe:
    pod: dict[str, Any]
    node_ip: str
    node_port: int

    def get(self) -> str:
        own_networks.OWN_NETWORKS[:] = own_networks_now()
        with socket.create_connection((self.node_ip, self.node_port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")


def run_probe(kubeconfig: Path, namespace: str = "default") -> Probe:
    """A Deployment serving a page from a real container, behind a NodePort Service; returns
    once its pod is Ready."""
    with api(kubeconfig) as c:
        apps, core = client.AppsV1Api(c), client.CoreV1Api(c)
        labels = {"app": "cb-probe"}
        apps.create_namespaced_deployment(namespace, {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cb-probe"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                         "name": "httpd", "image": PROBE_IMAGE, "imagePullPolicy": "Always",
                         "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                         "ports": [{"containerPort": 8080}],
                         "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                     }]}}},
        })
        service = core.create_namespaced_service(namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "cb-probe"},
            "spec": {"type": "NodePort", "selector": labels,
                     "ports": [{"port": 80, "targetPort": 8080}]},
        })

        def ready_pod() -> dict[str, Any] | None:
            pods = core.list_namespaced_pod(namespace, label_selector="app=cb-probe").items
            for pod in pods:
                conditions = {c.type: c.status for c in pod.status.conditions or []}
                if conditions.get("Ready") == "True":
                    out: dict[str, Any] = c.sanitize_for_serialization(pod)
                    return out
            return None

        pod = wait_for("the probe pod Ready", ready_pod, timeout=300)
        node = core.read_node(pod["spec"]["nodeName"])
        node_ip = next(a.address for a in node.status.addresses if a.type == "InternalIP")
        return Probe(pod, node_ip, int(service.spec.ports[0].node_port))


def assert_probe_runs_and_answers(kubeconfig: Path) -> None:
    """A pod whose container really runs (containerd) and answers through its NodePort."""
    probe = run_probe(kubeconfig)
    container_id = probe.pod["status"]["containerStatuses"][0]["containerID"]
    assert container_id.startswith("containerd://"), container_id
    assert "clusterboot probe" in wait_for("the probe page", probe.get, timeout=60)


def assert_rerun_is_a_no_op(profile: Path, stage_name: str) -> None:
    run = invoke("up", profile)
    assert run.code == 0, run
    stage = stage_of(last_report(profile), stage_name)
    assert (stage["status"], stage["changes"]) == ("unchanged", []), stage


@contextlib.contextmanager
def created_by_up(profile: Path, delete: list[str]) -> Iterator[Path]:
    """The cluster ``up`` makes from ``profile``; deleted with ``delete`` whatever happened."""
    run = invoke("up", profile)
    try:
        assert run.code == 0, run
        yield profile
    finally:
        tool(*delete, check=False)


EVICTION_PATCH = (
    "kind: KubeletConfiguration\n"
    "evictionHard: {imagefs.available: 1%, nodefs.available: 1%, nodefs.inodesFree: 1%}\n"
)
"""The tier's nodes share this machine's disk with the builds' caches; kubelet's default
eviction (15% free) would taint them DiskPressure."""


def kind_config(directory: Path, *patches: str) -> Path:
    """A kind ``Cluster`` file whose kubelets evict at 1%, with ``patches`` besides."""
    path = directory / "kind-cluster.yaml"
    path.write_text(yaml.safe_dump({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                                    "kubeadmConfigPatches": [*patches, EVICTION_PATCH]}))
    return path


def containers_of(label: str) -> list[str]:
    shown = docker("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}").stdout
    return shown.split()


def network_exists(name: str) -> bool:
    return name in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
