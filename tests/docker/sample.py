"""The whole product on a real cluster of the tier, shared by the kind and k3d end-to-end
modules: the platform from its pinned upstream manifests and chart (read from the modules they
were built from, at their pinned sha256), the sample repository as a `sandbox:` with its web
Service a LoadBalancer, and the checks of what a user would look at afterwards."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.stream import stream

from bootstrap.artifacts import pins
from tests import own_networks
from tests.docker.tier import (
    api,
    created_by_up,
    docker,
    invoke,
    last_report,
    own_networks_now,
    wait_for,
)
from tests.integration.sealing_keys import identity

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "gitops-sandbox"
WAVES = {-1: ["namespaces"], 1: ["postgres"], 2: ["monitoring", "monitoring-crds"], 3: ["web"],
         30: ["shop"]}
PASSWORD = "sandbox-only-not-a-real-password"  # the sample's, in apps/postgres/credentials.yaml

BIN = Path.home() / ".cache" / "clusterboot" / "bin"
ARGOCD = BIN / "argocd-v3.2.11"          # make argocd: the module's install.yaml, helm
METALLB = BIN / "metallb-v0.15.2"         # make binaries: the module's metallb-native.yaml
SEALED_SECRETS = BIN / "sealed-secrets-v0.36.6"  # make binaries: the chart, kubeseal


def pinned(component: str, version: str, local: Path) -> dict[str, str]:
    """The upstream file at its pinned sha256, read from the module it was built from."""
    pin = pins.DEFAULT_SOURCES[(component, version)]
    return {"url": f"file://{local}", "sha256": pin.sha256}


def chart_repository(directory: Path) -> Path:
    """Sealed Secrets' chart from its module, packaged into a file:// chart repository."""
    repo = directory / "charts"
    repo.mkdir()
    home = {f"HELM_{k}_HOME": str(directory / f"helm-{k.lower()}") for k in ("CACHE", "CONFIG",
                                                                              "DATA")}
    helm = str(ARGOCD / "helm")
    for argv in ([helm, "package", str(SEALED_SECRETS / "chart"), "-d", str(repo)],
                 [helm, "repo", "index", str(repo)]):
        subprocess.run(argv, check=True, capture_output=True, env={"PATH": "/usr/bin:/bin",
                                                                   **home})
    return repo


def platform_components(directory: Path) -> dict[str, Any]:
    """``components`` of a profile: the three as pods, from the pinned upstream files."""
    chart = pins.DEFAULT_CHARTS[("sealed_secrets", "v0.36.6")]
    return {
        "metallb": {"source": pinned("metallb", "v0.15.2", METALLB / "metallb-native.yaml")},
        "argocd": {"source": pinned("argocd", "v3.2.11", ARGOCD / "manifests" / "install.yaml")},
        "sealed_secrets": {
            "chart": {"repository": f"file://{chart_repository(directory)}",
                      "chart": chart.chart, "version": chart.version, "values": chart.values},
            "age_identity": str(identity(directory)[0]),  # for backup and dr
        },
    }


def sample_with_load_balancer(directory: Path) -> dict[str, str]:
    """``root_app`` of a profile: a copy of the sample repository, its web app on the overlay
    whose Service is a LoadBalancer."""
    source = directory / "gitops"
    shutil.copytree(SAMPLE, source)
    web = source / "root" / "web.yaml"
    web.write_text(web.read_text().replace("apps/web/overlays/local", "apps/web/overlays/kind"))
    return {"repo_url": f"sandbox:{source}", "path": "root"}


