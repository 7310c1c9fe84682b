"""The whole product for real on the local profile: a real Argo CD (built from Go modules, run
as local processes in the cluster's namespace) syncs the sample GitOps repository, served from
a local git repository, and clusterboot walks its waves."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
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


def git_repository(directory: Path, files: dict[str, str]) -> Path:
    """A plain git repository with ``files`` in one commit: a remote clusterboot does not
    publish (read by Argo CD through file://), so nothing can be checked before the run."""
    directory.mkdir()
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    author = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], [*author, "commit", "-qm", "one"]):
        subprocess.run(["git", "-C", str(directory), *argv], check=True)
    return directory


def refreshed(err: str) -> list[str]:
    """The apps the walk hard-refreshed, from its JSON log lines."""
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [e["app"] for e in events if e.get("event") == "app.refresh"]


CHILD_WITHOUT_PATH = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd, annotations: {argocd.argoproj.io/sync-wave: "3"}}
spec:
  project: default
  source: {repoURL: "THE_REPO", targetRevision: main, path: apps/wbe}
  destination: {server: https://kubernetes.default.svc, namespace: web}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
"""


@needs_argocd
def test_a_path_missing_from_the_repository_fails_at_once_naming_it_for_the_root_and_a_child(
    tmp_path: Path,
) -> None:
    """Argo CD's repo-server says "<path>: app path does not exist"; the walk hard-refreshes
    once (so it judges the revision as it is now) and fails, long before its deadline."""
    remote = tmp_path / "remote"
    url = f"file://{remote}"
    git_repository(
        remote,
        {
            "clusters/local/web.yaml": CHILD_WITHOUT_PATH.replace("THE_REPO", url),
            "apps/web/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
        },
    )
    cluster = write_profile(
        tmp_path,
        "nopath",
        components={
            "argocd": {"enabled": True, "mode": "processes", "version": ARGOCD_VERSION},
            "metallb": {"enabled": False},
            "sealed_secrets": {"enabled": False},
        },
        root_app={
            "name": "root",
            "repo_url": url,
            "target_revision": "main",
            "path": "clusters/lcoal",
        },
        waves={"deadline_seconds": 300},
    )
    try:
        code, out, err = cluster.up()
        assert code == 1, (out + err)[-4000:]
        stage = next(s for s in report(cluster)["stages"] if s["name"] == "sync_waves")  # type: ignore[union-attr]
        why = stage["why"]
        assert why.startswith(
            f"root Application root: source path clusters/lcoal does not exist in {url} "
            "at revision main"
        ), why
        assert "Argo CD: ComparisonError: Failed to load target state: " in why
        assert "clusters/lcoal: app path does not exist" in why
        assert "hint: check root_app.path" in why
        assert "`git ls-tree -d --name-only main -- clusters/`" in why
        assert stage["seconds"] < 60, stage
        assert refreshed(err) == ["root"]  # once, at once: not three paced ones

        code, out, err = cluster.up("root_app.path=clusters/local")
        assert code == 1, (out + err)[-4000:]
        stage = next(s for s in report(cluster)["stages"] if s["name"] == "sync_waves")  # type: ignore[union-attr]
        why = stage["why"]
        assert why.startswith(
            f"wave 3: web failed: source path apps/wbe does not exist in {url} at revision main"
        ), why
        assert "hint: web: in its spec.source.path" in why
        assert "`git ls-tree -d --name-only main -- apps/`" in why
        assert stage["seconds"] < 60, stage
        assert refreshed(err).count("web") == 1
    finally:
        cluster.down()


def restructured(source: Path, target: Path) -> Path:
    """The sample as a team restructures it in one commit: the root's children move from
    root/ to clusters/local/, and child `namespaces` keeps its name while its path moves from
    apps/namespaces to base/namespaces (the old directory is gone)."""
    shutil.copytree(source, target)
    (target / "clusters").mkdir()
    (target / "root").rename(target / "clusters" / "local")
    (target / "base").mkdir()
    (target / "apps" / "namespaces").rename(target / "base" / "namespaces")
    child = target / "clusters" / "local" / "namespaces.yaml"
    child.write_text(child.read_text().replace("path: apps/namespaces", "path: base/namespaces"))
    assert "base/namespaces" in child.read_text()
    return target


@needs_argocd
def test_a_repository_restructure_succeeds_with_no_failure_from_the_spec_before_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "gitops"
    shutil.copytree(SANDBOX, source)
    cluster = sandbox_profile(tmp_path, "restructure", source)
    try:
        code, out, err = cluster.up()
        assert code == 0, out + err[-4000:]
        moved = restructured(SANDBOX, tmp_path / "gitops-v2")
        code, out, err = cluster.up(
            f"root_app.repo_url=sandbox:{moved}", "root_app.path=clusters/local"
        )
        assert code == 0, out + err[-4000:]  # before: "namespaces failed: source path
        # apps/namespaces does not exist", a verdict on the spec the root was about to replace
        namespaces = cluster.kube().get(argo_api(), "Application", "namespaces", "argocd")
        assert (namespaces or {})["spec"]["source"]["path"] == "base/namespaces"
        data = report(cluster)
        walked = sorted(a["name"] for w in data["waves"] for a in w["apps"])  # type: ignore[union-attr]
        assert walked == ["monitoring", "monitoring-crds", "namespaces", "postgres", "shop", "web"]
    finally:
        cluster.down()


def argo_api() -> str:
    return "argoproj.io/v1alpha1"
