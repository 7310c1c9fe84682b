"""The root app and the wave walk, through `up`, against the real local API with the Argo CD
simulator playing the application controller. Every scenario checks the order in which waves
were entered and apps gated (from the walk's own events), not only the outcome.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import kube
from bootstrap.commands import app
from bootstrap.waves import rules
from tests.argo_sim import ArgoSim, Records, Scenario, Script, install_crds
from tests.integration.localcluster import LocalCluster

pytestmark = pytest.mark.integration

REPO_URL = "https://git.example.invalid/platform.git"


@dataclass
class Run:
    code: int
    err: str
    seconds: float
    report: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    def stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.report["stages"] if s["name"] == name)

    def named(self, *names: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") in names]

    def waves_entered(self) -> list[int]:
        return [e["wave"] for e in self.named("wave.start")]

    def report_waves(self) -> dict[int, dict[str, tuple[str, str]]]:
        return {
            w["wave"]: {a["name"]: (a["sync"], a["health"]) for a in w["apps"]}
            for w in self.report["waves"]
        }


@dataclass
class Bed:
    """One scenario's namespace, root app name and profile on the session cluster."""

    cluster: LocalCluster
    api: kube.Kube
    directory: Path
    namespace: str
    root: str

    def scenario(self, apps: list[Script], **extra: Any) -> Scenario:
        return Scenario(self.namespace, self.root, apps, **extra)

    def up(self, sim: ArgoSim | None = None, **settings: Any) -> Run:
        profile = self._profile(**settings)
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=err)
        report_file = self.directory / f"report-{uuid.uuid4().hex[:6]}.json"
        started = time.monotonic()
        code = app.up(inv, report_path=report_file)
        seconds = time.monotonic() - started
        events = [json.loads(line) for line in err.getvalue().splitlines() if line.startswith("{")]
        report = json.loads(report_file.read_text())
        return Run(code, out.getvalue() + err.getvalue(), seconds, report, events)

    def _profile(self, *, credentials: dict[str, Any] | None = None, **waves: Any) -> Path:
        body: dict[str, Any] = {
            "extends": str(self.cluster.profile_file),
            "name": self.cluster.profile_file.stem,  # the cluster's context is named after it
            "components": {
                "argocd": {"enabled": False, "namespace": self.namespace},
                "metallb": {"enabled": False},
                "sealed_secrets": {"enabled": False},
            },
            "root_app": {  # explicitly on: Argo CD is the simulator already in the cluster
                "enabled": True,
                "name": self.root,
                "repo_url": REPO_URL,
                "target_revision": "main",
                "path": "clusters/local",
                **({"credentials": credentials} if credentials else {}),
            },
            "waves": {
                "deadline_seconds": 60,
                "progressing_grace_seconds": 30,
                "refresh_after_seconds": 0.2,
                **waves,
            },
        }
        path = self.directory / f"{self.root}.yaml"
        path.write_text(yaml.safe_dump(body))
        return path


@pytest.fixture(scope="module")
def argo_crds(local_cluster: LocalCluster) -> None:
    install_crds(local_cluster.kube())


@pytest.fixture
def bed(
    local_cluster: LocalCluster, api: kube.Kube, argo_crds: None, tmp_path: Path
) -> Iterator[Bed]:
    namespace = f"argocd-{uuid.uuid4().hex[:8]}"
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    yield Bed(local_cluster, api, tmp_path, namespace, f"root-{uuid.uuid4().hex[:6]}")
    api.delete("v1", "Namespace", namespace)


