"""Follow collections of objects with one list-then-watch each, and judge many objects from
what the followers saw.

``Follower`` is the one list-then-watch in the product: it lists one collection (kind and
namespace), watches it from the list's resourceVersion, resumes from the last one seen (also
after a watch was cut), relists on 410 Gone and backs off while the API is away. The wave
walk's feeds and the gates' waits both use it; ``Collections`` holds what the followers saw and
wakes whoever waits on them.

Why a thread per collection: each follower keeps its watch open for the whole wait, so a change
in any collection reaches the waiter within one round-trip. Sequential short watch windows would
add up to one window per other collection to the latency, and a window is at least a second.

Two ways to wait on objects: ``await_objects`` blocks until they are all Current (for commands
that wait outside the engine, and for a change that needs its precondition); ``Observer`` lets
the engine wait for a gate that only judges: the gate's first look reads from the API, and the
collections a waiting verdict names are followed so the next looks read the followers' cache
and start as soon as something changed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bootstrap import health, wait
from bootstrap.errors import ClusterbootError, GateFailed, GateTimeout, Interrupted, TemporaryError
from bootstrap.kube.client import Cancel, Expired, Kube, ObjectRef
from bootstrap.wait import Clock, Verdict

Key = tuple[str, str, str | None]  # apiVersion, kind, namespace (None: cluster-wide)
Obj = dict[str, Any]
MAX_WINDOW = 300  # seconds a single watch request may stay open
BACKOFF = (0.2, 2.0)  # first and longest pause after the API went away
MAX_RESUMES = 3  # failed resumes of a watch in a row before the follower lists again


def key_of(ref: ObjectRef) -> Key:
    return ref.api_version, ref.kind, ref.namespace


@dataclass
class Stats:
    """API requests one wait made (a benchmark reads these); thread-safe counters."""

    lists: int = 0
    watches: int = 0
    relists: int = 0  # lists after a 410 Gone
    errors: int = 0  # temporary failures that led to a back-off
    events: int = 0
    gets: int = 0  # single reads of a gate's first look
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def requests(self) -> int:
        return self.lists + self.watches + self.gets

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class Signal:
    """A change counter several collections share, so one waiter wakes on a change in any."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.version = 0

    def bump(self) -> None:
        """Call with ``changed`` held."""
        self.version += 1
        self.changed.notify_all()

    def wait(self, version: int, timeout: float) -> None:
        """Return when something changed after ``version``, or after ``timeout`` seconds."""
        with self.changed:
            if self.version == version:
                self.changed.wait(timeout)


class Collections:
    """What the followers saw, per collection: the latest object of each name, the last
    problem (the API went away), and ``members``, bumped only when an object appears or goes.
    Read it with ``signal.changed`` held."""

    def __init__(self, signal: Signal | None = None) -> None:
        self.signal = signal or Signal()
        self.objects: dict[Key, dict[str, Obj]] = {}
        self.problems: dict[Key, str] = {}
        self.members: dict[Key, int] = {}
        self.fatal: ClusterbootError | None = None

    def update(
        self,
        key: Key,
        *,
        items: list[Obj] | None = None,
        event: tuple[str, Obj] | None = None,
        problem: str | None = None,
    ) -> int:
        """Record a list, an event or a problem; wakes the waiters; returns the new version."""
        with self.signal.changed:
            if items is not None:
                self.objects[key] = {i["metadata"]["name"]: i for i in items}
                self.problems.pop(key, None)
                self.members[key] = self.members.get(key, 0) + 1
            if event is not None:  # (the watch delivers again: the last problem is over)
                self.problems.pop(key, None)
                kind, obj = event
                seen = self.objects.setdefault(key, {})
                name = obj["metadata"]["name"]
                if kind == "DELETED":
                    seen.pop(name, None)
                self.members[key] = self.members.get(key, 0) + (
                    kind == "DELETED" or name not in seen
                )
                if kind != "DELETED":
                    seen[name] = obj
            if problem is not None:
                self.problems[key] = problem
            self.signal.bump()
            return self.signal.version

    def fail(self, key: Key, err: ClusterbootError) -> None:
        with self.signal.changed:
            self.fatal = err
            self.problems[key] = str(err)
            self.signal.bump()

    def listed(self, key: Key) -> bool:
        return key in self.objects


