"""The whole product for real on the local profile: a real Argo CD (built from Go modules, run
as local processes in the cluster's namespace) syncs the sample GitOps repository, served from
a local git repository, and clusterboot walks its waves."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from bootstrap.commands import app
from bootstrap.components.argocd import processes
from bootstrap.controlplane import binaries
from bootstrap.profile.schema import LocalCluster as LocalClusterConfig
from tests.integration.localcluster import LocalCluster, write_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "examples" / "gitops-sandbox"
ARGOCD_VERSION = "v3.2.11"
CREDENTIALS = "apps/postgres/credentials.yaml"
PASSWORD = b"sandbox-only-not-a-real-password"


def argocd_dir() -> Path:
    return processes.bin_dir(binaries.cache_dir(LocalClusterConfig()), ARGOCD_VERSION)


needs_argocd = pytest.mark.skipif(
    not (argocd_dir() / "argocd").is_file(),
    reason=f"Argo CD is not built ({argocd_dir()}): run `make argocd`",
)


def sandbox_profile(directory: Path, name: str, source: Path) -> LocalCluster:
    return write_profile(
        directory,
        name,
        components={
            "argocd": {"enabled": True, "mode": "processes", "version": ARGOCD_VERSION},
            "sealed_secrets": {"enabled": True, "mode": "processes"},
        },
        root_app={"name": "root", "repo_url": f"sandbox:{source}", "path": "root"},
        waves={"deadline_seconds": 420, "progressing_grace_seconds": 150},
    )


def report(cluster: LocalCluster) -> dict[str, object]:
    return json.loads((cluster.state_dir / "reports" / "last-up.json").read_text())


@needs_argocd
def test_the_sample_repository_bootstraps_end_to_end_wave_by_wave(tmp_path: Path) -> None:
    source = tmp_path / "gitops"
    shutil.copytree(SANDBOX, source)
    cluster = sandbox_profile(tmp_path, "sandbox", source)
    try:
        code, out, err = cluster.up()
        assert code == 0, out + err[-4000:]
        data = report(cluster)
        waves = {w["wave"]: sorted(a["name"] for a in w["apps"]) for w in data["waves"]}  # type: ignore[index]
        assert waves == {
            -1: ["namespaces"],
            1: ["postgres"],
            2: ["monitoring", "monitoring-crds"],
            3: ["web"],
            30: ["shop"],
        }
        assert all(
            a["sync"] == "Synced" and a["health"] == "Healthy"
            for w in data["waves"]  # type: ignore[union-attr]
            for a in w["apps"]
        )
        api = cluster.kube()
        web = api.get("apps/v1", "Deployment", "web", "web")
        shop = api.get("apps/v1", "Deployment", "shop", "shop")
        assert (web or {}).get("status", {}).get("readyReplicas") == 2  # the overlay's patch
        assert (shop or {}).get("status", {}).get("readyReplicas") == 2  # values-local.yaml
        assert api.get("monitoring.sandbox.example/v1", "AlertRule", "web-errors", "monitoring")
        # The password went through git only sealed, and the real controller unsealed it.
        published = (cluster.state_dir / "gitops-sandbox" / CREDENTIALS).read_bytes()
        assert PASSWORD not in published
        assert b"kind: SealedSecret" in published
        secret = api.get("v1", "Secret", "postgres-credentials", "data") or {}
        assert base64.b64decode((secret.get("data") or {}).get("password", "")) == PASSWORD
        again, out, err = cluster.up()
        assert again == 0, out + err[-2000:]
        assert {s["status"] for s in report(cluster)["stages"]} == {"unchanged"}  # type: ignore[index]

        # A change in the repository: the walk waits for Argo CD to compare the new commit
        # (which Argo CD would only notice by polling, minutes later) and to apply it.
        patch = source / "apps" / "web" / "overlays" / "local" / "replicas.yaml"
        patch.write_text(patch.read_text().replace("replicas: 2", "replicas: 3"))
        changed, out, err = cluster.up()
        assert changed == 0, out + err[-2000:]
        changes = {s["name"]: s["changes"] for s in report(cluster)["stages"]}  # type: ignore[index]
        assert changes["sandbox_repo"][0].startswith("publish ")
        assert changes["sync_waves"], "the walk did not wait for the new commit"
        web = api.get("apps/v1", "Deployment", "web", "web")
        assert (web or {}).get("spec", {}).get("replicas") == 3

        inv, out, err = cluster.invocation()
        assert app.argocd_password(inv) == 2
        assert "without argocd-server (components.argocd.mode: processes)" in err.getvalue()
        assert out.getvalue() == ""
    finally:
        cluster.down()


@needs_argocd
def test_a_broken_overlay_fails_naming_the_app_and_argo_cds_message(tmp_path: Path) -> None:
    source = tmp_path / "gitops"
    shutil.copytree(SANDBOX, source)
    overlay = source / "apps" / "web" / "overlays" / "local" / "kustomization.yaml"
    overlay.write_text(
        overlay.read_text().replace("path: replicas.yaml", "path: missing-patch.yaml")
    )
    cluster = sandbox_profile(tmp_path, "broken", source)
    try:
        code, out, err = cluster.up()
        text = out + err
        assert code == 1, text[-4000:]
        failed = [s for s in report(cluster)["stages"] if s["status"] == "failed"]  # type: ignore[union-attr]
        assert [s["name"] for s in failed] == ["sync_waves"]
        assert "web" in failed[0]["why"]
        assert "missing-patch.yaml" in failed[0]["why"]
    finally:
        cluster.down()