def assert_walked_in_order(run: Run, waves: dict[int, set[str]]) -> None:
    """Waves entered in ascending order; each app gated inside its own wave; every app of a
    wave passed (and the wave was done) before the next wave was entered."""
    assert run.waves_entered() == sorted(waves)
    current: int | None = None
    passed: dict[int, set[str]] = {w: set() for w in waves}
    for event in run.named("wave.start", "app.passed", "wave.done"):
        kind, wave = event["event"], event["wave"]
        if kind == "wave.start":
            assert current is None, f"wave {wave} entered while wave {current} was open"
            assert all(passed[w] == waves[w] for w in waves if w < wave)
            assert set(event["apps"]) == waves[wave]
            current = wave
        elif kind == "app.passed":
            assert wave == current, f"{event['app']} (wave {wave}) passed during wave {current}"
            passed[wave].add(event["app"])
        else:
            assert passed[wave] == waves[wave], f"wave {wave} done with only {passed[wave]}"
            current = None
    assert passed == waves


def assert_report_waves(run: Run, waves: dict[int, set[str]]) -> None:
    seen = run.report_waves()
    assert {w: set(apps) for w, apps in seen.items()} == waves
    assert all(state == ("Synced", "Healthy") for apps in seen.values() for state in apps.values())
    assert [w["wave"] for w in run.report["waves"]] == sorted(waves)
    entered = [w["started"] for w in run.report["waves"]]  # for `invoke report`'s timeline
    if run.waves_entered():
        assert all(entered)
        assert entered == sorted(entered)
    else:  # a re-run found every wave passing: it walked none
        assert not any(entered)


def only_clusterboot_asked(records: Records) -> None:
    whom = {who for seen in records.refreshes.values() for _, who in seen}
    whom |= {who for seen in records.operations.values() for _, who in seen}
    assert whom <= {rules.NUDGE_MANAGER}, whom
    assert records.errors == []


# -- layouts that converge ------------------------------------------------------------------
PLATFORM = {
    -1: {"namespaces"},
    1: {"redis", "postgresql", "kafka"},
    2: {"prometheus-operator", "grafana", "loki", "tempo"},
    3: {"istio"},
    4: {"argo-rollouts"},
    30: {"customer", "order", "payment", "product", "recommendation", "saga-tracker", "store"},
}


def test_platform_waves_are_walked_in_order_even_when_later_waves_turn_healthy_first(
    bed: Bed,
) -> None:
    ready = {-1: 2.0, 1: 1.8, 2: 1.6, 3: 1.4, 4: 1.2, 30: 1.0}  # the last waves are fastest
    scripts = [
        Script(name, wave=wave, ready_at=ready[wave])
        for wave, names in PLATFORM.items()
        for name in sorted(names)
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim)
        assert run.code == 0, run.err
        assert_walked_in_order(run, PLATFORM)
        assert sim.records.healthy_at["store"] < sim.records.healthy_at["namespaces"]
        assert_report_waves(run, PLATFORM)
        assert run.stage("root_app")["status"] == "changed"
        assert run.stage("sync_waves")["status"] == "changed"
        assert run.stage("sync_waves")["changes"][0].startswith("walk waves: -1 (1 app), 1 (3")

        again = bed.up(sim)
    assert again.code == 0, again.err
    assert again.stage("root_app")["status"] == "unchanged"
    assert again.stage("sync_waves")["status"] == "unchanged"
    assert again.waves_entered() == []
    assert_report_waves(again, PLATFORM)
    assert sim.records.refreshes == {}
    assert sim.records.operations == {}
    only_clusterboot_asked(sim.records)


SERVICES = {0: {"infra"}, 1: {"auth", "my", "scan"}, 2: {"billing"}, 3: {"search"}, 4: {"worker"}}


def test_applicationset_apps_that_appear_late_join_their_waves(bed: Bed) -> None:
    # The generator creates its wave-0 app last: no wave may be entered before it exists.
    generated = [
        Script(
            name,
            wave=wave,
            ready_after=0.1,
            appear_after=1.4 if wave == 0 else 0.8,
            generator="services",
        )
        for wave, names in SERVICES.items()
        for name in sorted(names)
    ]
    scripts = [Script("namespaces", wave=-1, ready_after=0.2), *generated]
    with ArgoSim(bed.api, bed.scenario(scripts, generators=["services"])) as sim:
        run = bed.up(sim)
    assert run.code == 0, run.err
    expected = {-1: {"namespaces"}, **SERVICES}
    assert_walked_in_order(run, expected)
    messages = [e["message"] for e in run.named("progress")]
    assert "waiting for the children: ApplicationSet services: not reported up to date yet" in (
        messages
    )
    assert_report_waves(run, expected)
    only_clusterboot_asked(sim.records)