class Follower(threading.Thread):
    """Lists one collection into ``store``, then watches it from the list's resourceVersion,
    resuming from the last one seen; relists on 410 Gone, and after a back-off when the API went
    away. Runs while ``left()`` seconds remain and ``cancel`` is not set; an error that is not
    temporary stops it and is kept in ``store.fatal``.

    ``listed(version)`` is called after each list (the gate uses it to judge a fresh list before
    any watch request is made)."""

    def __init__(
        self,
        kube: Kube,
        key: Key,
        *,
        store: Collections,
        stats: Stats,
        cancel: Cancel,
        left: Callable[[], float] = lambda: math.inf,
        sleep: Callable[[float], None] | None = None,
        window: int = MAX_WINDOW,
        listed: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name=f"watch {key[1]} {key[2] or '*'}", daemon=True)
        self.kube, self.key, self.store, self.stats, self.cancel = kube, key, store, stats, cancel
        self.left, self.window, self.listed = left, window, listed
        self.sleep = sleep or self._pause
        self._resume: str | None = None  # the last resourceVersion a list or watch gave

    def run(self) -> None:
        pause = BACKOFF[0]
        version: str | None = None  # None: list first
        failed_resumes = 0
        while not self.cancel.is_set() and self.left() > 0:
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
                pause, failed_resumes = BACKOFF[0], 0
            except Expired:
                self.stats.add(relists=1)
                version = None
            except TemporaryError as err:
                self.stats.add(errors=1)
                self.store.update(self.key, problem=err.message.splitlines()[0])
                self.sleep(min(pause, max(0.0, self.left())))
                pause = min(BACKOFF[1], pause * 2)
                # A watch cut mid-stream resumes from the last resourceVersion it delivered (the
                # server replays what came after; 410 if too old); a failed list, or a resume
                # that keeps failing, lists again.
                failed_resumes += self._resume is not None
                version = self._resume if failed_resumes <= MAX_RESUMES else None
            except ClusterbootError as err:
                self.store.fail(self.key, err)
                return

    def _list(self) -> str:
        api_version, kind, namespace = self.key
        self._resume = None
        items, version = self.kube.list(api_version, kind, namespace=namespace)
        self.stats.add(lists=1)
        listed = [{"apiVersion": api_version, "kind": kind, **i} for i in items]
        changed = self.store.update(self.key, items=listed)
        if self.listed is not None:
            self.listed(changed)
        self._resume = version
        return version

    def _watch(self, version: str) -> str:
        """One watch window from ``version``; returns the last resourceVersion seen."""
        api_version, kind, namespace = self.key
        left = self.left()
        if left <= 0 or self.cancel.is_set():
            return version
        self.stats.add(watches=1)
        for event, obj in self.kube.watch(
            api_version,
            kind,
            namespace=namespace,
            resource_version=version,
            timeout_seconds=max(1, min(self.window, math.ceil(min(left, 1e9)))),
            cancel=self.cancel,
        ):
            if event == "ERROR":
                raise Expired(f"watch {kind}: {obj.get('message', obj)}")
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            self._resume = version
            self.stats.add(events=1)
            if event != "BOOKMARK":
                self.store.update(self.key, event=(event, obj))
        self.store.update(self.key)  # the window ended: let the waiter look at the clock
        return version

    def _pause(self, seconds: float) -> None:
        stop = threading.Event()
        deadline = time.monotonic() + seconds
        while not self.cancel.is_set() and time.monotonic() < deadline:
            stop.wait(min(0.05, max(0.0, deadline - time.monotonic())))


# -- judging objects --------------------------------------------------------------------------
Seen = tuple[Obj | None, str | None]  # an object (None: absent) and a problem to mention


class ObjectReader(Protocol):
    def get(self, ref: ObjectRef) -> Seen: ...

    def get_many(self, refs: Sequence[ObjectRef]) -> dict[ObjectRef, Seen]: ...

    def pods(self, namespace: str | None) -> list[Obj]: ...


class Reader:
    """What a gate reads objects through: the API itself, or an ``Observer``'s cache."""

    def __init__(self, kube: Kube, stats: Stats | None = None) -> None:
        self.kube, self.stats = kube, stats or Stats()

    def get(self, ref: ObjectRef) -> tuple[Obj | None, str | None]:
        """The object (None when absent) and a problem to mention; raises on a hard error."""
        self.stats.add(gets=1)
        try:
            return self.kube.get(ref.api_version, ref.kind, ref.name, ref.namespace), None
        except TemporaryError as err:  # a kind not served yet, the API away for a moment
            return None, err.message.splitlines()[0]

    def get_many(self, refs: Sequence[ObjectRef]) -> dict[ObjectRef, Seen]:
        """Each ref as ``get`` sees it: one list for a collection that holds several of them
        (a component's CRDs), a get for a single one."""
        seen: dict[ObjectRef, Seen] = {}
        for (api_version, kind, namespace), members in by_collection(refs).items():
            if len(members) == 1:
                seen[members[0]] = self.get(members[0])
                continue
            self.stats.add(lists=1)
            try:
                items, _ = self.kube.list(api_version, kind, namespace=namespace)
            except TemporaryError as err:
                problem = err.message.splitlines()[0]
                seen.update({ref: (None, problem) for ref in members})
                continue
            named = {item["metadata"]["name"]: item for item in items}
            seen.update({ref: (named.get(ref.name), None) for ref in members})
        return seen

    def pods(self, namespace: str | None) -> list[Obj]:
        self.stats.add(lists=1)
        try:
            return self.kube.list("v1", "Pod", namespace=namespace)[0]
        except TemporaryError:
            return []


