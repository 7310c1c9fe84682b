"""A repository changed between two `up` runs, with the real Argo CD (local processes) on the
local profile: apps moved to earlier and later waves, removed (pruned), added to a wave, and
the root pointed at another path. The walk must plan from the root's comparison of the new
commit: waves entered in ascending order of their new numbers, pruned apps never waited on,
no empty wave, and the cluster's objects as the repository says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bootstrap.commands import app
from tests.integration.localcluster import LocalCluster, write_profile
from tests.integration.test_real_argocd import ARGOCD_VERSION, needs_argocd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

NAMESPACE = "repo-change"


def application(name: str, wave: int) -> str:
    return f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
  annotations:
    argocd.argoproj.io/sync-wave: "{wave}"
spec:
  project: default
  source: {{repoURL: REPO_URL, targetRevision: HEAD, path: apps/{name}}}
  destination: {{server: https://kubernetes.default.svc, namespace: {NAMESPACE}}}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
"""


def config_map(name: str) -> str:
    return f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: {NAMESPACE}}}
data: {{app: {name}}}
"""


def write_repo(source: Path, roots: dict[str, dict[str, int]]) -> None:
    """``roots``: root path -> {app: wave}; every app gets a ConfigMap of its own name."""
    shutil.rmtree(source, ignore_errors=True)
    namespace = source / "apps" / "namespace"
    namespace.mkdir(parents=True)
    (namespace / "ns.yaml").write_text(
        f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
    )
    for path, apps in roots.items():
        (source / path).mkdir(parents=True)
        for name, wave in apps.items():
            (source / path / f"{name}.yaml").write_text(application(name, wave))
            if name != "namespace":
                (source / "apps" / name).mkdir(parents=True, exist_ok=True)
                (source / "apps" / name / "cm.yaml").write_text(config_map(name))


def events(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def walked(cluster: LocalCluster, *sets: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    code, out, err = cluster.up(*sets)
    assert code == 0, out + err[-4000:]
    report = json.loads((cluster.state_dir / "reports" / "last-up.json").read_text())
    return events(err), report


def report_waves(report: dict[str, Any]) -> dict[int, set[str]]:
    return {w["wave"]: {a["name"] for a in w["apps"]} for w in report["waves"]}


def assert_walk(
    seen: list[dict[str, Any]], report: dict[str, Any], waves: dict[int, set[str]], pruned: set[str]
) -> None:
    started = [e["wave"] for e in seen if e.get("event") == "wave.start"]
    assert started == sorted(started), started  # never a lower wave after a higher one
    assert [w["wave"] for w in report["waves"]] == sorted(waves)
    assert report_waves(report) == waves
    assert all(w["apps"] for w in report["waves"]), "an empty wave was reported"
    for event in seen:  # no wave waited on an app the root prunes
        if event.get("event") == "wave.start":
            assert not set(event["apps"]) & pruned, event
        if event.get("event") == "progress":
            assert not any(f"slowest {name}:" in event["message"] for name in pruned), event
    assert set(report.get("pruned") or []) <= pruned, report.get("pruned")


def live_maps(cluster: LocalCluster) -> set[str]:
    items, _ = cluster.kube().list("v1", "ConfigMap", namespace=NAMESPACE)
    return {i["metadata"]["name"] for i in items} - {"kube-root-ca.crt"}


def live_apps(cluster: LocalCluster) -> set[str]:
    items, _ = cluster.kube().list("argoproj.io/v1alpha1", "Application", namespace="argocd")
    return {i["metadata"]["name"] for i in items} - {"root"}


@needs_argocd
def test_a_changed_repository_is_walked_as_it_is_now(tmp_path: Path) -> None:
    source = tmp_path / "gitops"
    first = {"namespace": -3, "a": -1, "b": 1, "c": 1, "f": 1, "e": 3}
    write_repo(source, {"root": first})
    cluster = write_profile(
        tmp_path,
        "repochange",
        components={
            "argocd": {"enabled": True, "mode": "processes", "version": ARGOCD_VERSION},
        },
        root_app={"name": "root", "repo_url": f"sandbox:{source}", "path": "root"},
        waves={"deadline_seconds": 300, "progressing_grace_seconds": 60},
    )
    try:
        seen, report = walked(cluster)
        assert_walk(
            seen, report, {-3: {"namespace"}, -1: {"a"}, 1: {"b", "c", "f"}, 3: {"e"}}, set()
        )
        assert live_maps(cluster) == {"a", "b", "c", "f", "e"}

        # a moves earlier, b later, c is removed, d joins wave 1.
        second = {"namespace": -3, "a": -2, "b": 7, "f": 1, "d": 1, "e": 3}
        write_repo(source, {"root": second})
        inv, out, _ = cluster.invocation()
        assert app.plan(inv) == 0
        told = out.getvalue()
        for line in (
            "a moves from wave -1 to wave -2",
            "b moves from wave 1 to wave 7",
            "c is pruned (was in wave 1)",
            "d appears in wave 1",
        ):
            assert line in told, told
        seen, report = walked(cluster)
        waves = {-3: {"namespace"}, -2: {"a"}, 1: {"d", "f"}, 3: {"e"}, 7: {"b"}}
        assert_walk(seen, report, waves, {"c"})
        assert live_apps(cluster) == set(second)
        assert live_maps(cluster) == {"a", "b", "f", "d", "e"}

        # The root pointed at another path; one child name (e) is shared with the old set.
        write_repo(source, {"root": second, "next": {"namespace": -3, "e": 2, "x": 0}})
        seen, report = walked(cluster, "root_app.path=next")
        waves = {-3: {"namespace"}, 0: {"x"}, 2: {"e"}}
        assert_walk(seen, report, waves, {"a", "b", "d", "f"})
        assert live_apps(cluster) == {"namespace", "e", "x"}
        assert live_maps(cluster) == {"e", "x"}
    finally:
        cluster.down()
