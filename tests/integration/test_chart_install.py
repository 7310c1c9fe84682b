"""A component from a Helm chart, for real: Sealed Secrets' own chart (from the Go module cache
of the module the test tier builds the controller from), packaged with helm and indexed into a
file:// chart repository at test time, rendered by `up` with `helm template` and applied to a
local cluster; the real controller then runs with the chart's service account and RBAC. A
re-run changes nothing; a newer chart version plans an upgrade."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootstrap.artifacts import pins
from bootstrap.commands import app
from bootstrap.components.sealed_secrets import sealing
from bootstrap.stage import Verdict
from tests.integration import platform, sealed_controller
from tests.integration.localcluster import LocalCluster, write_profile
from tests.integration.sealed_controller import VERSION, Controller

ARGOCD_BIN = sealed_controller.BIN_DIR.parent / "argocd-v3.2.11"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (ARGOCD_BIN / "helm").is_file() or not sealed_controller.built(),
        reason="helm (make argocd) and the Sealed Secrets controller (make binaries) are not built",
    ),
]


def upstream_chart() -> Path:
    cache = subprocess.run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    path = Path(cache) / f"github.com/bitnami-labs/sealed-secrets@{VERSION}/helm/sealed-secrets"
    if not path.is_dir():
        pytest.skip(f"no Sealed Secrets chart in the Go module cache at {path}")
    return path


def helm(*args: str, home: Path) -> None:
    env = {
        **os.environ,
        **{k: str(home) for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")},
    }
    subprocess.run([str(ARGOCD_BIN / "helm"), *args], check=True, capture_output=True, env=env)


def chart_version(chart_dir: Path) -> str:
    return str(yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"])


def bumped(chart_dir: Path, into: Path, *, version: str, tag: str) -> Path:
    """A copy of the chart as its next release would be: new chart version, new image tag."""
    copy = into / "sealed-secrets"
    shutil.copytree(chart_dir, copy)
    meta = yaml.safe_load((copy / "Chart.yaml").read_text())
    meta.update(version=version, appVersion=tag)
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta))
    values = yaml.safe_load((copy / "values.yaml").read_text())
    values["image"]["tag"] = tag
    (copy / "values.yaml").write_text(yaml.safe_dump(values))
    return copy


@pytest.fixture
def with_helm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{ARGOCD_BIN}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    made = write_profile(tmp_path, "charts", artifacts={"cache_dir": str(tmp_path / "cache")})
    try:
        yield made
    finally:
        made.down()


def chart_sets(repo: Path, version: str, app_version: str) -> list[str]:
    return [
        "components.sealed_secrets.enabled=true",
        f"components.sealed_secrets.version={app_version}",
        f"components.sealed_secrets.chart.repository={repo.as_uri()}",
        "components.sealed_secrets.chart.chart=sealed-secrets",
        f"components.sealed_secrets.chart.version={version}",
    ]


def has_key(cluster: LocalCluster) -> Verdict:
    if sealing.list_keys(cluster.kube(), "kube-system"):
        return Verdict.passed()
    return Verdict.waiting("no key Secret yet")


def test_sealed_secrets_from_its_chart_installs_reruns_clean_and_plans_an_upgrade(
    tmp_path: Path, with_helm: None, cluster: LocalCluster
) -> None:
    source = upstream_chart()
    repo, home = tmp_path / "repo", tmp_path / "helm-home"
    helm("package", str(source), "-d", str(repo), home=home)
    helm("repo", "index", str(repo), home=home)
    sets = chart_sets(repo, chart_version(source), VERSION)

    platform.up_ok(cluster, *sets)
    ran = platform.stage_report(cluster, "sealed_secrets")
    assert ran["changes"] == [f"install Sealed Secrets {VERSION} into kube-system"]
    api = cluster.kube()
    deployment = api.get("apps/v1", "Deployment", "sealed-secrets-controller", "kube-system")
    assert deployment is not None, "fullnameOverride did not name the controller"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert (
        api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "sealedsecrets.bitnami.com")
        is not None
    )

    with Controller(cluster) as controller:  # the chart's ServiceAccount and RBAC, for real
        controller.wait_for(
            "the controller's first key, made with the chart's RBAC", lambda: has_key(cluster)
        )

    platform.up_ok(cluster, *sets)
    assert platform.stage_report(cluster, "sealed_secrets")["changes"] == []

    newer = bumped(source, tmp_path / "next", version="99.0.0", tag="0.99.0")
    helm("package", str(newer), "-d", str(repo), home=home)
    helm("repo", "index", str(repo), home=home)
    inv, out, err = cluster.invocation(*chart_sets(repo, "99.0.0", "v0.99.0"))
    assert app.plan(inv) == 0, err.getvalue()
    image_tag = deployment["spec"]["template"]["spec"]["containers"][0]["image"].rpartition(":")[2]
    assert f"upgrade Sealed Secrets {image_tag} → v0.99.0" in out.getvalue()


def test_the_default_sealed_secrets_source_is_its_chart_with_the_controller_image_pinned(
    tmp_path: Path, with_helm: None, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No source in the profile: the shipped default chart, its repository swapped for a
    file:// one holding the same chart version (the https one is beyond this machine)."""
    key = ("sealed_secrets", VERSION)
    default = pins.DEFAULT_CHARTS[key]
    source = upstream_chart()
    assert chart_version(source) == default.version, "the default chart is not the one at the tag"
    repo, home = tmp_path / "repo", tmp_path / "helm-home"
    helm("package", str(source), "-d", str(repo), home=home)
    helm("repo", "index", str(repo), home=home)
    local = default.model_copy(update={"repository": repo.as_uri()})
    monkeypatch.setitem(pins.DEFAULT_CHARTS, key, local)

    platform.up_ok(cluster, "components.sealed_secrets.enabled=true")
    assert platform.stage_report(cluster, "sealed_secrets")["changes"] == [
        f"install Sealed Secrets {VERSION} into kube-system"
    ]
    deployment = cluster.kube().get(
        "apps/v1", "Deployment", "sealed-secrets-controller", "kube-system"
    )
    assert deployment is not None
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":" + VERSION.removeprefix("v")), image

    platform.up_ok(cluster, "components.sealed_secrets.enabled=true")
    assert platform.stage_report(cluster, "sealed_secrets")["changes"] == []
