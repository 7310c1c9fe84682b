"""Wait until many objects are healthy with one list-then-watch per collection (kind and
namespace), never one poll per object; fail at once when one fails, name every blocker on a
timeout.

Why a thread per collection: each follower keeps its watch open for the whole wait, so a change
in any collection reaches the gate within one round-trip. Sequential short watch windows would
add up to one window per other collection to the latency, and a window is at least a second.
The gate (the calling thread) only re-reads the followers' cache when they report a change, or
twice a second for grace periods; ``Cancel`` shuts the followers' sockets when it returns.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bootstrap import health
from bootstrap.errors import ClusterbootError, GateFailed, GateTimeout, Interrupted, TemporaryError
from bootstrap.kube.client import Cancel, Expired, Kube, ObjectRef
from bootstrap.wait import Clock

Key = tuple[str, str, str | None]  # apiVersion, kind, namespace (None: cluster-wide)
Obj = dict[str, Any]
MAX_WINDOW = 300  # seconds a single watch request may stay open
BACKOFF = (0.2, 2.0)  # first and longest pause after the API went away


@dataclass
class Stats:
    """API requests one wait made (a benchmark reads these); thread-safe counters."""

    lists: int = 0
    watches: int = 0
    relists: int = 0  # lists after a 410 Gone
    errors: int = 0  # temporary failures that led to a back-off
    events: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def requests(self) -> int:
        return self.lists + self.watches

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class _Cache:
    """What the followers saw, per collection; ``changed`` wakes the gate."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.objects: dict[Key, dict[str, Obj]] = {}
        self.errors: dict[Key, str] = {}
        self.fatal: ClusterbootError | None = None
        self.version = 0
        self.verdict_on = 0  # the last version the gate has judged

    def update(
        self,
        key: Key,
        *,
        items: list[Obj] | None = None,
        event: tuple[str, Obj] | None = None,
        error: str | None = None,
    ) -> int:
        with self.changed:
            if items is not None:
                self.objects[key] = {i["metadata"]["name"]: i for i in items}
                self.errors.pop(key, None)
            if event is not None:
                kind, obj = event
                seen = self.objects.setdefault(key, {})
                if kind == "DELETED":
                    seen.pop(obj["metadata"]["name"], None)
                else:
                    seen[obj["metadata"]["name"]] = obj
            if error is not None:
                self.errors[key] = error
            self.version += 1
            self.changed.notify_all()
            return self.version

    def judged(self, version: int, cancel: Cancel) -> None:
        """Wait (briefly) until the gate has judged ``version``: a fresh list whose objects are
        all ready then ends the wait before any watch request is made."""
        with self.changed:
            self.changed.wait_for(
                lambda: self.verdict_on >= version or cancel.is_set(), timeout=1.0
            )


class _Follower(threading.Thread):
    """Lists one collection, then watches it from the list's resourceVersion, resuming from
    the last one seen; relists on 410 Gone, and after a back-off when the API went away."""

    def __init__(self, kube: Kube, key: Key, *, gate: _Gate) -> None:
        super().__init__(name=f"watch {key[1]} {key[2] or '*'}", daemon=True)
        self.kube, self.key, self.gate = kube, key, gate

    def run(self) -> None:
        pause = BACKOFF[0]
        gate = self.gate
        while not gate.cancel.is_set() and gate.clock.now() < gate.until:
            try:
                self._list_then_watch()
                pause = BACKOFF[0]
            except Expired:
                gate.stats.add(relists=1)
            except TemporaryError as err:
                gate.stats.add(errors=1)
                gate.cache.update(self.key, error=err.message.splitlines()[0])
                gate.clock.sleep(min(pause, max(0.0, gate.until - gate.clock.now())))
                pause = min(BACKOFF[1], pause * 2)
            except ClusterbootError as err:
                gate.cache.fatal = err
                gate.cache.update(self.key, error=str(err))
                return

    def _list_then_watch(self) -> None:
        api_version, kind, namespace = self.key
        gate = self.gate
        items, version = self.kube.list(api_version, kind, namespace=namespace)
        gate.stats.add(lists=1)
        listed = [{"apiVersion": api_version, "kind": kind, **i} for i in items]
        gate.cache.judged(gate.cache.update(self.key, items=listed), gate.cancel)
        while not gate.cancel.is_set():
            left = gate.until - gate.clock.now()
            if left <= 0:
                return
            gate.stats.add(watches=1)
            for event, obj in self.kube.watch(
                api_version,
                kind,
                namespace=namespace,
                resource_version=version,
                timeout_seconds=max(1, min(MAX_WINDOW, math.ceil(left))),
                cancel=gate.cancel,
            ):
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                gate.stats.add(events=1)
                if event != "BOOKMARK":
                    gate.cache.update(self.key, event=(event, obj))
            gate.cache.update(self.key)  # the window ended: let the gate look at the clock


