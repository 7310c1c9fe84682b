"""The wave walk: the root's children grouped by sync-wave and walked in ascending order, each
wave gated on every child passing ``argo.verdict``; stale or stuck children nudged through the
API (hard or normal refresh, explicit sync, never over an operation in flight). One watch feeds
it all, and a wave is entered in the same pass that sees the previous one pass.

Waves are released in ascending order of their current numbers, and never a lower number
after a higher one: a child whose wave moves below a wave already released joins the wave
being walked. A child the root prunes, or that is being deleted, is never waited on (it is
reported as pruned); no wave without apps is reported.

Events: ``wave.start``, ``wave.resume`` (stragglers that moved below the last released wave),
``app.passed``, ``app.pruned``, ``app.refresh``, ``app.recheck``, ``app.sync``, ``wave.done`` and
``progress`` (the console's live line: wave n: k/m healthy, the slowest app and why).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from bootstrap import wait
from bootstrap.errors import Interrupted, TemporaryError
from bootstrap.kube.client import Kube
from bootstrap.report import WaveResult, now_iso
from bootstrap.wait import Clock
from bootstrap.waves import argo, rules, tree
from bootstrap.waves.feed import Feed, Obj, Signal, Stats

TICK = 0.25  # re-judge this often without events: grace periods, deadlines, pacing
PROGRESS_EVERY = 0.5  # seconds between two progress lines that differ only in the reason


class Walk:
    """One walk; ``run`` returns when every wave passed, or raises GateFailed / GateTimeout.
    ``results`` receives the per-wave results as they happen (the run report's list)."""

    def __init__(
        self,
        kube: Kube,
        settings: rules.Settings,
        *,
        clock: Clock,
        log: Any,
        results: list[WaveResult],
        pruned: list[str] | None = None,
        stats: Stats | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kube, self.settings, self.clock, self.log, self.wall = kube, settings, clock, log, wall
        self.stats = stats or Stats()
        self.results = results
        self.pruned = pruned if pruned is not None else []
        self.signal = Signal()
        self.feed = Feed(kube, settings.namespace, self.stats, signal=self.signal)
        self.sets: Feed | None = None  # ApplicationSets, followed once the root lists one
        self.index = tree.ChildIndex()
        self.memory: dict[str, rules.Memory] = {}
        self.passed: set[str] = set()
        self.left: dict[int, set[str]] = {}  # wave -> children not passed yet
        self.sizes: dict[int, int] = {}  # wave -> children
        self.wave: int | None = None
        self.released: int | None = None  # the highest wave entered
        self.wave_started = self.wave_until = 0.0
        self.until = clock.now() + settings.deadline
        self._built = -1
        self._shown: tuple[object, str, float] = (None, "", 0.0)

    def run(self) -> None:
        self.feed.start()
        try:
            while True:
                seen = self.feed.snapshot()
                root = seen.apps.get(self.settings.root)
                kids = self.index.update(root, seen.apps, members=seen.members)
                if self._step(seen.apps, root, kids):
                    return
                cancel = getattr(self.clock, "cancel", None)
                if cancel is not None and cancel.is_set():
                    raise Interrupted("interrupted while walking the sync waves")
                with wait.waiting():
                    self.signal.wait(seen.version, TICK)
        finally:
            for feed in (self.feed, self.sets):
                if feed is not None:
                    feed.stop()
            self.results[:] = [r for r in self.results if r.apps]
            self.pruned[:] = sorted(set(self.pruned) | (self.index.pruned - self.passed))

    def _step(self, apps: dict[str, Obj], root: Obj | None, kids: dict[str, int]) -> bool:
        """Judge the current wave; enter the next at once when it passed. True: all done.
        No wave is entered while an ApplicationSet may still generate children."""
        self._rebuild(kids)
        while True:
            if self.wave is None:
                pending = tree.unsettled(root, self._appsets(root)) if root else []
                blockers = tree.root_blockers(
                    root, self.settings.root, pending, self.settings.revisions
                )
                if not self.left and not blockers:
                    return True
                if root is not None:
                    self._tend_root(root)
                picture = tree.picture_blockers(root, self.settings.root, self.settings.revisions)
                if picture:  # the children it lists may be the ones of an older spec or commit
                    self._expire(self.until, {"children": picture[0]}, apps, kids)
                    self._progress(None, f"waiting for the root's new picture: {picture[0]}")
                    return False
                if pending or not self.left:
                    self._expire(self.until, {"children": blockers[0]}, apps, kids)
                    self._progress(None, f"waiting for the children: {blockers[0]}")
                    return False
                self._enter(self._next_wave(), kids)
            wave = self.wave
            assert wave is not None
            gate = {n: w for w, names in self.left.items() if w <= wave for n in names}
            if not self._judge(apps, gate, kids, root):
                return False
            self._finish_wave()

    def _next_wave(self) -> int:
        """The lowest wave left above the last one released; stragglers that moved below it
        are walked with it again (never a lower wave after a higher one)."""
        above = [w for w in self.left if self.released is None or w > self.released]
        if above:
            return min(above)
        assert self.released is not None
        return self.released

    def _rebuild(self, kids: dict[str, int]) -> None:
        """Group the children not passed yet by wave, when the set of children changed."""
        if self._built == self.index.version:
            return
        self._built = self.index.version
        self.left, self.sizes = {}, {}
        for name, wave in kids.items():
            self.sizes[wave] = self.sizes.get(wave, 0) + 1
            if name not in self.passed:
                self.left.setdefault(wave, set()).add(name)

    def _appsets(self, root: Obj) -> dict[str, Obj]:
        if self.sets is None and tree.generators(root):
            self.sets = Feed(
                self.kube,
                self.settings.namespace,
                self.stats,
                kind="ApplicationSet",
                signal=self.signal,
            )
            self.sets.start()
        return self.sets.snapshot().apps if self.sets is not None else {}

    def _judge(
        self, apps: dict[str, Obj], gate: dict[str, int], kids: dict[str, int], root: Obj | None
    ) -> bool:
        """True when every app of the gate passed; raises when one failed or time is up. A
        child the root is about to change is judged only once the root has changed it."""
        now = self.wall()
        waiting: dict[str, argo.AppVerdict] = {}
        for name, wave in gate.items():
            if tree.deleting(apps.get(name)):
                self._prune(name, wave)
                continue
            verdict = self._verdict(name, apps.get(name), now)
            if verdict.outcome == "passed":
                self._pass(name, wave, apps.get(name))
            elif why := tree.updating(root, name):  # no verdict, nor nudge, on the old spec
                waiting[name] = argo.AppVerdict("waiting", why)
            else:
                waiting[name] = verdict
        failed = {n: v for n, v in waiting.items() if v.outcome == "failed"}
        if failed:
            self._record(apps, kids, waiting)
            later = self._known_broken(apps, kids, failed, root)
            pending = {n: v.why for n, v in waiting.items() if n not in failed and n not in later}
            raise rules.failure(self.wave, failed, kids, later=later, pending=pending)
        if not waiting:
            return True
        for name, verdict in waiting.items():
            if verdict.remedy is not None and name in apps:
                self._nudge(name, verdict.remedy, apps[name], now, at_once=verdict.at_once)
        self._expire(self.wave_until, {n: v.why for n, v in waiting.items()}, apps, kids)
        total = self.sizes.get(self.wave or 0, 0)
        healthy = total - len(self.left.get(self.wave or 0, ()))
        slowest = min(waiting, key=lambda n: (self.memory[n].since, n))
        line = f"{healthy}/{total} healthy; slowest {slowest}: {waiting[slowest].why}"
        self._progress((self.wave, healthy), f"wave {self.wave}: {line}", slowest=slowest)
        return False

    def _known_broken(
        self, apps: dict[str, Obj], kids: dict[str, int], failed: Iterable[str], root: Obj | None
    ) -> dict[str, str]:
        """Children not passed yet, in this wave or later ones, that already show a permanent
        error: they would fail too, and the user learns of them in the same run (not one the
        root is about to change: its error is about its old spec)."""
        assert self.wave is not None
        skip = set(failed) | self.passed
        found = {}
        for name in sorted(kids, key=lambda n: (kids[n], n)):
            app = apps.get(name)
            if name not in skip and app is not None and tree.updating(root, name) is None:
                why = argo.known_broken(app)
                if why is not None:
                    found[name] = why
        return found

    def _prune(self, name: str, wave: int) -> None:
        self.index.drop(name)
        self.left.get(wave, set()).discard(name)
        if not self.left.get(wave, True):
            del self.left[wave]
        if name not in self.pruned:
            self.pruned.append(name)
        self.log.info("app.pruned", app=name, wave=wave)

    def _verdict(self, name: str, app: Obj | None, now: float) -> argo.AppVerdict:
        """``argo.verdict`` with the walk's memory; an unchanged app is re-judged each TICK."""
        memory = self.memory.get(name)
        if memory is None:
            memory = self.memory[name] = rules.Memory(joined=self.clock.now())
        version = ((app or {}).get("metadata") or {}).get("resourceVersion")
        if memory.version == version and version and now - memory.judged < TICK:
            return memory.last
        signature = rules.signature(app)
        if signature != memory.signature or not memory.since:
            memory.signature, memory.since = signature, now
        memory.version, memory.judged = version, now
        memory.last = argo.verdict(
            app,
            changed_at=memory.changed_at,
            now=now,
            grace=self.settings.grace,
            since=memory.since,
            refreshes=memory.refreshes,
            syncs=memory.syncs,
            limits=self.settings.limits,
            revisions=self.settings.revisions,
        )
        return memory.last

    # -- what happens -------------------------------------------------------------------
    def _enter(self, wave: int, kids: dict[str, int]) -> None:
        self.wave, self.wave_started = wave, self.clock.now()
        limit = self.settings.per_wave.get(wave, self.settings.deadline)
        self.wave_until = min(self.until, self.wave_started + limit)
        if wave == self.released:
            names = sorted(n for w, left in self.left.items() if w <= wave for n in left)
            self.log.info("wave.resume", wave=wave, apps=names, count=len(names))
            return
        self.released = wave
        self._result(wave).started = now_iso()
        names = sorted(n for n, w in kids.items() if w == wave)
        self.log.info("wave.start", wave=wave, apps=names, count=len(names))

    def _pass(self, name: str, wave: int, app: Obj | None) -> None:
        self.passed.add(name)
        self.left[wave].discard(name)
        if not self.left[wave]:
            del self.left[wave]
        seconds = self.clock.now() - self.memory[name].joined
        self._result(wave).apps.append(rules.app_result(name, app, seconds))
        self.log.info("app.passed", app=name, wave=wave, seconds=round(seconds, 3))

    def _finish_wave(self) -> None:
        assert self.wave is not None
        result = self._result(self.wave)
        result.seconds = round(result.seconds + self.clock.now() - self.wave_started, 3)
        self.log.info("wave.done", wave=self.wave, seconds=result.seconds, apps=len(result.apps))
        self.wave = None

    def _tend_root(self, root: Obj) -> None:
        """A hard refresh of the root when it has not seen the commit clusterboot published
        (its children may have changed with it) or shows an error only a hard refresh clears;
        the walk fails when the refreshes did not clear it."""
        name, now = self.settings.root, self.wall()
        if name not in self.memory:
            self.memory[name] = rules.Memory(joined=self.clock.now(), since=now)
        memory = self.memory[name]
        applied = argo.applied_at(root)
        changes = [t for t in (memory.changed_at, applied) if t is not None]
        verdict = argo.root_verdict(
            root,
            changed_at=max(changes) if changes else None,
            now=now,
            refreshes=memory.refreshes,
            limits=self.settings.limits,
            revisions=self.settings.revisions,
        )
        if verdict is None:
            return
        memory.last = verdict
        if verdict.outcome == "failed":
            raise rules.root_failure(name, verdict, root)
        if verdict.remedy is not None:
            self._nudge(name, verdict.remedy, root, now, at_once=verdict.at_once)

    def _nudge(
        self, name: str, remedy: argo.Remedy, app: Obj, now: float, *, at_once: bool = False
    ) -> None:
        """Apply a hard refresh (paced; the first one at once when ``at_once``) or an explicit
        sync (limited) to one app."""
        memory, limits = self.memory[name], self.settings.limits
        if remedy != "sync":
            last = max(memory.since, memory.changed_at or 0.0)
            early = now - last < self.settings.refresh_after
            done = memory.refreshes if remedy == "refresh" else memory.rechecks
            if (early and not (at_once and done == 0)) or done >= limits.max_refreshes:
                return
        elif memory.syncs >= limits.max_syncs:
            return
        self.stats.add(writes=1)
        try:
            self.kube.apply(rules.nudge(app, remedy), field_manager=rules.NUDGE_MANAGER)
        except TemporaryError as err:  # 409: it changed since we judged it; judge it again
            self.log.info("app.nudge.deferred", app=name, remedy=remedy, why=err.message[:200])
            return
        memory.changed_at, memory.judged = now, 0.0
        memory.refreshes += remedy == "refresh"
        memory.rechecks += remedy == "recheck"
        memory.syncs += remedy == "sync"
        event = {"refresh": "app.refresh", "recheck": "app.recheck"}.get(remedy, "app.sync")
        self.log.info(event, app=name, wave=self.wave, why=memory.last.why)

    def _progress(self, key: object, message: str, **fields: Any) -> None:
        shown_key, shown, at = self._shown
        now = self.clock.now()
        if message == shown or (key == shown_key and now - at < PROGRESS_EVERY):
            return
        self._shown = (key, message, now)
        self.log.info("progress", message=message, wave=self.wave, **fields)

    # -- how it ends badly --------------------------------------------------------------
    def _expire(
        self, until: float, blocking: dict[str, str], apps: dict[str, Obj], kids: dict[str, int]
    ) -> None:
        now = self.clock.now()
        if now >= until:
            self._record(apps, kids, blocking)
            raise rules.timeout(self.wave, now - self.wave_started, blocking, kids)

    def _record(self, apps: dict[str, Obj], kids: dict[str, int], names: Iterable[str]) -> None:
        """Put the apps that did not pass in the report too, with their last status."""
        for name in names:
            if name in kids and name not in self.passed and name in self.memory:
                seconds = self.clock.now() - self.memory[name].joined
                result = rules.app_result(name, apps.get(name), seconds)
                self._result(kids[name]).apps.append(result)
        if self.wave is not None:
            self._result(self.wave).seconds = round(self.clock.now() - self.wave_started, 3)

    def _result(self, wave: int) -> WaveResult:
        """The wave's result, the list kept in ascending order of wave numbers."""
        for result in self.results:
            if result.wave == wave:
                return result
        result = WaveResult(wave)
        self.results.append(result)
        self.results.sort(key=lambda r: r.wave)
        return result
