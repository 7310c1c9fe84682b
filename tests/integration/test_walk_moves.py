"""The wave walk against the real local API while the root's picture changes under it: the
test plays Argo CD by writing the Applications' status itself, step by step, so the moment of
each change is known. A child that moves below a wave already released joins the wave being
walked (no lower wave is ever entered after a higher one), a child pruned mid-walk is never
waited on, and no empty wave is reported."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bootstrap import kube, wait
from bootstrap.report import WaveResult
from bootstrap.wait import RealClock
from bootstrap.waves import argo, rules
from bootstrap.waves.walk import Walk
from tests.argo_sim import install_crds
from tests.integration.localcluster import LocalCluster

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
SOURCE = {"repoURL": "https://git.example.invalid/p.git", "path": "x", "targetRevision": "main"}


def stamp(ahead: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() + ahead, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def info(self, event: str, **fields: Any) -> None:
        with self.changed:
            self.seen.append((event, fields))
            self.changed.notify_all()

    warning = info

    def bind(self, **_fields: Any) -> Events:
        return self

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.changed:
            return [fields for event, fields in self.seen if event == name]

    def wait_for(self, name: str, timeout: float = 20.0, **match: Any) -> None:
        def found() -> bool:
            return any(
                event == name and all(fields.get(k) == v for k, v in match.items())
                for event, fields in self.seen
            )

        with self.changed:
            assert self.changed.wait_for(found, timeout), (name, match, self.seen[-5:])


class Play:
    """Argo CD's writes, done by hand: the root's list of children and each child's status."""

    def __init__(self, api: kube.Kube, namespace: str) -> None:
        self.api, self.ns = api, namespace

    def app(
        self,
        name: str,
        *,
        healthy: bool,
        wave: int = 0,
        deleting: bool = False,
        path: str = "x",
        missing_path: bool = False,
    ) -> None:
        source = {**SOURCE, "path": path}
        status: Obj = {
            "sync": {"status": "Synced", "comparedTo": {"source": source}},
            "health": {"status": "Healthy" if healthy else "Progressing"},
            "reconciledAt": stamp(1),
            "operationState": {
                "phase": "Succeeded",
                "startedAt": stamp(),
                "finishedAt": stamp(),
            },
        }
        if missing_path:  # what Argo CD says of a spec whose path the new commit removed
            status["sync"]["status"] = "Unknown"
            status["conditions"] = [{
                "type": "ComparisonError",
                "message": "Failed to load target state: failed to generate manifest for source "
                f"1 of 1: rpc error: code = Unknown desc = {path}: app path does not exist",
            }]
        body: Obj = {
            "apiVersion": argo.API_VERSION,
            "kind": argo.KIND,
            "metadata": {
                "name": name,
                "namespace": self.ns,
                "annotations": {argo.WAVE: str(wave)},
            },
            "spec": {"source": source},
            "status": status,
        }
        self.api.apply(body, field_manager="argocd-application-controller")
        if deleting:
            self.api.delete(argo.API_VERSION, argo.KIND, name, self.ns)

    def root(
        self,
        children: dict[str, int],
        pruning: tuple[str, ...] = (),
        updating: tuple[str, ...] = (),
    ) -> None:
        """The root's status; ``updating``: children whose spec its commit changes (the root
        OutOfSync, listing them OutOfSync until it has applied them)."""
        entries = [
            {
                "group": argo.GROUP,
                "kind": argo.KIND,
                "namespace": self.ns,
                "name": name,
                "status": "OutOfSync" if name in updating else "Synced",
                **({"syncWave": wave} if wave else {}),
            }
            for name, wave in children.items()
        ]
        entries += [
            {
                "group": argo.GROUP,
                "kind": argo.KIND,
                "namespace": self.ns,
                "name": name,
                "status": "OutOfSync",
                "requiresPruning": True,
            }
            for name in pruning
        ]
        body: Obj = {
            "apiVersion": argo.API_VERSION,
            "kind": argo.KIND,
            "metadata": {"name": "root", "namespace": self.ns},
            "spec": {"source": SOURCE},
            "status": {
                "sync": {"status": "OutOfSync" if updating else "Synced",
                         "comparedTo": {"source": SOURCE}},
                "health": {"status": "Healthy"},
                "reconciledAt": stamp(1),
                "resources": entries,
            },
        }
        self.api.apply(body, field_manager="argocd-application-controller")