@contextlib.contextmanager
def brought_up(profile: Path, delete: list[str]) -> Iterator[Path]:
    """``up`` from nothing with helm on PATH (the chart is rendered by helm; a user has it,
    here it is the one `make argocd` built); the cluster deleted with ``delete`` after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{ARGOCD}:{os.environ['PATH']}")
        with created_by_up(profile, delete):
            yield profile


def kubeconfig(profile: Path) -> Path:
    return profile.parent / "state" / "kubeconfig"


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def assert_every_app_synced_and_healthy_wave_by_wave(profile: Path) -> None:
    report = last_report(profile)
    walked = {w["wave"]: sorted(a["name"] for a in w["apps"]) for w in report["waves"]}
    assert walked == WAVES, report["waves"]
    assert [w["wave"] for w in report["waves"]] == sorted(WAVES)
    with api(kubeconfig(profile)) as c:
        apps = client.CustomObjectsApi(c).list_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "argocd", "applications")["items"]
    states = {a["metadata"]["name"]: (a["status"]["sync"]["status"],
                                      a["status"]["health"]["status"]) for a in apps}
    assert states == {name: ("Synced", "Healthy") for name in
                      ["root", *(n for names in WAVES.values() for n in names)]}, states


def assert_web_answers_at_its_load_balancer_address(profile: Path, network: str) -> str:
    """web's address is from MetalLB's pool and Docker ``network``, and nginx answers there
    to this process (in the tier's namespace, outside the cluster); the address."""
    with api(kubeconfig(profile)) as c:
        pool = client.CustomObjectsApi(c).get_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools", "default")
        lb_range = pool["spec"]["addresses"][0]  # taken from the Docker network by the stage
        web = client.CoreV1Api(c).read_namespaced_service("web", "web")
    ip = str(web.status.load_balancer.ingress[0].ip)  # Healthy in Argo CD: it has its address
    first, _, last = lb_range.partition("-")
    assert _octets(first) <= _octets(ip) <= _octets(last), (ip, lb_range)
    subnets = docker("network", "inspect", network, "--format",
                     "{{range .IPAM.Config}}{{.Subnet}} {{end}}").stdout.split()
    assert any(ipaddress.ip_address(ip) in ipaddress.ip_network(net) for net in subnets)
    page = wait_for("nginx's page through the LoadBalancer address", lambda: http_get(ip),
                    timeout=120)
    assert "Welcome to nginx!" in page
    return ip


def http_get(address: str, port: int = 80) -> str:
    own_networks.OWN_NETWORKS[:] = own_networks_now()
    with socket.create_connection((address, port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def assert_postgres_runs_with_the_unsealed_password(profile: Path) -> None:
    """The controller pod unsealed the published SealedSecret into the sample's password, and
    the database (Ready) answers a client that gives it."""
    published = (profile.parent / "state" / "gitops-sandbox" / "apps" / "postgres" /
                 "credentials.yaml").read_text()
    assert "kind: SealedSecret" in published
    assert PASSWORD not in published
    with api(kubeconfig(profile)) as c:
        core = client.CoreV1Api(c)
        secret = core.read_namespaced_secret("postgres-credentials", "data")
        password = base64.b64decode(secret.data["password"]).decode()
        assert password == PASSWORD
        assert ready(c.sanitize_for_serialization(core.read_namespaced_pod("postgres-0", "data")))
        # scram over TCP, as a client in the cluster would
        answer = stream(core.connect_get_namespaced_pod_exec, "postgres-0", "data", command=[
            "env", f"PGPASSWORD={password}", "psql", "-h", "127.0.0.1", "-U", "postgres",
            "-d", "shop", "-tAc", "select 40 + 2"], stderr=True, stdout=True, stdin=False,
            tty=False)
    assert answer.strip() == "42", answer


def _octets(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split("."))


PLATFORM_NAMESPACES = ("argocd", "metallb-system", "kube-system")
NOT_BUILT = {"argocd-dex-server"}  # dex: no source on the module proxy (docs/docker-tier.md)
CHART_IMAGE = "docker.io/bitnami/sealed-secrets-controller:0.36.6"  # chart 2.18.4 + tag pin


def platform_pods(profile: Path) -> list[dict[str, Any]]:
    """The pods of the platform's namespaces, but the cluster's own in kube-system."""
    with api(kubeconfig(profile)) as c:
        found = []
        for namespace in PLATFORM_NAMESPACES:
            for pod in client.CoreV1Api(c).list_namespaced_pod(namespace).items:
                name = pod.metadata.name
                if namespace != "kube-system" or name.startswith("sealed-secrets"):
                    found.append(c.sanitize_for_serialization(pod))
        return found


def assert_every_platform_image_is_the_upstream_manifests(profile: Path) -> None:
    """No image was patched away from what the pinned manifests and chart name."""
    upstream = (ARGOCD / "manifests" / "install.yaml").read_text() + (
        METALLB / "metallb-native.yaml").read_text()
    seen = set()
    for pod in platform_pods(profile):
        for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            image = container["image"]
            seen.add(image)
            assert f"image: {image}" in upstream or image == CHART_IMAGE, (
                pod["metadata"]["name"], image)
    assert {"quay.io/argoproj/argocd:v3.2.11", "quay.io/metallb/speaker:v0.15.2",
            "quay.io/metallb/controller:v0.15.2", CHART_IMAGE} <= seen


def assert_the_platform_runs_as_real_pods_all_ready_but_dex(profile: Path) -> None:
    def all_ready() -> list[str] | None:
        waiting = [p["metadata"]["name"] for p in platform_pods(profile) if not ready(p)
                   and not any(p["metadata"]["name"].startswith(n) for n in NOT_BUILT)]
        return None if waiting else ["ok"]

    wait_for("every platform pod Ready", all_ready, timeout=300)
    found = platform_pods(profile)
    for prefix in ("argocd-application-controller", "argocd-repo-server", "argocd-server",
                   "argocd-redis", "argocd-applicationset-controller", "controller-",
                   "speaker-", "sealed-secrets-controller", "clusterboot-sandbox-git"):
        matching = [p for p in found if p["metadata"]["name"].startswith(prefix)]
        assert matching, prefix
        for pod in matching:
            statuses = pod["status"]["containerStatuses"]
            assert all(s["containerID"].startswith("containerd://") for s in statuses), pod


def assert_a_second_up_changes_nothing(profile: Path) -> str:
    """``up`` again changes nothing in any stage; its output."""
    run = invoke("up", profile)
    assert run.code == 0, run
    changed = {s["name"]: s["changes"] for s in last_report(profile)["stages"] if s["changes"]}
    assert changed == {}, changed
    return run.text