def test_a_flat_app_of_apps_without_waves_is_one_wave(bed: Bed) -> None:
    scripts = [Script(n, wave=None, ready_at=t) for n, t in (("a", 1.6), ("b", 0.8), ("c", 1.2))]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim)
    assert run.code == 0, run.err
    assert_walked_in_order(run, {0: {"a", "b", "c"}})
    passed = [e["app"] for e in run.named("app.passed")]
    assert passed == ["b", "c", "a"]  # gated as each turned healthy
    assert_report_waves(run, {0: {"a", "b", "c"}})
    only_clusterboot_asked(sim.records)


def test_a_private_repo_gets_an_argo_cd_repository_secret_and_the_password_never_shows(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_USER", "deployer")
    monkeypatch.setenv("GITOPS_TOKEN", "s3cr3t-token-value")
    credentials = {"username": {"env": "GITOPS_USER"}, "password": {"env": "GITOPS_TOKEN"}}
    with ArgoSim(bed.api, bed.scenario([Script("a", ready_after=0.1)])) as sim:
        run = bed.up(sim, credentials=credentials)
    assert run.code == 0, run.err
    secret = bed.api.get("v1", "Secret", f"{bed.root}-repo", bed.namespace)
    assert secret is not None
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "type": "git",
        "url": REPO_URL,
        "username": "deployer",
        "password": "s3cr3t-token-value",
    }
    assert "s3cr3t-token-value" not in run.err + json.dumps(run.report)
    only_clusterboot_asked(sim.records)