def by_collection(refs: Iterable[ObjectRef]) -> dict[Key, list[ObjectRef]]:
    grouped: dict[Key, list[ObjectRef]] = {}
    for ref in refs:
        grouped.setdefault(key_of(ref), []).append(ref)
    return grouped


def judge(
    reader: ObjectReader,
    ref: ObjectRef,
    *,
    now: float,
    grace: float,
    seen: Seen | None = None,
) -> health.Health:
    """One object's health: its own rules, and for a workload not Current yet, its pods
    stalled past ``grace`` (CrashLoopBackOff, image pull errors). ``seen``: the object as
    already read, else it is read through ``reader``."""
    obj, problem = reader.get(ref) if seen is None else seen
    if obj is None:
        if problem is not None and problem.startswith("not listed yet"):
            return health.waiting(problem)
        return health.Health("NotFound", f"not found{f' ({problem})' if problem else ''}")
    verdict = health.assess(obj, now=now, grace_seconds=grace)
    group = ref.api_version.rpartition("/")[0]
    if verdict.current or verdict.failed or (group, ref.kind) not in health.WORKLOAD_KINDS:
        return verdict
    pods = reader.pods(ref.namespace)
    stalled = health.stalled_pods(health.pods_of(obj, pods), now, grace)
    return health.failed("; ".join(stalled)) if stalled else verdict


def readiness(
    reader: ObjectReader,
    refs: Iterable[ObjectRef],
    *,
    grace: float,
    wall: Callable[[], float] = time.time,
) -> Verdict:
    """One look at ``refs``, as a gate's verdict: passed when every one is Current, broken when
    one failed, else waiting with every blocker named. The verdict names the collections to
    follow while waiting (``Verdict.watching``)."""
    refs = list(refs)
    now = wall()
    seen = reader.get_many(refs)
    verdicts = {ref: judge(reader, ref, now=now, grace=grace, seen=seen[ref]) for ref in refs}
    broken = [f"{ref}: {v.reason}" for ref, v in verdicts.items() if v.failed]
    if broken:
        return Verdict.broken(f"{len(broken)} of {len(refs)} objects failed", *broken)
    blocking = {ref: v for ref, v in verdicts.items() if not v.current}
    if not blocking:
        return Verdict.passed(f"{len(refs)} objects ready")
    follow = {key_of(ref) for ref in blocking} | {
        ("v1", "Pod", ref.namespace)
        for ref in blocking
        if (ref.api_version.rpartition("/")[0], ref.kind) in health.WORKLOAD_KINDS
    }
    return Verdict(
        False,
        f"{len(blocking)} of {len(refs)} objects not ready",
        tuple(f"{ref}: {v.reason}" for ref, v in blocking.items()),
        watching=tuple(sorted(follow, key=str)),
    )


