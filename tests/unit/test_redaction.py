from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from bootstrap import log, report, secrets


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    secrets.forget_all()
    yield
    secrets.forget_all()


def test_secret_prints_as_a_mask_and_reveals_only_on_request() -> None:
    token = secrets.Secret("ghp_abcdefghijklmnop", source="env:GITOPS_TOKEN")
    assert str(token) == secrets.MASK
    assert "ghp_" not in repr(token)
    assert "env:GITOPS_TOKEN" in repr(token)
    assert token.reveal() == "ghp_abcdefghijklmnop"


def test_redact_masks_every_remembered_value_including_lines_of_multiline_secrets() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    secrets.remember("hunter2-password", key)
    text = "password=hunter2-password and a line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC here"
    assert secrets.redact(text) == "password=*** and a line *** here"


def test_short_values_are_not_remembered_so_ordinary_words_survive() -> None:
    secrets.remember("abc")
    assert secrets.redact("abc def") == "abc def"


@pytest.mark.parametrize("mode", ["json", "console"])
def test_log_lines_never_carry_a_remembered_secret(mode: str) -> None:
    secrets.remember("s3cr3t-token-value")
    out = io.StringIO()
    log.configure(mode=mode, stream=out)
    structlog.get_logger("t").info(
        "change.applied",
        stage="argocd",
        change="login with s3cr3t-token-value",
        nested={"k": ["s3cr3t-token-value"]},
    )
    assert "s3cr3t-token-value" not in out.getvalue()
    assert "***" in out.getvalue()


def test_json_mode_writes_one_parseable_object_per_event() -> None:
    out = io.StringIO()
    log.configure(mode="json", stream=out)
    structlog.get_logger("t").info("stage.done", stage="metallb", status="unchanged", seconds=0.5)
    event = json.loads(out.getvalue().strip())
    assert event["event"] == "stage.done"
    assert event["stage"] == "metallb"


def test_console_mode_prints_one_check_line_per_stage() -> None:
    out = io.StringIO()
    log.configure(mode="console", stream=out)
    structlog.get_logger("t").info(
        "stage.done", stage="metallb", status="changed", seconds=1.25, why="ok"
    )
    structlog.get_logger("t").info(
        "stage.done", stage="argocd", status="failed", seconds=2.0, why="boom"
    )
    lines = out.getvalue().splitlines()
    assert lines == ["✓ metallb (changed, 1.2s)", "✗ argocd (failed, 2.0s) — boom"]


def test_report_json_is_scrubbed(tmp_path: pytest.TempPathFactory) -> None:
    secrets.remember("very-secret-password")
    run = report.Report(profile="p")
    run.stage("root_app").why = "git said: auth failed for very-secret-password"
    path = tmp_path / "r.json"  # type: ignore[operator]
    report.write_json(run, path)
    assert "very-secret-password" not in path.read_text()