# -- trouble ------------------------------------------------------------------------------------
def test_a_degraded_app_fails_after_the_grace_and_a_refresh_naming_the_resource(bed: Bed) -> None:
    scripts = [
        Script("redis", wave=1, ready_after=0.1),
        Script("payment", wave=1, behaviour="degraded", ready_after=0.3),
        Script("store", wave=2, ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=2)
    assert run.code == 1
    assert run.seconds < 20
    why = run.stage("sync_waves")["why"]
    assert why.startswith("wave 1: payment failed: Degraded for ")
    assert 'Deployment payment/payment: Degraded: Deployment "payment" exceeded its progress' in why
    degraded = [e for e in run.named("progress") if "Degraded for" in e["message"]]
    assert degraded, "the Degraded app was not waited on within its grace"
    assert ("hard", rules.NUDGE_MANAGER) in sim.records.refreshes["payment"]
    assert run.waves_entered() == [1]
    assert run.report_waves()[1] == {
        "redis": ("Synced", "Healthy"),
        "payment": ("Synced", "Degraded"),
    }
    only_clusterboot_asked(sim.records)


def test_a_degraded_verdict_argo_cd_holds_from_before_its_crd_settled_is_refreshed_and_passes(
    bed: Bed,
) -> None:
    scripts = [
        Script("namespaces", wave=-1, ready_after=0.1),
        Script("monitoring-crds", wave=2, behaviour="stale_degraded", ready_after=0.2),
        Script("web", wave=3, ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=3)
    assert run.code == 0, run.err
    assert sim.records.refreshes["monitoring-crds"][0] == ("hard", rules.NUDGE_MANAGER)
    assert_walked_in_order(run, {-1: {"namespaces"}, 2: {"monitoring-crds"}, 3: {"web"}})
    assert_report_waves(run, {-1: {"namespaces"}, 2: {"monitoring-crds"}, 3: {"web"}})
    only_clusterboot_asked(sim.records)


def test_every_broken_app_is_named_in_one_run_with_the_later_ones_that_would_fail(
    bed: Bed,
) -> None:
    scripts = [
        Script("redis", wave=1, ready_after=0.1),
        Script("payment", wave=1, behaviour="degraded", ready_after=0.1),
        Script("order", wave=1, behaviour="autosync_failed", ready_after=0.1),
        Script("monitoring", wave=1, behaviour="comparison_error_forever"),
        Script("store", wave=2, behaviour="comparison_error_forever"),
        Script("web", wave=2, ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=1, max_refreshes=1, max_sync_attempts=0)
    assert run.code == 1
    why = run.stage("sync_waves")["why"]
    head = why.splitlines()[0]
    assert head.startswith("wave 1: "), head
    lines = [line.removeprefix("  - ") for line in why.splitlines()[1:]]
    named = {line.split(" (wave")[0].split(": ")[-1] for line in lines if " (wave" in line}
    assert {"payment", "order", "monitoring", "store"} <= named, why
    assert any(
        line.startswith("would also fail: store (wave 2): ComparisonError") for line in lines
    )
    assert "web" not in named, why
    assert not why.startswith("sync_waves:")
    assert "failed: sync_waves: wave 1" in run.err  # the console summary: the stage named once
    only_clusterboot_asked(sim.records)


def test_a_hook_that_never_completes_fails_after_the_grace_with_the_hook_named(bed: Bed) -> None:
    scripts = [
        Script("namespaces", wave=-1, ready_after=0.1),
        Script("orders", wave=0, behaviour="stuck_hook", ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=1)
    assert run.code == 1
    why = run.stage("sync_waves")["why"]
    assert "orders failed: sync Running for" in why
    assert "waiting for completion of hook batch/Job/orders-db-migrate" in why
    assert "PreSync hook Job orders/orders-db-migrate: Running: job has not completed" in why
    assert run.waves_entered() == [-1, 0]
    assert run.seconds < 20
    only_clusterboot_asked(sim.records)


def test_a_cached_comparison_error_is_hard_refreshed_by_clusterboot_and_then_passes(
    bed: Bed,
) -> None:
    scripts = [
        Script("namespaces", wave=-1, ready_after=0.1),
        Script("monitoring", wave=2, behaviour="comparison_error", ready_after=0.2),
        Script("store", wave=30, ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim)
    assert run.code == 0, run.err
    assert sim.records.refreshes == {"monitoring": [("hard", rules.NUDGE_MANAGER)]}
    assert [e["app"] for e in run.named("app.refresh")] == ["monitoring"]
    assert_walked_in_order(run, {-1: {"namespaces"}, 2: {"monitoring"}, 30: {"store"}})
    only_clusterboot_asked(sim.records)


def test_a_comparison_error_that_survives_every_hard_refresh_fails_with_its_message(
    bed: Bed,
) -> None:
    scripts = [Script("monitoring", wave=2, behaviour="comparison_error_forever")]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, max_refreshes=2)
    assert run.code == 1
    why = run.stage("sync_waves")["why"]
    assert "ComparisonError: Manifest generation error (cached)" in why
    assert "after 2 hard refreshes" in why
    assert sim.records.refreshes == {"monitoring": [("hard", rules.NUDGE_MANAGER)] * 2}
    only_clusterboot_asked(sim.records)


def test_auto_sync_failed_for_the_commit_gets_one_explicit_sync_and_passes(bed: Bed) -> None:
    scripts = [
        Script("postgresql", wave=1, behaviour="autosync_failed", ready_after=0.2),
        Script("order", wave=30, ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim)
    assert run.code == 0, run.err
    operations = sim.records.operations["postgresql"]
    assert len(operations) == 1
    operation, manager = operations[0]
    assert manager == rules.NUDGE_MANAGER
    assert operation["initiatedBy"] == {"username": "clusterboot"}
    assert operation["sync"]["revision"] == "main"
    assert operation["sync"]["prune"] is True
    assert [e["app"] for e in run.named("app.sync")] == ["postgresql"]
    assert_walked_in_order(run, {1: {"postgresql"}, 30: {"order"}})
    only_clusterboot_asked(sim.records)


def test_a_pending_retry_is_waited_on_even_past_the_grace_and_not_failed(bed: Bed) -> None:
    scripts = [Script("kafka", wave=1, behaviour="retry_pending", ready_after=0.1, hold=2.5)]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=1)
    assert run.code == 0, run.err
    assert_walked_in_order(run, {1: {"kafka"}})
    reasons = [e["message"] for e in run.named("progress")]
    assert any(
        "slowest kafka: retry pending: " in r and "Retrying attempt #1" in r for r in reasons
    )
    assert run.report_waves()[1]["kafka"] == ("Synced", "Healthy")
    assert run.report["waves"][0]["apps"][0]["seconds"] >= 2.0
    only_clusterboot_asked(sim.records)


def test_an_app_synced_but_progressing_past_the_grace_fails_listing_its_resources(
    bed: Bed,
) -> None:
    scripts = [Script("gateway", wave=3, behaviour="progressing", ready_after=0.1)]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=1)
    assert run.code == 1
    why = run.stage("sync_waves")["why"]
    assert "gateway failed: Synced but Progressing for" in why
    assert "Deployment gateway/gateway: Progressing: Waiting for rollout to finish" in why
    only_clusterboot_asked(sim.records)


def test_a_wave_deadline_names_every_blocking_app_and_its_last_status(bed: Bed) -> None:
    scripts = [
        Script("namespaces", wave=-1, ready_after=0.1),
        Script("grafana", wave=2, ready_after=60),
        Script("loki", wave=2, ready_after=60),
        Script("tempo", wave=2, ready_after=0.1),
        Script("store", wave=30, ready_after=0.1),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, per_wave_seconds={2: 2})
    assert run.code == 1
    why = run.stage("sync_waves")["why"]
    assert "wave 2: 2 not passing after 2s" in why
    assert "grafana (wave 2): sync Running: syncing" in why
    assert "loki (wave 2): sync Running: syncing" in why
    assert "tempo" not in why
    assert run.waves_entered() == [-1, 2]
    assert 2 <= run.seconds < 20
    assert run.report_waves()[2] == {
        "tempo": ("Synced", "Healthy"),
        "grafana": ("OutOfSync", "Missing"),
        "loki": ("OutOfSync", "Missing"),
    }
    only_clusterboot_asked(sim.records)


def test_a_stale_progressing_health_gets_a_normal_refresh_and_passes(bed: Bed) -> None:
    """Argo CD kept a health assessed before the app's resources settled (a CRD assessed
    before it was Established) and does not look again until its periodic resync."""
    scripts = [Script("monitoring-crds", wave=2, behaviour="stale_health", ready_after=0.1)]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, progressing_grace_seconds=600, recheck_after_seconds=1)
    assert run.code == 0, run.err[-2000:]
    asked = sim.records.refreshes["monitoring-crds"]
    assert asked == [("normal", rules.NUDGE_MANAGER)]
    assert [e["app"] for e in run.named("app.recheck")] == ["monitoring-crds"]
    assert run.report["waves"][0]["apps"][0]["seconds"] < 30
    only_clusterboot_asked(sim.records)


def test_a_root_app_whose_first_comparison_failed_is_hard_refreshed_and_walked(bed: Bed) -> None:
    """The root app was compared while the repo-server was not up yet: Argo CD would only
    look again at its periodic resync, minutes away."""
    scripts = [Script("namespaces", wave=-1, ready_after=0.1), Script("store", wave=1)]
    with ArgoSim(bed.api, bed.scenario(scripts, root_behaviour="comparison_error")) as sim:
        run = bed.up(sim)
    assert run.code == 0, run.err[-2000:]
    assert sim.records.refreshes == {bed.root: [("hard", rules.NUDGE_MANAGER)]}
    assert [e["app"] for e in run.named("app.refresh")] == [bed.root]
    assert_walked_in_order(run, {-1: {"namespaces"}, 1: {"store"}})


def test_a_root_app_that_cannot_be_rendered_fails_with_argo_cds_message(bed: Bed) -> None:
    scripts = [Script("namespaces", wave=-1)]
    scenario = bed.scenario(scripts, root_behaviour="comparison_error_forever")
    with ArgoSim(bed.api, scenario) as sim:
        run = bed.up(sim, max_refreshes=2)
    assert run.code == 1
    why = run.stage("sync_waves")["why"]
    assert f"root Application {bed.root}: ComparisonError: Failed to load target state" in why
    assert "connection refused (still, after 2 hard refreshes)" in why
    assert sim.records.refreshes == {bed.root: [("hard", rules.NUDGE_MANAGER)] * 2}


def test_a_root_app_whose_path_the_repository_lacks_fails_after_one_hard_refresh(
    bed: Bed,
) -> None:
    """Argo CD's "<path>: app path does not exist" is permanent for the revision: one hard
    refresh at once (so the verdict is about the revision as it is now), then the failure
    naming the path, the repository and the revision; not three refreshes paced 30 s apart,
    not the deadline."""
    scenario = bed.scenario([Script("namespaces", wave=-1)], root_behaviour="missing_path")
    with ArgoSim(bed.api, scenario) as sim:
        run = bed.up(sim, refresh_after_seconds=30)
    assert run.code == 1, run.err[-2000:]
    why = run.stage("sync_waves")["why"]
    assert why.startswith(
        f"root Application {bed.root}: source path clusters/local does not exist in "
        f"{REPO_URL} at revision main\n"
    ), why
    assert "desc = clusters/local: app path does not exist" in why  # Argo CD's own words
    assert "hint: check root_app.path (relative to the repository's top) and " in why
    assert "`git ls-tree -d --name-only main -- clusters/`" in why
    assert sim.records.refreshes == {bed.root: [("hard", rules.NUDGE_MANAGER)]}
    assert run.seconds < 20  # the deadline is 60 s
    assert run.waves_entered() == []


def test_a_child_whose_path_the_repository_lacks_fails_its_wave_and_later_ones_are_named(
    bed: Bed,
) -> None:
    scripts = [
        Script("namespaces", wave=-1, ready_after=0.1),
        Script("web", wave=3, behaviour="missing_path"),
        Script("shop", wave=30, behaviour="missing_path"),
    ]
    with ArgoSim(bed.api, bed.scenario(scripts)) as sim:
        run = bed.up(sim, refresh_after_seconds=30)
    assert run.code == 1, run.err[-2000:]
    why = run.stage("sync_waves")["why"]
    assert why.startswith(
        f"wave 3: web failed: source path apps/web does not exist in {REPO_URL} at revision "
        "main; 1 in later waves would also fail"
    ), why
    assert "Argo CD: ComparisonError: Failed to load target state" in why
    assert (
        f"would also fail: shop (wave 30): source path apps/shop does not exist in {REPO_URL}"
        in why
    )
    assert (
        "hint: web: in its spec.source.path (in the root app's repository), name a directory "
        "that is there (`git ls-tree -d --name-only main -- apps/` in a clone lists them), "
        "or commit and push apps/web at main" in why
    )
    assert "waiting longer will not help" not in why
    assert sim.records.refreshes == {"web": [("hard", rules.NUDGE_MANAGER)]}
    assert run.waves_entered() == [-1, 3]
    assert run.seconds < 20
    assert run.report_waves()[3] == {"web": ("Unknown", "Healthy")}
    only_clusterboot_asked(sim.records)
