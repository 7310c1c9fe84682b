"""The list-then-watch gate against a scripted API: resume, relist, back-off, verdicts, counts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from bootstrap import wait
from bootstrap.errors import GateFailed, GateTimeout, TemporaryError
from bootstrap.kube import watch
from bootstrap.kube.client import Cancel, Expired, ObjectRef

WIDGET = "example.com/v1"
Event = tuple[str, dict[str, Any]]


def widget(name: str, ready: str | None, version: int = 1) -> dict[str, Any]:
    found: dict[str, Any] = {
        "apiVersion": WIDGET,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version)},
    }
    if ready is not None:
        found["status"] = {"conditions": [{"type": "Ready", "status": ready}]}
    return found


def ref(name: str, kind: str = "Widget", api: str = WIDGET) -> ObjectRef:
    return ObjectRef(api, kind, name, "ns")


class ScriptedKube:
    """Lists return ``items[kind]``; each watch call plays the next script entry (events, or an
    exception to raise), and an exhausted script lets the window run out on the fake clock."""

    def __init__(self, clock: wait.FakeClock, items: dict[str, list[dict[str, Any]]]) -> None:
        self.clock = clock
        self.items = items
        self.scripts: dict[str, list[list[Event] | Exception]] = {}
        self.list_errors: list[Exception] = []
        self.watched_from: list[str] = []
        self.lists = 0
        self.ready_after_lists: int | None = None
        """From this list on, every widget reads Ready (what a relist finds)."""

    def list(self, api_version: str, kind: str, *, namespace: str | None = None) -> Any:
        self.lists += 1
        if self.list_errors:
            raise self.list_errors.pop(0)
        if self.ready_after_lists is not None and self.lists >= self.ready_after_lists:
            self.items[kind] = [widget(i["metadata"]["name"], "True") for i in self.items[kind]]
        return [dict(i) for i in self.items.get(kind, [])], "10"

    def watch(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None,
        resource_version: str,
        timeout_seconds: int,
        cancel: Cancel,
    ) -> Iterator[Event]:
        self.watched_from.append(resource_version)
        script = self.scripts.get(kind) or []
        if script:
            step = script.pop(0)
            if isinstance(step, Exception):
                raise step
            yield from step
            if script:
                return  # the server ended this window: the next step is a new watch
        idle(cancel)
        self.clock.sleep(timeout_seconds)


def idle(cancel: Cancel) -> None:
    """An open watch with nothing to say: until the gate cancels it, or a moment passes."""
    pause = threading.Event()
    for _ in range(20):
        if cancel.is_set():
            return
        pause.wait(0.01)


def run(kube: ScriptedKube, refs: list[ObjectRef], *, deadline: float = 30) -> watch.Stats:
    stats = watch.Stats()
    watch.await_objects(
        kube,  # type: ignore[arg-type]
        refs,
        clock=kube.clock,
        deadline=deadline,
        grace_seconds=60,
        what="widgets",
        stats=stats,
        wall=lambda: 1_800_000_000.0,
    )
    return stats


def test_objects_already_ready_cost_one_list_and_no_watch() -> None:
    kube = ScriptedKube(wait.FakeClock(), {"Widget": [widget("a", "True"), widget("b", "True")]})
    stats = run(kube, [ref("a"), ref("b")])
    assert (stats.lists, stats.watches) == (1, 0)


def test_one_watch_serves_many_objects_of_a_collection() -> None:
    kube = ScriptedKube(wait.FakeClock(), {"Widget": [widget(n, "False") for n in "abc"]})
    kube.scripts["Widget"] = [
        [("MODIFIED", widget(n, "True", 11 + i)) for i, n in enumerate("abc")]
    ]
    stats = run(kube, [ref("a"), ref("b"), ref("c")])
    assert (stats.lists, stats.watches, stats.requests) == (1, 1, 2)
    assert kube.watched_from == ["10"]


def test_a_bookmark_moves_the_resume_point_of_the_next_watch() -> None:
    kube = ScriptedKube(wait.FakeClock(), {"Widget": [widget("a", "False")]})
    bookmark = {"kind": "Widget", "metadata": {"resourceVersion": "50"}}
    kube.scripts["Widget"] = [[("BOOKMARK", bookmark)], [("MODIFIED", widget("a", "True", 51))]]
    stats = run(kube, [ref("a")])
    assert kube.watched_from == ["10", "50"]
    assert stats.lists == 1


def test_gone_410_makes_the_follower_list_again() -> None:
    kube = ScriptedKube(wait.FakeClock(), {"Widget": [widget("a", "False")]})
    kube.scripts["Widget"] = [[], Expired("too old")]  # a clean end resumes; then 410
    kube.ready_after_lists = 2
    stats = run(kube, [ref("a")])
    assert (stats.lists, stats.watches, stats.relists) == (2, 2, 1)
    assert kube.watched_from == ["10", "10"]
    assert kube.clock.sleeps == []


def test_a_failed_list_backs_off_and_lists_again_and_a_cut_watch_resumes_where_it_was() -> None:
    kube = ScriptedKube(wait.FakeClock(), {"Widget": [widget("a", "False")]})
    kube.list_errors = [TemporaryError("list Widget: API server unreachable: refused")]
    kube.scripts["Widget"] = [
        [("MODIFIED", widget("a", "False", 12))],
        TemporaryError("watch Widget interrupted: reset"),  # cut after it delivered 12
        [("MODIFIED", widget("a", "True", 13))],  # what came after 12: replayed on resume
    ]
    stats = run(kube, [ref("a")])
    assert stats.errors == 2
    assert kube.clock.sleeps[:2] == [0.2, 0.2]  # (a window that worked resets the back-off)
    assert kube.lists == 2  # the failed one and the one after it; none after the cut
    assert kube.watched_from == ["10", "12", "12"]


def test_a_watch_that_keeps_failing_to_resume_lists_again() -> None:
    kube = ScriptedKube(wait.FakeClock(), {"Widget": [widget("a", "False")]})
    kube.scripts["Widget"] = [TemporaryError("watch Widget: 504 too large resource version")] * 4
    kube.ready_after_lists = 2
    stats = run(kube, [ref("a")])
    assert kube.watched_from == ["10"] * 4  # the first watch and three resumes
    assert (kube.lists, stats.errors) == (2, 4)


def test_a_failed_object_fails_the_gate_at_once_with_its_reason() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "ns"},
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
        },
    }
    kube = ScriptedKube(wait.FakeClock(), {"Job": [job]})
    with pytest.raises(GateFailed) as err:
        run(kube, [ref("migrate", "Job", "batch/v1")], deadline=600)
    assert not isinstance(err.value, GateTimeout)
    assert "Job ns/migrate: Job failed: BackoffLimitExceeded" in str(err.value)
    assert kube.clock.now() == 0


def test_a_timeout_names_every_blocking_object_and_its_last_reason() -> None:
    items = {"Widget": [widget("ok", "True"), widget("slow", "False"), widget("new", None)]}
    kube = ScriptedKube(wait.FakeClock(), items)
    with pytest.raises(GateTimeout) as err:
        run(kube, [ref("ok"), ref("slow"), ref("new"), ref("gone")], deadline=30)
    assert err.value.blocking == [
        "Widget ns/slow: not Ready: Ready=False",
        "Widget ns/new: no status yet: its controller has not reconciled it",
        "Widget ns/gone: not found",
    ]
    assert "3 of 4 objects not ready after 30s" in str(err.value)
    assert kube.clock.now() >= 30


def test_a_deployment_whose_pods_crash_fails_fast_naming_the_pod() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1},
    }
    crashing = {
        "metadata": {"name": "web-1", "namespace": "ns", "labels": {"app": "web"}},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "restartCount": 3,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ],
        },
    }
    kube = ScriptedKube(wait.FakeClock(), {"Deployment": [deployment], "Pod": [crashing]})
    with pytest.raises(GateFailed) as err:
        run(kube, [ref("web", "Deployment", "apps/v1")], deadline=600)
    assert "Deployment ns/web: Pod ns/web-1: container app: CrashLoopBackOff" in str(err.value)


class Objects:
    """A reader over fixed objects (what a gate sees in one look)."""

    def __init__(self, *objects: dict[str, Any], pods: list[dict[str, Any]] | None = None) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}
        self.pod_list = pods or []
        self.reads: list[str] = []

    def get(self, ref: ObjectRef) -> tuple[dict[str, Any] | None, str | None]:
        self.reads.append(ref.name)
        return self.objects.get((ref.kind, ref.name)), None

    def get_many(self, refs: Sequence[ObjectRef]) -> dict[ObjectRef, tuple[Any, str | None]]:
        return {ref: self.get(ref) for ref in refs}

    def pods(self, namespace: str | None) -> list[dict[str, Any]]:
        return self.pod_list


def deployment(name: str, *, available: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": int(available),
            "availableReplicas": int(available),
            "conditions": [{"type": "Available", "status": str(available)}],
        },
    }


def test_one_look_names_every_blocker_and_what_to_follow_while_waiting() -> None:
    reader = Objects(widget("a", "True"), widget("b", "False"), deployment("d", available=False))
    refs = [ref("a"), ref("b"), ref("c"), ref("d", "Deployment", "apps/v1")]
    verdict = watch.readiness(reader, refs, grace=60, wall=lambda: 1_800_000_000.0)
    assert (verdict.ok, verdict.failed) == (False, False)
    assert verdict.why == "3 of 4 objects not ready"
    assert [b.split(":")[0] for b in verdict.blocking] == [
        str(ref("b")),
        str(ref("c")),
        str(ref("d", "Deployment", "apps/v1")),
    ]
    assert "not found" in verdict.blocking[1]
    assert set(verdict.watching) == {
        (WIDGET, "Widget", "ns"),
        ("apps/v1", "Deployment", "ns"),
        ("v1", "Pod", "ns"),
    }
    assert reader.reads == ["a", "b", "c", "d"]  # one read each: a look never waits


def test_one_look_passes_when_all_are_ready_and_fails_at_once_on_a_failed_one() -> None:
    ready = watch.readiness(Objects(widget("a", "True")), [ref("a")], grace=60)
    assert ready.ok
    assert ready.why == "1 objects ready"
    assert ready.watching == ()
    crashing = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "d-1", "namespace": "ns", "labels": {"app": "d"}},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": False,
                    "restartCount": 9,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "exit 1"}},
                }
            ],
        },
    }
    reader = Objects(deployment("d", available=False), pods=[crashing])
    broken = watch.readiness(reader, [ref("d", "Deployment", "apps/v1")], grace=0)
    assert broken.failed, broken
    assert "CrashLoopBackOff" in broken.blocking[0]
