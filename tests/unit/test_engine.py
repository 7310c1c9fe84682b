"""The engine with in-memory stages: order, concurrency bound, failure policy, re-run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from bootstrap import report, wait
from bootstrap.engine.run import MAX_REPLANS, Engine
from bootstrap.errors import StageFailed, TemporaryError
from bootstrap.profile.schema import Profile
from bootstrap.stage import CannotKnowYet, Change, ClusterInfo, Context, Stage, Verdict

ORDER = ("cluster_fake", "metallb", "sealed_secrets", "argocd", "root_app")


class World:
    """What the fake stages observe and change: a set of facts."""

    def __init__(self) -> None:
        self.facts: set[str] = set()
        self.applied: list[str] = []
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.fail: dict[str, Exception] = {}


class Fact(Stage):
    needs: ClassVar[tuple[str, ...]] = ("cluster",)

    def __init__(
        self,
        name: str,
        world: World,
        *,
        needs: tuple[str, ...] = ("cluster",),
        provides: str | None = None,
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.needs = needs  # type: ignore[misc]
        self.provides = provides  # type: ignore[misc]
        self.world = world

    def plan(self, ctx: Context) -> Iterator[Change]:
        if self.provides != "cluster" and not ctx.has_cluster:
            raise CannotKnowYet("needs the cluster")
        if self.name not in self.world.facts:
            yield Change(f"create {self.name}", self._apply)
        elif self.provides == "cluster":
            ctx.publish_cluster(ClusterInfo(Path("/k"), "ctx", "https://127.0.0.1:1"))

    def _apply(self, ctx: Context) -> None:
        with self.world.lock:
            self.world.running += 1
            self.world.max_running = max(self.world.max_running, self.world.running)
        try:
            error = self.world.fail.pop(self.name, None)
            if error is not None:
                raise error
            self.world.facts.add(self.name)
            self.world.applied.append(self.name)
            if self.provides == "cluster":
                ctx.publish_cluster(ClusterInfo(Path("/k"), "ctx", "https://127.0.0.1:1"))
        finally:
            with self.world.lock:
                self.world.running -= 1

    def gate(self, ctx: Context) -> Verdict:
        return (
            Verdict.passed(f"{self.name} ok")
            if self.name in self.world.facts
            else Verdict.waiting("absent")
        )


def make(world: World, concurrency: int = 2) -> Engine:
    profile = Profile.model_validate(
        {"name": "t", "cluster": {"provider": "local", "name": "t"}, "concurrency": concurrency}
    )
    ctx = Context(
        profile=profile, runner=None, state_dir=Path("/nonexistent"), clock=wait.FakeClock()
    )  # type: ignore[arg-type]
    stages = [
        Fact("root_app", world, needs=("argocd",)),
        Fact("argocd", world),
        Fact("sealed_secrets", world),
        Fact("metallb", world),
        Fact("cluster_fake", world, needs=(), provides="cluster"),
    ]
    return Engine(ctx, stages, tie_order=ORDER)


def run(engine: Engine) -> report.Report:
    return engine.up(report.Report(profile="t"), selected=engine.selection())


def test_up_applies_every_stage_once_in_dependency_order() -> None:
    world = World()
    result = run(make(world))
    assert result.result == "succeeded"
    assert world.applied[0] == "cluster_fake"
    assert world.applied.index("argocd") < world.applied.index("root_app")
    assert sorted(world.applied) == sorted(ORDER)
    assert {s.name: s.status for s in result.stages} == {n: "changed" for n in ORDER}


def test_second_up_changes_nothing() -> None:
    world = World()
    run(make(world))
    again = run(make(world))
    assert again.result == "succeeded"
    assert {s.status for s in again.stages} == {"unchanged"}
    assert len(world.applied) == len(ORDER)


@pytest.mark.parametrize("bound", [1, 2, 3])
def test_independent_stages_run_concurrently_within_the_bound(bound: int) -> None:
    world = World()
    run(make(world, concurrency=bound))
    assert world.max_running <= bound


def test_a_failed_stage_blocks_only_its_dependents_and_the_report_says_why() -> None:
    world = World()
    world.fail["argocd"] = StageFailed("argocd", "apply", cause="boom", hint="fix it")
    result = run(make(world))
    by_name = {s.name: s for s in result.stages}
    assert result.result == "failed"
    assert by_name["argocd"].status == "failed"
    assert "boom" in by_name["argocd"].why
    assert by_name["root_app"].status == "not-run"
    assert "needs argocd" in by_name["root_app"].why
    assert by_name["metallb"].status == "changed"
    assert by_name["sealed_secrets"].status == "changed"


def test_rerun_after_a_failure_converges_without_duplicates() -> None:
    world = World()
    world.fail["argocd"] = StageFailed("argocd", "apply", cause="boom")
    run(make(world))
    again = run(make(world))
    assert again.result == "succeeded"
    assert sorted(world.applied) == sorted(ORDER)
    statuses = {s.name: s.status for s in again.stages}
    assert statuses["argocd"] == "changed"
    assert statuses["metallb"] == "unchanged"


def test_a_temporary_error_retries_the_stage_and_counts_attempts() -> None:
    world = World()
    world.fail["metallb"] = TemporaryError("webhook not serving yet")
    result = run(make(world))
    metallb = next(s for s in result.stages if s.name == "metallb")
    assert metallb.status == "changed"
    assert metallb.attempts == 2


def test_plan_marks_stages_behind_a_missing_cluster_as_cannot_know_yet() -> None:
    rows = make(World()).plan()
    assert [r.stage for r in rows] == list(ORDER)
    assert rows[0].state == "would change"
    assert {r.state for r in rows[1:]} == {"cannot know yet"}


class Recording(Fact):
    """A stage that counts its gate's looks and what it records once the gate passed."""

    def __init__(self, name: str, world: World, *, passes_after: int) -> None:
        super().__init__(name, world, needs=("cluster",))
        self.passes_after = passes_after
        self.looks = 0
        self.recorded: list[int] = []

    def gate(self, ctx: Context) -> Verdict:
        self.looks += 1
        if self.looks < self.passes_after:
            return Verdict.waiting("not yet")
        return super().gate(ctx)

    def record(self, ctx: Context) -> None:
        self.recorded.append(self.looks)