@pytest.fixture
def play(local_cluster: LocalCluster, api: kube.Kube) -> Iterator[Play]:
    install_crds(api)
    namespace = f"walk-{uuid.uuid4().hex[:8]}"
    api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    yield Play(api, namespace)
    api.delete("v1", "Namespace", namespace)


def walk(play: Play, events: Events, results: list[WaveResult], pruned: list[str]) -> Walk:
    quiet = argo.Limits(recheck_after=1000.0)  # nothing here consumes a refresh: ask none
    settings = rules.Settings(play.ns, "root", 60.0, {}, 600.0, 1000.0, quiet)
    return Walk(play.api, settings, clock=RealClock(), log=events, results=results, pruned=pruned)


def running(walker: Walk) -> tuple[threading.Thread, list[BaseException]]:
    """The walk running on a thread of its own, and where what it raises is kept."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            walker.run()
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_child_moved_below_a_released_wave_joins_the_current_one_and_a_pruned_one_is_dropped(
    play: Play,
) -> None:
    children = {"a": 1, "b": 2, "c": 3, "d": 3}
    for name, wave in children.items():
        play.app(name, healthy=name == "a", wave=wave)
    play.root(children)
    events, results, pruned = Events(), list[WaveResult](), list[str]()
    thread, errors = running(walk(play, events, results, pruned))
    events.wait_for("wave.start", wave=2)
    play.root({"a": 1, "b": 2, "c": 1, "d": 3})  # c moves below wave 2, already released
    play.app("c", healthy=False, wave=1)
    time.sleep(1.0)
    play.app("b", healthy=True, wave=2)
    events.wait_for("app.passed", app="b")
    time.sleep(0.5)
    assert all(e["wave"] != 2 for e in events.named("wave.done")), "wave 2 done without c"
    play.root({"a": 1, "b": 2, "c": 1}, pruning=("d",))  # d removed from git
    play.app("d", healthy=False, wave=3, deleting=True)
    time.sleep(0.5)
    play.app("c", healthy=True, wave=1)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    started = [e["wave"] for e in events.named("wave.start")]
    assert started == [1, 2], started
    assert {r.wave: sorted(a.name for a in r.apps) for r in results} == {1: ["a", "c"], 2: ["b"]}
    assert [r.wave for r in results] == [1, 2]
    assert pruned == ["d"]


def test_a_child_whose_old_path_is_gone_waits_for_the_root_to_update_it_and_then_passes(
    play: Play,
) -> None:
    """A restructure: the new commit moves child ns to another path and removes the old one.
    Argo CD has compared the commit (the root lists ns OutOfSync) but not synced it yet, so ns
    still has its old spec, whose path the commit removed: a ComparisonError about a spec that
    is about to change, which must not fail the walk."""
    play.app("ns", healthy=False, wave=-1, path="apps/namespaces", missing_path=True)
    play.app("web", healthy=True, wave=3)
    play.root({"ns": -1, "web": 3}, updating=("ns",))
    events, results, pruned = Events(), list[WaveResult](), list[str]()
    thread, errors = running(walk(play, events, results, pruned))

    def said_waiting() -> wait.Verdict:
        messages = [e["message"] for e in events.named("progress")]
        if errors:
            return wait.Verdict.broken(f"the walk failed: {errors[0]}")
        if any("waiting for the root to update it" in m for m in messages):
            return wait.Verdict.passed()
        return wait.Verdict.waiting(f"progress so far: {messages[-3:]}")

    wait.until(said_waiting, what="the walk to wait for the root", deadline=20,
               clock=RealClock())
    play.app("ns", healthy=True, wave=-1, path="base/namespaces")  # the root synced it
    play.root({"ns": -1, "web": 3})
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert {r.wave: sorted(a.name for a in r.apps) for r in results} == {-1: ["ns"], 3: ["web"]}
