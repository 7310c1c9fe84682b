"""Runs the stage DAG: plan → apply each change → gate, independent stages concurrently (bounded).

Failure policy: a failed stage stops only the stages that need it; the report says what
converged, what failed and why, and what did not run. Running ``up`` again continues, because
every stage re-observes instead of remembering.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass

import structlog

from bootstrap import report, retry, wait
from bootstrap.engine import dag
from bootstrap.errors import ClusterbootError, Interrupted, TemporaryError
from bootstrap.kube import watch
from bootstrap.stage import CannotKnowYet, Context, Stage, Verdict

log = structlog.get_logger("clusterboot")
SATISFIED = {"changed", "unchanged"}


@dataclass(frozen=True)
class PlanRow:
    stage: str
    state: str  # "up to date" | "would change" | "cannot know yet" | "skipped" | "error"
    detail: tuple[str, ...] = ()


def build_graph(stages: Sequence[Stage], *, tie_order: Sequence[str]) -> dag.Graph:
    nodes = [dag.Node(s.name, s.needs, s.provides) for s in stages]
    return dag.build(nodes, tie_order=tie_order)


class Engine:
    def __init__(self, ctx: Context, stages: Sequence[Stage], *, tie_order: Sequence[str]) -> None:
        self.ctx = ctx
        self.stages = {s.name: s for s in stages}
        self.graph = build_graph(stages, tie_order=tie_order)

    def selection(self, *, only: Sequence[str] = (), start_from: str | None = None) -> list[str]:
        """Validate ``--only``/``--from`` before anything runs; cluster stages always stay in."""
        chosen = dag.select(self.graph, only=only, start_from=start_from)
        providers = [n for n in self.graph.order if self.stages[n].provides == "cluster"]
        return [n for n in self.graph.order if n in set(chosen) | set(providers)]

    # -- plan -------------------------------------------------------------------------------
    def plan(self) -> list[PlanRow]:
        rows = []
        for name in self.graph.order:
            stage = self.stages[name]
            reason = stage.skip_reason(self.ctx.profile)
            if reason:
                rows.append(PlanRow(name, "skipped", (reason,)))
                continue
            try:
                changes = [c.summary for c in stage.plan(self.ctx)]
            except CannotKnowYet as why:
                rows.append(PlanRow(name, "cannot know yet", (why.message,)))
                continue
            except ClusterbootError as err:
                rows.append(PlanRow(name, "error", (str(err),)))
                continue
            rows.append(PlanRow(name, "would change" if changes else "up to date", tuple(changes)))
        return rows

    # -- up ---------------------------------------------------------------------------------
    def up(self, run_report: report.Report, *, selected: Sequence[str]) -> report.Report:
        pending = list(selected)
        for name in self.graph.order:
            result = run_report.stage(name)
            if name not in selected:
                result.why = "not selected"
        running: dict[futures.Future[None], str] = {}
        with futures.ThreadPoolExecutor(max_workers=self.ctx.profile.concurrency) as pool:
            try:
                while pending or running:
                    self._mark_blocked(run_report, pending, selected)
                    for name in self._ready(run_report, pending, running, selected):
                        pending.remove(name)
                        running[pool.submit(self._run_stage, name, run_report)] = name
                    if not running:
                        break
                    done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        future.result()
            except KeyboardInterrupt:
                self._cancel()
                run_report.result = "interrupted"
                for future, name in running.items():
                    future.cancel()
                    run_report.stage(name).why = "interrupted"
                raise
        failed = any(run_report.stage(n).status == "failed" for n in selected)
        blocked = any(run_report.stage(n).status == "not-run" for n in selected)
        run_report.result = "failed" if failed or blocked else "succeeded"
        return run_report

    def _cancel(self) -> None:
        cancel = getattr(self.ctx.clock, "cancel", None)
        if cancel is not None:
            cancel.set()

    def _ready(
        self,
        run_report: report.Report,
        pending: list[str],
        running: dict[futures.Future[None], str],
        selected: Sequence[str],
    ) -> list[str]:
        slots = self.ctx.profile.concurrency - len(running)
        ready = [
            name
            for name in pending
            if all(
                run_report.stage(need).status in SATISFIED or need not in selected
                for need in self.graph.needs[name]
            )
        ]
        return ready[: max(0, slots)]

    def _mark_blocked(
        self, run_report: report.Report, pending: list[str], selected: Sequence[str]
    ) -> None:
        """Stages whose needs failed or were blocked themselves will not run; say so once."""
        for name in list(pending):
            stuck = [
                need
                for need in self.graph.needs[name]
                if need in selected
                and need not in pending
                and run_report.stage(need).status in {"failed", "not-run"}
                and run_report.stage(need).finished is not None
            ]
            if stuck:
                pending.remove(name)
                result = run_report.stage(name)
                result.why = f"needs {', '.join(stuck)}, which did not converge"
                result.finished = report.now_iso()
                log.info("stage.done", stage=name, status="not-run", seconds=0.0, why=result.why)

    def _run_stage(self, name: str, run_report: report.Report) -> None:
        stage = self.stages[name]
        result = run_report.stage(name)
        result.started = report.now_iso()
        start, waited = self.ctx.clock.now(), wait.waited()
        bound = log.bind(stage=name)
        try:
            reason = stage.skip_reason(self.ctx.profile)
            if reason:
                result.status, result.why = "unchanged", f"skipped: {reason}"
            else:
                bound.info("stage.start")
                verdict = retry.call(
                    "stage",
                    lambda: self._converge(stage, result),
                    what=f"stage {name}",
                    sleep=self.ctx.clock.sleep,
                    retry_on=(TemporaryError,),
                )
                result.status = "changed" if result.changes else "unchanged"
                result.why = verdict.why
        except Interrupted:
            result.status, result.why = "failed", "interrupted"
            raise
        except ClusterbootError as err:
            # the report names the stage: "sync_waves: sync_waves: ..." says it twice
            result.status, result.why = "failed", str(err).removeprefix(f"{name}: ")
        except Exception as err:  # a bug: still report it, with the stage named
            bound.debug("stage.crash", traceback=traceback.format_exc())
            result.status, result.why = "failed", f"unexpected {type(err).__name__}: {err}"
        finally:
            result.finished = report.now_iso()
            result.seconds = round(self.ctx.clock.now() - start, 3)
            result.waited_seconds = round(min(result.seconds, wait.waited() - waited), 3)
            bound.info("stage.done", status=result.status, seconds=result.seconds, why=result.why)

    def _converge(self, stage: Stage, result: report.StageResult) -> Verdict:
        """Plan and apply, then wait on the gate. The gate only judges; the engine does the
        waiting (following what a waiting verdict names) and plans again when a verdict says
        the plan would now change something, a bounded number of times."""
        result.attempts += 1
        start: float | None = None
        deadline = stage.gate_deadline(self.ctx)
        for replans in range(MAX_REPLANS + 1):
            self._apply_plan(stage, result)
            # The gate's time starts once the first plan is applied: applying may take longer
            # than the whole deadline of a gate that only confirms (the wave walk).
            start = self.ctx.clock.now() if start is None else start
            left = max(0.0, deadline - (self.ctx.clock.now() - start))
            try:
                verdict = self._await_gate(stage, left, may_replan=replans < MAX_REPLANS)
            except _Replan as again:
                log.info("gate.replan", stage=stage.name, why=again.verdict.why)
                continue
            stage.record(self.ctx)
            return verdict
        raise AssertionError("unreachable: the last look may not ask to plan again")

    def _await_gate(self, stage: Stage, deadline: float, *, may_replan: bool) -> Verdict:
        observer = _LazyObserver(self.ctx)
        try:
            return wait.until(
                lambda: observer.look(stage, may_replan=may_replan),
                what=f"{stage.name} gate",
                deadline=deadline,
                clock=self.ctx.clock,
                on_wait=lambda v, s: log.info(
                    "gate.waiting", stage=stage.name, why=v.why, seconds=s
                ),
                pause=observer.pause,
            )
        finally:
            observer.close()

    def _apply_plan(self, stage: Stage, result: report.StageResult) -> None:
        for change in stage.plan(self.ctx):
            log.info("change.applying", stage=stage.name, change=change.summary)
            change.apply(self.ctx)
            if change.summary not in result.changes:
                result.changes.append(change.summary)
            log.info("change.applied", stage=stage.name, change=change.summary)


MAX_REPLANS = 3


class _Replan(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.why)
        self.verdict = verdict


class _LazyObserver:
    """The observer of one gate's wait, made only when a verdict names what to follow (a
    cluster stage's gate, before there is a cluster to watch, never needs one)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.observer: watch.Observer | None = None
        self.seen = 0

    def look(self, stage: Stage, *, may_replan: bool) -> Verdict:
        if self.observer is None:
            verdict = stage.gate(self.ctx)
        else:
            self.seen = self.observer.version
            with self.ctx.observed_by(self.observer):
                verdict = stage.gate(self.ctx)
        if verdict.replan and may_replan:
            raise _Replan(verdict)
        return verdict

    def pause(self, verdict: Verdict, seconds: float) -> None:
        if not verdict.watching:
            self.ctx.clock.sleep(seconds)
            return
        if self.observer is None:
            self.observer = watch.Observer(self.ctx.kube, self.ctx.clock)
            self.seen = self.observer.version
        self.observer.wait(verdict, seconds, since=self.seen)

    def close(self) -> None:
        if self.observer is not None:
            self.observer.close()