@dataclass
class _Gate:
    kube: Kube
    clock: Clock
    until: float
    grace: float
    stats: Stats
    wall: Callable[[], float]
    cache: _Cache = field(default_factory=_Cache)
    cancel: Cancel = field(default_factory=Cancel)
    followers: dict[Key, _Follower] = field(default_factory=dict)

    def follow(self, key: Key) -> None:
        if key not in self.followers:
            self.followers[key] = _Follower(self.kube, key, gate=self)
            self.followers[key].start()

    def assess(self, ref: ObjectRef) -> health.Health:
        """One object's health from the cache (call with ``cache.changed`` held)."""
        key = (ref.api_version, ref.kind, ref.namespace)
        seen = self.cache.objects.get(key)
        error = self.cache.errors.get(key)
        if seen is None:
            return health.waiting(f"not listed yet{f' ({error})' if error else ''}")
        obj = seen.get(ref.name)
        if obj is None:
            return health.Health("NotFound", f"not found{f' ({error})' if error else ''}")
        now = self.wall()
        verdict = health.assess(obj, now=now, grace_seconds=self.grace)
        group = ref.api_version.rpartition("/")[0]
        if verdict.current or verdict.failed or (group, ref.kind) not in health.WORKLOAD_KINDS:
            return verdict
        pods_key: Key = ("v1", "Pod", ref.namespace)
        self.follow(pods_key)
        pods = list((self.cache.objects.get(pods_key) or {}).values())
        stalled = health.stalled_pods(health.pods_of(obj, pods), now, self.grace)
        return health.failed("; ".join(stalled)) if stalled else verdict

    def stop(self) -> None:
        self.cancel.set()
        with self.cache.changed:
            self.cache.changed.notify_all()
        give_up = time.monotonic() + 2.0
        for follower in self.followers.values():
            follower.join(timeout=max(0.0, give_up - time.monotonic()))


def await_objects(
    kube: Kube,
    refs: list[ObjectRef],
    *,
    clock: Clock,
    deadline: float,
    grace_seconds: float,
    what: str,
    stats: Stats | None = None,
    wall: Callable[[], float] = time.time,
) -> None:
    """Return when every ref is Current; GateFailed at once when one Failed, GateTimeout after
    ``deadline`` seconds naming each blocking object and its last reason. ``wall`` gives the
    epoch seconds that grace periods are measured against (objects carry wall-clock stamps)."""
    gate = _Gate(kube, clock, clock.now() + deadline, grace_seconds, stats or Stats(), wall)
    for ref in refs:
        gate.follow((ref.api_version, ref.kind, ref.namespace))
    try:
        while True:
            with gate.cache.changed:
                seen = gate.cache.version
                if isinstance(gate.cache.fatal, Interrupted):
                    raise gate.cache.fatal
                if gate.cache.fatal is not None:
                    fatal = gate.cache.fatal
                    raise GateFailed(what, f"cannot watch: {fatal.message}") from fatal
                verdicts = {ref: gate.assess(ref) for ref in refs}
                gate.cache.verdict_on = seen
                gate.cache.changed.notify_all()
                if all(v.current for v in verdicts.values()):
                    return
                _judge(what, verdicts, deadline, done=clock.now() >= gate.until)
                if gate.cache.version == seen:
                    gate.cache.changed.wait(min(0.5, max(0.01, gate.until - clock.now())))
    finally:
        gate.stop()


def _judge(
    what: str, verdicts: dict[ObjectRef, health.Health], deadline: float, *, done: bool
) -> None:
    """Raise when the gate is decided against: an object failed, or time is up."""
    broken = [f"{ref}: {v.reason}" for ref, v in verdicts.items() if v.failed]
    if broken:
        why = f"{len(broken)} of {len(verdicts)} objects failed"
        raise GateFailed(what, why, blocking=broken, hint="waiting longer will not help: fix them")
    blocking = [f"{ref}: {v.reason}" for ref, v in verdicts.items() if not v.current]
    if done and blocking:
        raise GateTimeout(
            what,
            f"{len(blocking)} of {len(verdicts)} objects not ready after {deadline:.0f}s",
            blocking=blocking,
            hint="look at the objects listed; raise the deadline only if they progress",
        )
