"""The Applications (or ApplicationSets) of one namespace, followed by the one list-then-watch
(``bootstrap.kube.watch.Follower``) for the whole walk: the latest object of each, and a
``Signal`` that wakes the wave walk on each change (shared by the walk's feeds).

Counts every request it makes (the benchmark reads ``Stats``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bootstrap.kube import watch
from bootstrap.kube.client import Cancel, Kube
from bootstrap.kube.watch import Signal
from bootstrap.waves import argo

__all__ = ["Feed", "Obj", "Signal", "Snapshot", "Stats"]

Obj = dict[str, Any]
WINDOW = 60  # seconds one watch request stays open before it is renewed


@dataclass
class Stats(watch.Stats):
    """API requests of one walk: the wait's counters plus the walk's own writes."""

    writes: int = 0  # refreshes and sync operations

    @property
    def requests(self) -> int:
        return self.lists + self.watches + self.gets + self.writes


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
        self.key: watch.Key = (argo.API_VERSION, kind, namespace)
        self.store = watch.Collections(signal)
        self.signal = self.store.signal
        self._cancel = Cancel()
        self._follower = watch.Follower(
            kube, self.key, store=self.store, stats=stats, cancel=self._cancel, window=WINDOW
        )

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._cancel.set()
        self._follower.join(timeout=2.0)

    def snapshot(self) -> Snapshot:
        """The apps seen so far; raises the error that stopped the feed, if one did."""
        store = self.store
        with self.signal.changed:
            if store.fatal is not None:
                raise store.fatal
            return Snapshot(
                self.signal.version,
                store.members.get(self.key, 0),
                dict(store.objects.get(self.key) or {}),
                store.listed(self.key),
                store.problems.get(self.key),
            )
