from __future__ import annotations

import threading

import pytest

from bootstrap import wait
from bootstrap.errors import GateFailed, GateTimeout
from bootstrap.stage import Verdict


def test_until_returns_the_passing_verdict_without_sleeping_when_ready_at_once() -> None:
    clock = wait.FakeClock()
    verdict = wait.until(lambda: Verdict.passed("ok"), what="x", deadline=5, clock=clock)
    assert verdict.why == "ok"
    assert clock.sleeps == []


def test_until_backs_off_and_passes_when_the_check_turns_true() -> None:
    clock = wait.FakeClock()
    answers = iter([Verdict.waiting("a"), Verdict.waiting("b"), Verdict.passed("done")])
    seen: list[str] = []
    verdict = wait.until(
        lambda: next(answers),
        what="x",
        deadline=5,
        clock=clock,
        on_wait=lambda v, _: seen.append(v.why),
    )
    assert verdict.ok
    assert seen == ["a", "b"]
    assert clock.sleeps[1] > clock.sleeps[0]


def test_timeout_names_the_blocking_objects_and_the_last_reason() -> None:
    clock = wait.FakeClock()
    with pytest.raises(GateTimeout) as err:
        wait.until(
            lambda: Verdict.waiting("0/1 ready", "Deployment argocd/argocd-server: 0/1 available"),
            what="argocd gate",
            deadline=10,
            clock=clock,
        )
    text = str(err.value)
    assert "argocd gate" in text
    assert "0/1 ready" in text
    assert "Deployment argocd/argocd-server" in text
    assert clock.now() == pytest.approx(10, abs=0.01)


def test_a_broken_verdict_fails_at_once_instead_of_waiting_out_the_deadline() -> None:
    clock = wait.FakeClock()
    with pytest.raises(GateFailed) as err:
        wait.until(
            lambda: Verdict.broken("CrashLoopBackOff", "Pod x"), what="g", deadline=600, clock=clock
        )
    assert not isinstance(err.value, GateTimeout)
    assert clock.now() == 0


def test_time_inside_nested_waits_is_counted_once_and_only_on_its_own_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = iter([10.0, 11.0, 14.0])  # outer start, inner start, outer end
    monkeypatch.setattr(wait.time, "monotonic", lambda: next(ticks))
    before = wait.waited()
    with wait.waiting(), wait.waiting():
        pass
    assert wait.waited() - before == 4.0

    other: list[float] = []
    thread = threading.Thread(target=lambda: other.append(wait.waited()))
    thread.start()
    thread.join()
    assert other == [0.0]


def test_pauses_between_looks_count_as_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(wait.time, "monotonic", lambda: now[0])
    looks = iter([Verdict.waiting("not yet"), Verdict.waiting("not yet"), Verdict.passed("ok")])

    def pause(verdict: Verdict, seconds: float) -> None:
        now[0] += 2.5  # the look itself takes no time here

    before = wait.waited()
    wait.until(lambda: next(looks), what="x", deadline=60, clock=wait.FakeClock(), pause=pause)
    assert wait.waited() - before == 5.0
