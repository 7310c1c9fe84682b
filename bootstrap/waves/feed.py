"""One list-then-watch over the Applications (or ApplicationSets) of one namespace, kept in a
thread: the latest object of each, and a ``Signal`` that wakes the wave walk on each change.

Resumes from the last resourceVersion, relists on 410 Gone, backs off while the API is away.
Counts every request it makes (the benchmark reads ``Stats``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from bootstrap.errors import ClusterbootError, TemporaryError
from bootstrap.kube import watch
from bootstrap.kube.client import Cancel, Expired, Kube
from bootstrap.waves import argo

Obj = dict[str, Any]
WINDOW = 60  # seconds one watch request stays open before it is renewed
BACKOFF = (0.2, 2.0)  # first and longest pause after the API went away


@dataclass
class Stats(watch.Stats):
    """API requests of one walk: the wait's counters plus the walk's own writes."""

    writes: int = 0  # refreshes and sync operations

    @property
    def requests(self) -> int:
        return self.lists + self.watches + self.writes


class Signal:
    """A change counter several feeds share, so one waiter wakes on a change in any."""

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


@dataclass(frozen=True)
class Snapshot:
    version: int
    """The signal's version when taken; pass it to ``Signal.wait``."""
    members: int
    """Bumped only when an app appears or goes (discovery can be cached on it)."""
    apps: dict[str, Obj]
    listed: bool
    problem: str | None


class Feed:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        stats: Stats,
        *,
        kind: str = argo.KIND,
        signal: Signal | None = None,
    ) -> None:
        self.kube, self.namespace, self.stats, self.kind = kube, namespace, stats, kind
        self.signal = signal or Signal()
        self._changed = self.signal.changed
        self._apps: dict[str, Obj] = {}
        self._members = 0
        self._listed = False
        self._problem: str | None = None
        self._fatal: ClusterbootError | None = None
        self._stop = threading.Event()
        self._cancel = Cancel()
        self._thread = threading.Thread(
            target=self._run, name=f"watch {kind} {namespace}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._cancel.set()
        self._thread.join(timeout=2.0)

    def snapshot(self) -> Snapshot:
        """The apps seen so far; raises the error that stopped the feed, if one did."""
        with self._changed:
            if self._fatal is not None:
                raise self._fatal
            return Snapshot(
                self.signal.version, self._members, dict(self._apps), self._listed, self._problem
            )

    def _run(self) -> None:
        pause = BACKOFF[0]
        version: str | None = None  # None: list first
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
                pause = BACKOFF[0]
            except Expired:
                self.stats.add(relists=1)
                version = None
            except TemporaryError as err:
                self.stats.add(errors=1)
                self._update(problem=err.message.splitlines()[0])
                self._stop.wait(pause)
                pause = min(BACKOFF[1], pause * 2)
            except ClusterbootError as err:
                with self._changed:
                    self._fatal = err
                    self.signal.bump()
                return

    def _list(self) -> str:
        items, version = self.kube.list(argo.API_VERSION, self.kind, namespace=self.namespace)
        self.stats.add(lists=1)
        self._update(items=items)
        return version

    def _watch(self, version: str) -> str:
        """One watch window from ``version``; returns the last resourceVersion seen."""
        self.stats.add(watches=1)
        for kind, obj in self.kube.watch(
            argo.API_VERSION,
            self.kind,
            namespace=self.namespace,
            resource_version=version,
            timeout_seconds=WINDOW,
            cancel=self._cancel,
        ):
            if kind == "ERROR":
                raise Expired(f"watch {self.kind}: {obj.get('message', obj)}")
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            self.stats.add(events=1)
            if kind != "BOOKMARK":
                self._update(event=(kind, obj))
        return version

    def _update(
        self,
        *,
        items: list[Obj] | None = None,
        event: tuple[str, Obj] | None = None,
        problem: str | None = None,
    ) -> None:
        with self._changed:
            if items is not None:
                self._apps = {i["metadata"]["name"]: i for i in items}
                self._listed, self._problem = True, None
                self._members += 1
            if event is not None:
                kind, obj = event
                name = obj["metadata"]["name"]
                if kind == "DELETED":
                    self._apps.pop(name, None)
                else:
                    self._members += name not in self._apps
                    self._apps[name] = obj
                self._members += kind == "DELETED"
            if problem is not None:
                self._problem = problem
            self.signal.bump()
