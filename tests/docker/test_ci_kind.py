"""`invoke ci` on real kind clusters, as a CI job runs it: an ephemeral cluster of the run's own
with MetalLB as pods, a command that reaches a LoadBalancer address from the job's side of the
Docker network, and the cluster always deleted; a failed command leaves a diagnostics bundle
with the real containers' logs. Each run makes its own cluster (about a minute and a half)."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from bootstrap.commands import app, ci
from tests.docker.sample import METALLB, pinned
from tests.docker.tier import PROBE_IMAGE, kind_config, tool, unique, write_profile

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]

# The job's own check, as a CI pipeline would write it: deploy a page behind a LoadBalancer
# Service, wait for its address, fetch the page from outside the cluster.
REACHES_THE_LOAD_BALANCER = f"""
import os, socket
from kubernetes import client, config
from bootstrap import wait

config.load_kube_config(os.environ["KUBECONFIG"])
apps, core = client.AppsV1Api(), client.CoreV1Api()
labels = {{"app": "ci-page"}}
apps.create_namespaced_deployment("default", {{
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "ci-page"}},
    "spec": {{"replicas": 1, "selector": {{"matchLabels": labels}},
             "template": {{"metadata": {{"labels": labels}}, "spec": {{"containers": [{{
                 "name": "httpd", "image": "{PROBE_IMAGE}",
                 "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}}]}}}}}}}})
core.create_namespaced_service("default", {{
    "apiVersion": "v1", "kind": "Service", "metadata": {{"name": "ci-page"}},
    "spec": {{"type": "LoadBalancer", "selector": labels,
             "ports": [{{"port": 80, "targetPort": 8080}}]}}}})


def page() -> wait.Verdict:
    ingress = core.read_namespaced_service("ci-page", "default").status.load_balancer.ingress
    if not ingress:
        return wait.Verdict.waiting("no LoadBalancer address yet")
    try:
        with socket.create_connection((ingress[0].ip, 80), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            text = sock.makefile("rb").read().decode()
    except OSError as err:
        return wait.Verdict.waiting(f"{{ingress[0].ip}}: {{err}}")
    if "clusterboot probe" not in text:
        return wait.Verdict.waiting(f"{{ingress[0].ip}} answered another page")
    return wait.Verdict.passed(f"page at {{ingress[0].ip}}")


print(wait.until(page, what="the page through the LoadBalancer address", deadline=240,
                 clock=wait.RealClock(), max_interval=2).why)
"""


def ci_profile(directory: Path) -> Path:
    """An ephemeral kind cluster with MetalLB from its pinned manifest, nothing else."""
    return write_profile(directory, "tierci", {
        "extends": "kind",
        "cluster": {"name": unique("cb-ci"), "ephemeral": True,
                    "kind": {"config": str(kind_config(directory))}},
        "components": {
            "metallb": {"source": pinned("metallb", "v0.15.2", METALLB / "metallb-native.yaml")},
            "argocd": {"enabled": False},
            "sealed_secrets": {"enabled": False},
        },
    })


def run_ci(profile: Path, command: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="console", out=io.StringIO(), err=err)
    code = ci.ci(inv, command, report_path=profile.parent / "report.json")
    return code, err.getvalue()


def kind_clusters() -> list[str]:
    return tool("kind", "get", "clusters").stdout.split()


def test_a_ci_run_reaches_the_load_balancer_and_deletes_its_cluster(tmp_path: Path) -> None:
    profile = ci_profile(tmp_path)
    before = kind_clusters()
    code, err = run_ci(profile, [sys.executable, "-c", REACHES_THE_LOAD_BALANCER])
    assert code == 0, err
    assert "tearing the cluster down" in err
    assert kind_clusters() == before  # its own cluster, made and deleted
    assert not list(tmp_path.glob("*diagnostics*"))
    assert not list((tmp_path / "state" / "runs").glob("*"))


def test_a_failed_ci_command_leaves_the_containers_logs_and_no_cluster(tmp_path: Path) -> None:
    profile = ci_profile(tmp_path)
    before = kind_clusters()
    code, err = run_ci(profile, ["sh", "-c", "echo checks failed; exit 3"])
    assert code == 3, err
    assert kind_clusters() == before
    (bundle,) = tmp_path.glob("ci-*-diagnostics.tar.gz")
    assert bundle.stat().st_mode & 0o777 == 0o600
    with tarfile.open(bundle) as opened:
        logs = {
            Path(m.name).relative_to(Path(m.name).parts[0]).as_posix():
            (opened.extractfile(m) or io.BytesIO()).read().decode()
            for m in opened if "/pods/" in f"/{Path(m.name).relative_to(Path(m.name).parts[0])}"
        }
    controller = [text for name, text in logs.items()
                  if name.startswith("pods/metallb-system/controller-")]
    speaker = [text for name, text in logs.items()
               if name.startswith("pods/metallb-system/speaker-")]
    assert controller, sorted(logs)
    assert speaker, sorted(logs)
    # what the controller pod really wrote: MetalLB logs JSON lines naming their caller
    assert '"caller"' in controller[0], controller[0][:500]