def test_a_stage_records_once_after_its_gate_passed_not_at_every_look() -> None:
    world = World()
    engine = make(world)
    recording = Recording("metallb", world, passes_after=3)
    engine.stages["metallb"] = recording
    assert run(engine).result == "succeeded"
    assert recording.looks == 3
    assert recording.recorded == [3]


class Walking(Recording):
    """A stage whose changes take long (a wave walk) and whose gate then only confirms, with a
    deadline much shorter than the changes took."""

    def _apply(self, ctx: Context) -> None:
        super()._apply(ctx)
        ctx.clock.sleep(1000)

    def gate_deadline(self, ctx: Context) -> float:
        return 30.0


def test_a_gate_gets_its_whole_deadline_after_changes_that_took_longer() -> None:
    world = World()
    engine = make(world)
    walking = Walking("metallb", world, passes_after=3)
    engine.stages["metallb"] = walking
    assert run(engine).result == "succeeded"
    assert walking.looks == 3


def test_a_stage_whose_gate_never_passes_records_nothing() -> None:
    world = World()
    engine = make(world)
    recording = Recording("metallb", world, passes_after=10**9)
    engine.stages["metallb"] = recording
    assert run(engine).result == "failed"
    assert recording.recorded == []


class Restarting(Fact):
    """A stage whose gate finds, ``broken_looks`` times, something only a new plan fixes (a pod
    to restart): the plan then yields the restart."""

    def __init__(self, name: str, world: World, *, broken_looks: int) -> None:
        super().__init__(name, world, needs=("cluster",))
        self.stuck = broken_looks
        self.noticed = False  # the gate saw the stuck pod (what a plan observes in a cluster)
        self.plans = 0

    def plan(self, ctx: Context) -> Iterator[Change]:
        self.plans += 1
        yield from super().plan(ctx)
        if self.stuck and self.noticed:
            yield Change("restart the stuck pod", self._restart)

    def _restart(self, ctx: Context) -> None:
        self.stuck -= 1
        self.world.applied.append(f"restart {self.name}")

    def gate(self, ctx: Context) -> Verdict:
        if self.stuck:
            self.noticed = True
            return Verdict(False, "a pod is stuck", ("Pod x",), replan=True)
        return super().gate(ctx)


def test_a_gate_that_needs_a_new_plan_gets_one_and_the_restart_is_a_reported_change() -> None:
    world = World()
    engine = make(world)
    restarting = Restarting("argocd", world, broken_looks=1)
    engine.stages["argocd"] = restarting
    result = run(engine)
    argocd = next(s for s in result.stages if s.name == "argocd")
    assert result.result == "succeeded"
    assert argocd.changes == ["create argocd", "restart the stuck pod"]
    assert world.applied.count("restart argocd") == 1
    assert restarting.plans == 2


def test_plans_again_only_a_bounded_number_of_times_then_times_out() -> None:
    world = World()
    engine = make(world)
    restarting = Restarting("argocd", world, broken_looks=10**6)
    engine.stages["argocd"] = restarting
    result = run(engine)
    argocd = next(s for s in result.stages if s.name == "argocd")
    assert result.result == "failed"
    assert "not ready after" in argocd.why
    assert "a pod is stuck" in argocd.why
    assert restarting.plans == 1 + MAX_REPLANS
