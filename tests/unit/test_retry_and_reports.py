"""Retry policies (only temporary errors retry, delays are data) and the report formats."""

from __future__ import annotations

import io
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from bootstrap import report, retry
from bootstrap.commands import app
from bootstrap.errors import StageFailed, TemporaryError


def flaky(failures: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "done"

    return calls, fn


def test_a_temporary_error_is_retried_with_growing_delays_until_it_succeeds() -> None:
    calls, fn = flaky(3, TemporaryError("webhook not serving"))
    slept: list[float] = []
    assert retry.call("api", fn, what="apply", sleep=slept.append) == "done"  # type: ignore[arg-type]
    assert len(calls) == 4
    assert slept == sorted(slept)
    assert slept[0] == pytest.approx(retry.POLICIES["api"].first_delay, rel=0.5)


def test_a_permanent_error_fails_at_once_without_retrying() -> None:
    calls, fn = flaky(5, StageFailed("x", "apply", cause="forbidden"))
    with pytest.raises(StageFailed):
        retry.call("api", fn, what="apply", sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_giving_up_re_raises_the_last_error_unchanged() -> None:
    policy = retry.Policy("tiny", attempts=3, first_delay=0.01, max_delay=0.01)
    calls, fn = flaky(10, TemporaryError("still down"))
    with pytest.raises(TemporaryError, match="still down"):
        retry.call(policy, fn, what="x", sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 3


def sample_report() -> report.Report:
    run = report.Report(profile="ci", result="failed")
    ok = run.stage("cluster_local")
    ok.status, ok.seconds = "changed", 1.5
    bad = run.stage("argocd")
    bad.status, bad.why = "failed", "argocd gate: not ready after 600s\n  - Deployment argocd/x"
    run.stage("root_app").why = "needs argocd, which did not converge"
    run.waves.append(
        report.WaveResult(
            1,
            [
                report.AppResult("db", "Synced", "Healthy", 2.0),
                report.AppResult("api", "Synced", "Degraded", 3.0),
            ],
        )
    )
    return run


def test_json_report_has_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    report.write_json(sample_report(), path)
    data = __import__("json").loads(path.read_text())
    assert set(data) >= {"profile", "result", "cluster", "stages", "waves"}
    assert set(data["stages"][0]) >= {
        "name",
        "status",
        "started",
        "finished",
        "seconds",
        "attempts",
        "changes",
        "why",
    }
    assert data["waves"][0]["apps"][1] == {
        "name": "api",
        "sync": "Synced",
        "health": "Degraded",
        "seconds": 3.0,
    }


def test_junit_report_has_a_case_per_stage_and_app_with_failures_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    report.write_junit(sample_report(), path)
    suite = ET.parse(path).getroot()
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "2"
    assert suite.get("skipped") == "1"
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert failed == ["argocd", "api"]


def test_the_summary_shows_each_stage_and_wave_with_its_time(tmp_path: Path) -> None:
    run = sample_report()
    run.result = "succeeded"
    for stage in run.stages:
        stage.status, stage.why, stage.seconds = "changed", "ready", 1.5
    run.waves.append(report.WaveResult(30, [report.AppResult("shop", "Synced", "Healthy", 1)], 0.5))
    out = io.StringIO()
    app.print_summary(run, out, report_file=tmp_path / "r.json")
    lines = out.getvalue().splitlines()
    assert lines[0] == "✓ up succeeded (profile ci)"
    names = [s.name for s in run.stages]
    assert lines[1] == "  converged: " + ", ".join(f"{n} 1.5s" for n in names)
    assert lines[2] == "  waves: 1 0.0s (2 apps), 30 0.5s (1 app)"


def test_a_succeeded_run_says_how_to_open_argocd_and_a_failed_one_does_not(
    tmp_path: Path,
) -> None:
    run = sample_report()
    for result, shown in (("succeeded", True), ("failed", False)):
        run.result = result
        out = io.StringIO()
        app.print_summary(run, out, report_file=tmp_path / "r.json", argocd="kubectl port-forward")
        assert ("  Argo CD: kubectl port-forward" in out.getvalue().splitlines()) is shown