class Observer:
    """Reads for a gate the engine waits on. Until a collection is followed, reads go to the
    API; ``follow`` starts a follower for each collection a waiting verdict names, and once it
    has listed, reads come from its cache. ``wait`` returns at the first change (or after the
    pause), so the engine's next look comes within a round-trip of what it waits for.

    One observer lives for one gate's wait: the followers list after the stage's changes were
    applied, so the cache is never older than what the gate judges."""

    def __init__(self, kube: Kube, clock: Clock, stats: Stats | None = None) -> None:
        self.kube, self.clock = kube, clock
        self.stats = stats or Stats()
        self.direct = Reader(kube, self.stats)
        self.store = Collections()
        self.cancel = Cancel()
        self.followers: dict[Key, Follower] = {}

    def follow(self, keys: Iterable[Key]) -> None:
        for key in keys:
            if key not in self.followers:
                self.followers[key] = Follower(
                    self.kube, key, store=self.store, stats=self.stats, cancel=self.cancel
                )
                self.followers[key].start()

    def _cached(self, key: Key) -> dict[str, Obj] | None:
        with self.store.signal.changed:
            if isinstance(self.store.fatal, Interrupted):
                raise self.store.fatal
            if key not in self.followers or not self.store.listed(key):
                return None
            return dict(self.store.objects[key])

    def get(self, ref: ObjectRef) -> tuple[Obj | None, str | None]:
        seen = self._cached(key_of(ref))
        if seen is None:
            return self.direct.get(ref)
        return seen.get(ref.name), self.store.problems.get(key_of(ref))

    def get_many(self, refs: Sequence[ObjectRef]) -> dict[ObjectRef, Seen]:
        seen: dict[ObjectRef, Seen] = {}
        uncached: list[ObjectRef] = []
        for key, members in by_collection(refs).items():
            cached = self._cached(key)
            if cached is None:
                uncached.extend(members)
                continue
            problem = self.store.problems.get(key)
            seen.update({ref: (cached.get(ref.name), problem) for ref in members})
        return {**seen, **self.direct.get_many(uncached)}

    def pods(self, namespace: str | None) -> list[Obj]:
        seen = self._cached(("v1", "Pod", namespace))
        return self.direct.pods(namespace) if seen is None else list(seen.values())

    @property
    def version(self) -> int:
        return self.store.signal.version

    def wait(self, verdict: Verdict, seconds: float, *, since: int) -> None:
        """Follow what ``verdict`` names, then return at the first change after ``since`` (the
        version before the look that gave the verdict), or after ``seconds``."""
        self.follow(verdict.watching)
        self.store.signal.wait(since, seconds)
        cancel = getattr(self.clock, "cancel", None)
        if cancel is not None and cancel.is_set():
            raise Interrupted("interrupted while waiting", hint="run `invoke up` again to continue")

    def close(self) -> None:
        self.cancel.set()
        give_up = time.monotonic() + 2.0
        for follower in self.followers.values():
            follower.join(timeout=max(0.0, give_up - time.monotonic()))


# -- waiting outside the engine ---------------------------------------------------------------
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
    epoch seconds that grace periods are measured against (objects carry wall-clock stamps).

    Every collection is followed from the start, so the first look judges a fresh list and the
    wait makes one list and one watch per collection, never one poll per object."""
    stats = stats or Stats()
    until = clock.now() + deadline
    store, cancel = Collections(), Cancel()
    judged = threading.Condition()
    looked = [0]

    def after_list(version: int) -> None:  # a fresh list that is all ready ends the wait here
        with judged:
            judged.wait_for(lambda: looked[0] >= version or cancel.is_set(), timeout=1.0)

    view = _StoreView(store)
    followers: dict[Key, Follower] = {}

    def follow(key: Key) -> None:
        if key not in followers:
            followers[key] = Follower(
                kube,
                key,
                store=store,
                stats=stats,
                cancel=cancel,
                left=lambda: until - clock.now(),
                sleep=clock.sleep,
                listed=after_list,
            )
            followers[key].start()

    view.follow = follow
    for ref in refs:
        follow(key_of(ref))
    try:
        while True:
            with store.signal.changed:
                seen = store.signal.version
                if isinstance(store.fatal, Interrupted):
                    raise store.fatal
                if store.fatal is not None:
                    fatal = store.fatal
                    raise GateFailed(what, f"cannot watch: {fatal.message}") from fatal
                now = wall()
                verdicts = {ref: judge(view, ref, now=now, grace=grace_seconds) for ref in refs}
            done = all(v.current for v in verdicts.values())
            if done:
                cancel.set()  # before the followers hear of the look: no watch after a list
            with judged:
                looked[0] = seen
                judged.notify_all()
            if done:
                return
            _decide(what, verdicts, deadline, done=clock.now() >= until)
            with wait.waiting():
                store.signal.wait(seen, min(0.5, max(0.01, until - clock.now())))
    finally:
        cancel.set()
        with judged:
            judged.notify_all()
        give_up = time.monotonic() + 2.0
        for follower in followers.values():
            follower.join(timeout=max(0.0, give_up - time.monotonic()))


class _StoreView:
    """Reads from followers only (for ``await_objects``, which follows every collection it
    judges); pods are followed the first time a workload needs them."""

    def __init__(self, store: Collections) -> None:
        self.store = store
        self.follow: Callable[[Key], None] = lambda key: None

    def get(self, ref: ObjectRef) -> tuple[Obj | None, str | None]:
        key = key_of(ref)
        problem = self.store.problems.get(key)
        if not self.store.listed(key):
            return None, f"not listed yet{f' ({problem})' if problem else ''}"
        return self.store.objects[key].get(ref.name), problem

    def get_many(self, refs: Sequence[ObjectRef]) -> dict[ObjectRef, Seen]:
        return {ref: self.get(ref) for ref in refs}

    def pods(self, namespace: str | None) -> list[Obj]:
        key: Key = ("v1", "Pod", namespace)
        self.follow(key)
        return list((self.store.objects.get(key) or {}).values())


def _decide(
    what: str, verdicts: dict[ObjectRef, health.Health], deadline: float, *, done: bool
) -> None:
    """Raise when the wait is decided against: an object failed, or time is up."""
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
