from __future__ import annotations

import base64
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


def test_a_remembered_value_is_masked_in_base64_too_as_a_secrets_data_holds_it() -> None:
    secrets.remember("canary-repo-password-5f1e", "-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END")
    password = base64.b64encode(b"canary-repo-password-5f1e").decode()
    key = base64.b64encode(b"-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END").decode()
    text = f'denied: data {{"password": "{password}", "sshPrivateKey": "{key}"}}'
    assert secrets.redact(text) == 'denied: data {"password": "***", "sshPrivateKey": "***"}'


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


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "gho_" + "a" * 36,
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
        "glpat-" + "x1Y2z3W4v5U6t7S8r9Q0",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    ],
)
def test_text_shaped_like_a_token_is_masked_though_nobody_remembered_it(token: str) -> None:
    line = f"fatal: could not read Username: token={token} rejected"
    assert secrets.redact(line) == "fatal: could not read Username: token=*** rejected"


def test_ordinary_words_ids_and_digests_are_not_taken_for_tokens() -> None:
    line = (
        "ghp_short AKIA eyJ.x.y sha256 " + "0123456789abcdef" * 4 + " uid 6f1c2b3a-1d2e-4f50-9a8b"
    )
    assert secrets.redact(line) == line


def test_credentials_in_the_environment_are_masked_even_when_no_profile_names_them() -> None:
    env = {
        "GITHUB_TOKEN": "plain-looking-token-value",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "DOCKER_PASSWORD": "dckr-pw-1",
        "OCI_CLI_KEY_CONTENT": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END",
        "MY_SERVICE_API_KEY": "guessed-by-its-name",
        "SHORT_TOKEN": "tiny",
        "EDITOR": "vim-nox-editor",
    }
    secrets.remember_environment(env)
    text = " ".join(env.values())
    masked = secrets.redact(text)
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DOCKER_PASSWORD", "MY_SERVICE_API_KEY"):
        assert env[name] not in masked
    assert "MIIEvQIBADANBgkqhkiG9w0B" not in masked
    assert "tiny" in masked, "a value this short under a guessed name would mask ordinary words"
    assert "vim-nox-editor" in masked
