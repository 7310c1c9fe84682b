"""The platform as real pods on a real kind cluster: MetalLB, Sealed Secrets and Argo CD from
their pinned upstream manifests and chart (`mode: manifests`, applied unchanged, checksums as
pinned), their images served under the upstream names by the tier's registry. One cluster for
the module: the whole platform on one node takes about three minutes on 2 cores."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bootstrap.artifacts import pins
from tests.docker.tier import (
    PROBE_IMAGE,
    Probe,
    api,
    created_by_up,
    docker,
    invoke,
    kind_config,
    last_report,
    stage_of,
    unique,
    wait_for,
    write_profile,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

BIN = Path.home() / ".cache" / "clusterboot" / "bin"
ARGOCD = BIN / "argocd-v3.2.11"          # make argocd: the module's install.yaml, helm
METALLB = BIN / "metallb-v0.15.2"         # make binaries: the module's metallb-native.yaml
SEALED_SECRETS = BIN / "sealed-secrets-v0.36.6"  # make binaries: the chart, kubeseal
PLATFORM_NAMESPACES = ("argocd", "metallb-system", "kube-system")
NOT_BUILT = {"argocd-dex-server"}  # dex: no source on the module proxy (docs/docker-tier.md)


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


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory,
             monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("platform")
    name = unique("cb-plat")
    chart = pins.DEFAULT_CHARTS[("sealed_secrets", "v0.36.6")]
    config = kind_config(directory)
    profile = write_profile(directory, "tierplatform", {
        "extends": "kind",
        "cluster": {"name": name, "kind": {"config": str(config)}},
        "components": {
            "metallb": {"source": pinned("metallb", "v0.15.2",
                                         METALLB / "metallb-native.yaml")},
            "argocd": {"source": pinned("argocd", "v3.2.11",
                                        ARGOCD / "manifests" / "install.yaml")},
            "sealed_secrets": {"chart": {
                "repository": f"file://{chart_repository(directory)}", "chart": chart.chart,
                "version": chart.version, "values": chart.values}},
        },
        "root_app": {"enabled": False},
    })
    # helm renders the chart; a user has it on PATH, here it is the one `make argocd` built.
    monkeypatch_module.setenv("PATH", f"{ARGOCD}:{os.environ['PATH']}")
    with created_by_up(profile, ["kind", "delete", "cluster", "--name", name]):
        yield profile


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def kubeconfig(profile: Path) -> Path:
    return profile.parent / "state" / "kubeconfig"


def pods(profile: Path) -> list[dict[str, Any]]:
    with api(kubeconfig(profile)) as c:
        found = []
        for namespace in PLATFORM_NAMESPACES:
            for pod in client.CoreV1Api(c).list_namespaced_pod(namespace).items:
                found.append(c.sanitize_for_serialization(pod))
        return found


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def test_every_platform_pod_runs_the_image_its_upstream_manifest_names(platform: Path) -> None:
    upstream = (ARGOCD / "manifests" / "install.yaml").read_text() + (
        METALLB / "metallb-native.yaml").read_text()
    chart_image = "docker.io/bitnami/sealed-secrets-controller:0.36.6"  # chart 2.18.4 + tag pin
    seen = set()
    for pod in pods(platform):
        name = pod["metadata"]["name"]
        if pod["metadata"]["namespace"] == "kube-system" and not name.startswith("sealed"):
            continue  # kind's own pods
        for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            image = container["image"]
            seen.add(image)
            assert f"image: {image}" in upstream or image == chart_image, (
                pod["metadata"]["name"], image)
    assert {"quay.io/argoproj/argocd:v3.2.11", "quay.io/metallb/speaker:v0.15.2",
            "quay.io/metallb/controller:v0.15.2", chart_image} <= seen


def test_the_platform_runs_as_real_pods_every_one_ready_but_the_unbuildable_dex(
    platform: Path,
) -> None:
    def all_ready() -> list[str] | None:
        waiting = [p["metadata"]["name"] for p in pods(platform) if not ready(p)
                   and not any(p["metadata"]["name"].startswith(n) for n in NOT_BUILT)]
        return None if waiting else ["ok"]

    wait_for("every platform pod Ready", all_ready, timeout=300)
    found = pods(platform)
    for prefix in ("argocd-application-controller", "argocd-repo-server", "argocd-server",
                   "argocd-redis", "argocd-applicationset-controller", "controller-",
                   "speaker-", "sealed-secrets-controller"):
        matching = [p for p in found if p["metadata"]["name"].startswith(prefix)]
        assert matching, prefix
        for pod in matching:
            statuses = pod["status"]["containerStatuses"]
            assert all(s["containerID"].startswith("containerd://") for s in statuses), pod
    argocd = stage_of(last_report(platform), "argocd")
    assert argocd["status"] in {"changed", "unchanged"}, argocd
    # dex has no image here: not waited for, and said so
    assert "not waited for, and not ready" in argocd["why"], argocd
    assert "argocd-dex-server" in argocd["why"], argocd


def test_a_load_balancer_address_from_the_kind_network_answers_from_the_tier(
    platform: Path,
) -> None:
    with api(kubeconfig(platform)) as c:
        pool = client.CustomObjectsApi(c).get_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools", "default")
        lb_range = pool["spec"]["addresses"][0]  # taken from the kind network by cluster_kind
        apps, core = client.AppsV1Api(c), client.CoreV1Api(c)
        labels = {"app": "cb-web"}
        apps.create_namespaced_deployment("default", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cb-web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                         "name": "httpd", "image": PROBE_IMAGE,
                         "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                         "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                     }]}}}})
        core.create_namespaced_service("default", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "cb-web"},
            "spec": {"type": "LoadBalancer", "selector": labels,
                     "ports": [{"port": 80, "targetPort": 8080}]}})

        def address() -> str | None:
            ingress = core.read_namespaced_service("cb-web", "default").status.load_balancer
            return (ingress.ingress or [None])[0] and ingress.ingress[0].ip

        ip = wait_for("a LoadBalancer address", address, timeout=180)
    first, _, last = lb_range.partition("-")
    assert _octets(first) <= _octets(ip) <= _octets(last), (ip, lb_range)
    kind_subnets = docker("network", "inspect", "kind", "--format",
                          "{{range .IPAM.Config}}{{.Subnet}} {{end}}").stdout.split()
    assert any(ipaddress.ip_address(ip) in ipaddress.ip_network(net) for net in kind_subnets)
    page = wait_for("the page through the LoadBalancer address",
                    Probe({}, ip, 80).get, timeout=120)
    assert "clusterboot probe" in page


def _octets(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split("."))


def test_a_sealed_secret_is_unsealed_by_the_controller_pod(platform: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "db", "namespace": "default"},
              "stringData": {"password": "not-a-real-password-4f9c"}}
    sealed = subprocess.run(
        [str(SEALED_SECRETS / "kubeseal"), "--kubeconfig", str(kubeconfig(platform)),
         "--controller-namespace", "kube-system", "--controller-name",
         "sealed-secrets-controller", "--format", "json"],
        input=json.dumps(secret), capture_output=True, text=True, check=True, timeout=120)
    document = json.loads(sealed.stdout)
    assert "not-a-real-password" not in sealed.stdout
    with api(kubeconfig(platform)) as c:
        client.CustomObjectsApi(c).create_namespaced_custom_object(
            "bitnami.com", "v1alpha1", "default", "sealedsecrets", document)
        core = client.CoreV1Api(c)
        unsealed = wait_for("the Secret unsealed",
                            lambda: core.read_namespaced_secret("db", "default"), timeout=120)
    assert base64.b64decode(unsealed.data["password"]).decode() == "not-a-real-password-4f9c"


def test_a_second_up_changes_nothing(platform: Path) -> None:
    run = invoke("up", platform)

    assert run.code == 0, run
    changed = {s["name"]: s["changes"] for s in last_report(platform)["stages"] if s["changes"]}
    assert changed == {}, changed
