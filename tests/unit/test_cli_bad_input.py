"""Bad input through the command layer: exit 2, a message that names the problem and where it
is, and no stage ran (no stage event, no report, no cluster state)."""

from __future__ import annotations

import io
import json
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import invoke
import pytest
import structlog
import yaml

import bootstrap.commands.dr
import stages
import tasks
from bootstrap.commands import app, preflight
from bootstrap.stage import Change, Context, Stage

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, body: dict[str, object], name: str = "p") -> Path:
    body = {"state_dir": str(tmp_path / "state"), **body}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def local(tmp_path: Path, **extra: object) -> Path:
    return write(tmp_path, {"extends": str(REPO / "profiles" / "local.yaml"), **extra})


def run_up(profile: Path | str, *, sets: tuple[str, ...] = (), **kwargs: object) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), sets=sets, log_format="json", out=out, err=err)
    code = app.up(inv, **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue() + err.getvalue()


CASES = [
    ("unknown top-level key", lambda t: local(t, clutser={}), {}, (), ["clutser", "unknown key"]),
    ("wrong type", lambda t: local(t, concurrency="two"), {}, (), ["concurrency", "integer"]),
    (
        "bad --set path",
        lambda t: local(t),
        {},
        ("cluster.lcoal.nodes=3",),
        ["--set", "cluster.lcoal"],
    ),
    (
        "unknown stage in --only",
        lambda t: local(t),
        {"only": ["metalb"]},
        (),
        ["unknown stage 'metalb'"],
    ),
    (
        "unknown stage in --from",
        lambda t: local(t),
        {"start_from": "nope"},
        (),
        ["unknown stage 'nope'"],
    ),
    (
        "--only with --from",
        lambda t: local(t),
        {"only": ["metallb"], "start_from": "argocd"},
        (),
        ["cannot be combined"],
    ),
    (
        "a tool the provider needs is missing",
        lambda t: write(
            t, {"cluster": {"provider": "eks", "name": "x", "eks": {"region": "eu-west-1"}}}
        ),
        {},
        (),
        ["eksctl is not on PATH; it is needed for the eks cluster", "install it:"],
    ),
    (
        # Offline: an air-gapped bundle directory that lacks the pinned manifest.
        "a pinned artifact missing from the bundle directory",
        lambda t: local(t, artifacts={"dir": str(t / "bundle")}),
        {},
        ("components.metallb.enabled=true", "components.metallb.mode=manifests"),
        ["artifacts.dir", "is missing (metallb", "invoke bundle"],
    ),
    (
        "missing binaries",
        lambda t: local(t),
        {},
        (f"cluster.local.binaries_dir={'/nonexistent/bins'}",),
        ["binaries are missing", "make binaries"],
    ),
    ("missing profile", lambda t: t / "nope.yaml", {}, (), ["nope.yaml"]),
    (
        "--only naming no stage (what `--only ,,` gives)",
        lambda t: local(t),
        {"only": ["", "", ""]},
        (),
        ["--only names no stage", "stages of this profile, in order: cluster_local"],
    ),
    (
        "a profile nested 5,000 deep (PyYAML would recurse until RecursionError)",
        lambda t: raw(t, "deep: " + "[" * 5000 + "]" * 5000),
        {},
        (),
        ["invalid YAML at line", "nested more than 64 levels deep"],
    ),
    (
        "block mappings nested 1,000 deep",
        lambda t: raw(t, "deep:\n" + "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(1000))),
        {},
        (),
        ["nested more than 64 levels deep"],
    ),
    (
        "a --set value nested 5,000 deep",
        lambda t: local(t),
        {},
        ("waves.per_wave_seconds=" + "[" * 5000 + "]" * 5000,),
        ["--set: waves.per_wave_seconds: values nested more than 64 levels deep"],
    ),
    (
        "a list as a mapping key",
        lambda t: raw(t, "cluster:\n  ? [a, b]\n  : 1"),
        {},
        (),
        ["line 4, column 5", "a key must be a name, not a list"],
    ),
    (
        "a mapping as a mapping key",
        lambda t: raw(t, "? {a: 1}\n: 1"),
        {},
        (),
        ["a key must be a name, not a mapping"],
    ),
    (
        "a --set below a single value",
        lambda t: local(t),
        {},
        ("waves.per_wave_seconds=12", "waves.per_wave_seconds.x=1"),
        ["'per_wave_seconds' holds a single value, not a mapping"],
    ),
]


def raw(tmp_path: Path, text: str) -> Path:
    """A profile extending local, with ``text`` appended as written (not through a dumper)."""
    path = tmp_path / "p.yaml"
    base = REPO / "profiles" / "local.yaml"
    path.write_text(f"extends: {base}\nstate_dir: {tmp_path / 'state'}\n{text}\n")
    return path


@pytest.mark.parametrize(
    ("label", "make", "kwargs", "sets", "phrases"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_exits_2_names_the_problem_and_runs_no_stage(
    tmp_path: Path,
    label: str,
    make: object,
    kwargs: dict[str, object],
    sets: tuple[str, ...],
    phrases: list[str],
) -> None:
    profile = make(tmp_path)  # type: ignore[operator]
    code, text = run_up(profile, sets=sets, **kwargs)
    assert code == 2, text
    for phrase in phrases:
        assert phrase in text
    assert "stage.start" not in text
    assert "Traceback" not in text
    assert not (tmp_path / "state").exists(), "a run refused with exit 2 makes no state directory"


class LeakyStage(Stage):
    """A cluster stage that runs a real command with the profile's secret in argv and stderr."""

    name = "cluster_local"
    provides = "cluster"

    def plan(self, ctx: Context) -> Iterator[Change]:
        assert ctx.profile.root_app is not None
        assert ctx.profile.root_app.credentials is not None
        assert ctx.profile.root_app.credentials.password is not None
        token = ctx.profile.root_app.credentials.password.reveal()
        structlog.get_logger("t").info(
            "login.attempt", stage=self.name, url=f"https://x:{token}@git"
        )
        yield Change(f"log in with {token}", lambda c: self._fail(c, token))

    def _fail(self, ctx: Context, token: str) -> None:
        ctx.runner.run(["sh", "-c", 'echo "denied for $1" >&2; exit 3', "sh", token])


def test_a_secret_from_the_environment_never_reaches_output_or_report_of_a_failing_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-9f8e7d6c5b4a-very-secret"
    monkeypatch.setenv("GITOPS_TOKEN", secret)
    monkeypatch.setattr(stages, "for_profile", lambda profile: [LeakyStage()])
    profile = write(
        tmp_path,
        {
            "cluster": {"provider": "local", "name": "sec"},
            "components": {"sealed_secrets": {"enabled": False}},  # no helm needed
            "root_app": {
                "repo_url": "https://git.example/platform.git",
                "credentials": {"password": "${GITOPS_TOKEN}"},
            },
        },
    )
    for log_format in ("json", "console"):
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(profile=str(profile), log_format=log_format, out=out, err=err)
        code = app.up(inv)
        text = out.getvalue() + err.getvalue()
        assert code == 1
        assert "exited with 3" in text
        assert "denied for" in text
        assert secret not in text
        report = (tmp_path / "state" / "reports" / "last-up.json").read_text()
        assert "exited with 3" in report
        assert secret not in report


SECRET = "hunter2-0123456789-not-for-eyes"


@pytest.mark.parametrize(
    ("setting", "phrase"),
    [
        (f"root_app.credentials.password:{SECRET}", "':' follows the key, not '='"),
        (f"root_app.credentials.password {SECRET}", "' ' follows the key, not '='"),
        (f"root_app.credentials.password:={SECRET}", "unknown key 'password:'"),
        (f"root_app..password={SECRET}", "a part of the key is empty"),
    ],
)
def test_a_set_without_equals_names_the_key_and_never_prints_the_value(
    tmp_path: Path, setting: str, phrase: str
) -> None:
    code, text = run_up(local(tmp_path), sets=(setting,))
    assert code == 2, text
    assert "--set: root_app." in text
    assert phrase in text
    assert SECRET not in text
    assert SECRET[:8] not in text  # not a prefix of it either


@pytest.mark.parametrize(
    ("profile", "sets", "key"),
    [
        ({"concurrency": "${TOKEN}"}, (), "concurrency"),
        ({"cluster": {"lb_range": "${TOKEN}"}}, (), "cluster.lb_range"),
        ({"cluster": {"name": "x-${TOKEN}"}}, (), "cluster.name"),
        ({"root_app": {"repo_url": "${TOKEN}", "name": "${TOKEN}"}}, (), "root_app.name"),
        ({}, ("waves.deadline_seconds=${TOKEN}",), "waves.deadline_seconds"),
        ({}, ("cluster.local.nodes=${TOKEN}",), "cluster.local.nodes"),
    ],
)
def test_a_value_from_the_environment_is_never_echoed_by_a_validation_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    profile: dict[str, object],
    sets: tuple[str, ...],
    key: str,
) -> None:
    monkeypatch.setenv("TOKEN", "Q9x-env-value-0123456789")
    code, text = run_up(local(tmp_path, **profile), sets=sets)
    assert code == 2, text
    assert f"{key}: " in text
    assert "the value comes from the environment; not shown" in text
    assert "Q9x-env-value" not in text


ENV_CREDENTIALS = {
    "GITHUB_TOKEN": "gh-env-value-not-a-known-shape-1",
    "GITLAB_TOKEN": "gl-env-value-not-a-known-shape-2",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJH",
    "ARGOCD_AUTH_TOKEN": "argocd-env-value-3",
    "DOCKER_PASSWORD": "docker-env-value-4",
    "OCI_CLI_KEY_CONTENT": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n-----END",
}
TOKEN_SHAPED = [
    "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",
    "github_pat_11AAAAAAA0bbbbbbbbbb_cccccccccccccccccccccccccccccccccc",
    "glpat-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLW5vdC1yZWFs",
]


class ChattyStage(Stage):
    """A cluster stage whose plan and whose tool show credentials nobody referenced."""

    name = "cluster_local"
    provides = "cluster"

    def plan(self, ctx: Context) -> Iterator[Change]:
        shown = " ".join([*ENV_CREDENTIALS.values(), *TOKEN_SHAPED])
        structlog.get_logger("t").info("tool.output", stage=self.name, output=shown)
        yield Change(f"log in with {shown}", self._fail)

    def _fail(self, ctx: Context) -> None:
        script = 'printf "%s\\n" "$GITHUB_TOKEN $AWS_SECRET_ACCESS_KEY $OCI_CLI_KEY_CONTENT $1" >&2'
        ctx.runner.run(["sh", "-c", script + "; exit 3", "sh", " ".join(TOKEN_SHAPED)])


def test_credentials_from_the_environment_and_token_shapes_never_reach_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(stages, "for_profile", lambda profile: [ChattyStage()])
    profile = write(
        tmp_path,
        {
            "cluster": {"provider": "local", "name": "chatty"},
            "components": {"sealed_secrets": {"enabled": False}},  # no helm needed
        },
    )
    leaks = [*ENV_CREDENTIALS.values(), "MIIEvQIBADANBgkqhkiG9w0BAQEF", *TOKEN_SHAPED]
    runs = [(app.up, "json", 1), (app.up, "console", 1), (app.plan, "console", 0)]
    for command, log_format, expected in runs:
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(profile=str(profile), log_format=log_format, out=out, err=err)
        code = command(inv)
        text = out.getvalue() + err.getvalue()
        assert code == expected, text
        assert "***" in text
        assert not [leak for leak in leaks if leak in text]
    out = io.StringIO()
    assert app.status(app.Invocation(profile=str(profile), log_format="json", out=out)) == 1
    assert "log in with ***" in out.getvalue()
    assert not [leak for leak in leaks if leak in out.getvalue()]
    report = (tmp_path / "state" / "reports" / "last-up.json").read_text()
    assert "exited with 3" in report
    assert not [leak for leak in leaks if leak in report]


@pytest.mark.parametrize(
    ("flags", "phrase"),
    [
        ({"only": ",,"}, "--only names no stage"),
        ({"only": " , "}, "--only names no stage"),
        ({"log_format": "xml"}, "--log-format 'xml' is not a log format"),
    ],
)
def test_the_up_task_refuses_flags_that_select_nothing_or_no_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: dict[str, str], phrase: str
) -> None:
    out, err = io.StringIO(), io.StringIO()  # stay open: the log may still point at err
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    options = {"profile": str(local(tmp_path)), "set": None, "log_format": "json", **flags}
    with pytest.raises(invoke.Exit) as stopped:
        tasks.up(invoke.Context(), **options)
    assert stopped.value.code == 2
    assert phrase in err.getvalue()
    assert "stage.start" not in err.getvalue() + out.getvalue()
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("command", [app.plan, app.status, app.down, app.doctor])
def test_every_command_refuses_an_unknown_log_format(tmp_path: Path, command: object) -> None:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(local(tmp_path)), log_format="xml", out=out, err=err)
    assert command(inv) == 2  # type: ignore[operator]
    assert "use one of: auto, console, json" in err.getvalue()
    assert out.getvalue() == ""


class Recorder(Stage):
    """A cluster stage that only notes that it was planned (nothing may plan on bad input)."""

    name = "cluster_local"
    provides = "cluster"
    planned: ClassVar[list[str]] = []

    def plan(self, ctx: Context) -> Iterator[Change]:
        self.planned.append(self.name)
        return iter(())


def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: object) -> Path:
    Recorder.planned = []
    monkeypatch.setattr(stages, "for_profile", lambda profile: [Recorder()])
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    body = {"cluster": {"provider": "local", "name": "rec"}, **extra}
    return write(tmp_path, {"components": {"sealed_secrets": {"enabled": False}}, **body})


@pytest.mark.parametrize(
    ("flags", "extra", "phrases"),
    [
        ({"report_path": "a-dir"}, {}, ["--report", "a-dir is a directory, not a file"]),
        (
            {"report_path": "a-file/r.json"},
            {},
            ["--report", "a-file is a file, so nothing can be made below it"],
        ),
        ({"report_path": "a-file/x/y/r.json"}, {}, ["a-file is a file, so nothing can be made"]),
        ({"junit_path": "a-dir"}, {}, ["--junit", "a-dir is a directory, not a file"]),
        ({"junit_path": "a-file/j.xml"}, {}, ["--junit", "a-file is a file, so nothing can"]),
        ({}, {"state_dir": "{tmp}/a-file"}, ["state directory", "a-file is a file, not a dir"]),
        ({}, {"state_dir": "{tmp}/a-file/state"}, ["state directory", "a-file is a file, so"]),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_stage_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: dict[str, str],
    extra: dict[str, str],
    phrases: list[str],
) -> None:
    extra = {k: v.format(tmp=tmp_path) for k, v in extra.items()}
    profile = recorded(tmp_path, monkeypatch, **extra)
    code, text = run_up(profile, **{k: tmp_path / v for k, v in flags.items()})
    assert code == 2, text
    for phrase in phrases:
        assert phrase in text
    assert "Traceback" not in text
    assert Recorder.planned == []
    assert not (tmp_path / "state").exists(), "a refused run leaves no state directory"
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("flag", ["report_path", "junit_path"])
def test_an_output_below_the_home_of_no_such_user_is_refused_before_any_stage_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    profile = recorded(tmp_path, monkeypatch)
    code, text = run_up(profile, **{flag: Path("~no-such-user-here/r.json")})
    assert code == 2, text
    assert "'~no-such-user-here' is no user on this machine" in text
    assert "Traceback" not in text
    assert Recorder.planned == []


def test_a_run_that_passes_preflight_makes_the_state_directory_and_leaves_no_tmp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = recorded(tmp_path, monkeypatch)
    code, text = run_up(profile, report_path=tmp_path / "out" / "r.json")
    assert code == 0, text
    assert Recorder.planned == ["cluster_local"]
    assert (tmp_path / "state").is_dir()
    assert (tmp_path / "out" / "r.json").is_file()
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("out", "phrase"),
    [
        ("a-dir", "--out {tmp}/a-dir is a directory, not a file"),
        ("a-file/t.html", "--out {tmp}/a-file/t.html: {tmp}/a-file is a file, so nothing"),
    ],
)
def test_report_out_onto_a_directory_or_below_a_file_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, phrase: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    run = tmp_path / "run.json"
    run.write_text(
        '{"profile": "p", "result": "succeeded", "stages": [], "waves": [],'
        ' "started": "2024-01-01T00:00:00.000Z", "finished": "2024-01-01T00:00:01.000Z"}'
    )
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(invoke.Exit) as stopped:
        tasks.report(invoke.Context(), in_=str(run), out=str(tmp_path / out), log_format="json")
    assert stopped.value.code == 2
    assert phrase.format(tmp=tmp_path) in err.getvalue()
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize(
    ("out", "phrase"),
    [
        ("a-file", "--out {tmp}/a-file is a file, not a directory"),
        ("a-file/bundle", "--out {tmp}/a-file/bundle: {tmp}/a-file is a file, so nothing"),
    ],
)
def test_bundle_out_onto_a_file_or_below_one_is_refused_before_fetching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, phrase: str
) -> None:
    profile = recorded(tmp_path, monkeypatch)
    fetched: list[object] = []
    monkeypatch.setattr(app.artifacts, "bundle", lambda *a, **k: fetched.append(a) or [])
    out_text, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out_text, err=err)
    assert app.bundle(inv, out_dir=tmp_path / out) == 2
    assert phrase.format(tmp=tmp_path) in err.getvalue()
    assert fetched == []


def test_backup_out_onto_a_directory_is_refused_before_the_cluster_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = recorded(tmp_path, monkeypatch)
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=io.StringIO(), err=err)
    assert app.backup(inv, out_file=tmp_path / "a-dir") == 2
    assert f"--out {tmp_path / 'a-dir'} is a directory, not a file" in err.getvalue()
    assert Recorder.planned == []


def test_backup_out_onto_an_existing_backup_is_refused_unless_asked_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = recorded(tmp_path, monkeypatch)
    last_good = tmp_path / "keys.age"
    last_good.write_bytes(b"age-encryption.org/v1\nthe last good backup\n")
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=io.StringIO(), err=err)
    assert app.backup(inv, out_file=last_good) == 2
    assert f"--out {last_good} already exists, and may be the last good backup" in err.getvalue()
    assert "--overwrite" in err.getvalue()
    assert last_good.read_bytes() == b"age-encryption.org/v1\nthe last good backup\n"
    assert Recorder.planned == []
    # asked to: it goes on to the cluster (here none runs, so it stops there)
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=io.StringIO(), err=err)
    app.backup(inv, out_file=last_good, overwrite=True)
    assert "already exists" not in err.getvalue()


def test_a_kubeconfig_that_is_not_utf8_is_bad_input_for_up_and_an_error_row_for_plan(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_bytes(b"apiVersion: v1\nkind: Config\ncontexts: []\n# \xff\xfe\n")
    profile = write(
        tmp_path,
        {
            "extends": str(REPO / "profiles" / "docker-desktop.yaml"),
            "cluster": {"kubeconfig": str(config)},
            "components": {"sealed_secrets": {"enabled": False}},  # no helm needed
        },
    )
    code, text = run_up(profile)
    assert code == 2, text
    assert f"kubeconfig {config} is not UTF-8 text (byte 0xff at offset 43)" in text
    assert "Traceback" not in text
    assert "stage.start" not in text
    assert not (tmp_path / "state").exists()
    out = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=io.StringIO())
    assert app.plan(inv) == 1
    assert "cluster_docker_desktop  error" in out.getvalue()
    assert "is not UTF-8 text" in out.getvalue()


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda t: t / "nope.age", "no key backup at {tmp}/nope.age"),
        (lambda t: t / "a-dir", "key backup {tmp}/a-dir is a directory, not a file"),
        (lambda t: t / "a-file" / "keys.age", "no key backup at {tmp}/a-file/keys.age"),
        (lambda t: Path("/dev/null"), "key backup /dev/null is not a regular file"),
        (lambda t: t / "a-file", "key backup {tmp}/a-file is not an age-encrypted file"),
        (lambda t: t / "empty.age", "key backup {tmp}/empty.age is not an age-encrypted file"),
    ],
)
def test_dr_checks_its_backup_file_before_the_profile_and_any_other_preflight(
    tmp_path: Path, make: object, phrase: str
) -> None:
    (tmp_path / "a-file").write_text("apiVersion: v1\nkind: List\nitems: []\n")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "empty.age").write_bytes(b"")
    # eksctl missing would be refused by preflight, and the unknown key by the profile check:
    # the backup is looked at before both.
    profile = write(
        tmp_path,
        {"cluster": {"provider": "eks", "name": "x", "eks": {"region": "eu-west-1"}}, "x": 1},
    )
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=io.StringIO(), err=err)
    code = bootstrap.commands.dr.dr(inv, make(tmp_path))  # type: ignore[operator]
    assert code == 2, err.getvalue()
    assert phrase.format(tmp=tmp_path) in err.getvalue()
    assert "hint: give the file `invoke backup` wrote" in err.getvalue()
    assert "eksctl" not in err.getvalue()
    assert not (tmp_path / "state").exists()


def test_dr_goes_on_to_the_profile_once_the_backup_looks_like_an_age_file(tmp_path: Path) -> None:
    backup = tmp_path / "keys.age"
    backup.write_bytes(b"age-encryption.org/v1\n-> X25519 abc\n")
    profile = write(tmp_path, {"cluster": {"provider": "local", "name": "x"}, "x": 1})
    err = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=io.StringIO(), err=err)
    assert bootstrap.commands.dr.dr(inv, backup) == 2
    assert "x: unknown key" in err.getvalue()


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("cluster.lb_range", "0.0.0.0/0", "holds 4,294,967,296 addresses; a pool holds at most"),
        ("cluster.lb_range", "10.0.0.0/8", "holds 16,777,216 addresses"),
        ("cluster.lb_range", "10.0.0.0/15", "holds 131,072 addresses"),
        ("cluster.lb_range", "10.0.0.1-10.2.0.1", "holds 131,073 addresses"),
        ("cluster.lb_range", "10.0.0.9-10.0.0.1", "ends before it starts"),
        ("cluster.lb_range", "127.0.0.0/28", "reaches into 127.0.0.0/8 (loopback addresses)"),
        ("cluster.lb_range", "224.0.0.1-224.0.0.9", "(multicast addresses)"),
        ("cluster.lb_range", "255.255.255.255/32", "(reserved and broadcast addresses)"),
        ("cluster.lb_range", "0.0.0.0/28", "reaches into 0.0.0.0/8"),
        ("components.metallb.address_pool", "0.0.0.0/0", "holds 4,294,967,296 addresses"),
        ("components.metallb.address_pool", "169.254.0.0/24", "(link-local addresses)"),
    ],
)
def test_an_absurd_address_range_is_refused_naming_the_key(
    tmp_path: Path, key: str, value: str, phrase: str
) -> None:
    code, text = run_up(local(tmp_path), sets=(f"{key}={value}",))
    assert code == 2, text
    assert f"--set: {key}: expected a CIDR" in text
    assert phrase in text
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("pool", ["10.0.0.0/16", "198.51.100.0/28", "192.168.1.240-192.168.1.250"])
def test_a_sane_address_range_still_loads(tmp_path: Path, pool: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(
        profile=str(local(tmp_path)), sets=(f"cluster.lb_range={pool}",), out=out, err=err
    )
    assert app.plan(inv) == 0, err.getvalue()


def test_the_provider_hint_lists_exactly_the_providers_that_have_a_stage(tmp_path: Path) -> None:
    code, text = run_up(local(tmp_path), sets=("cluster.provider=kind3",))
    assert code == 2, text
    hint = text.split("expected one of", 1)[1].split("(got", 1)[0]
    assert set(re.findall(r"'([a-z0-9-]+)'", hint)) == set(stages.CLUSTER_STAGES)


def test_a_report_directory_without_write_permission_is_refused_before_any_stage_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, for whom every mode bit allows writing: the permission answer is faked.
    profile = recorded(tmp_path, monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    real = preflight.os.access
    monkeypatch.setattr(preflight.os, "access", lambda p, m: Path(p) != locked and real(p, m))
    code, text = run_up(profile, report_path=locked / "r.json")
    assert code == 2, text
    assert f"--report {locked / 'r.json'}: {locked} is not writable" in text
    assert Recorder.planned == []
    assert not (tmp_path / "state").exists()


def test_status_of_an_attached_cluster_whose_api_is_dead_says_so_and_exits_1(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "docker-desktop",
        "clusters": [{"name": "docker-desktop",
                      "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "docker-desktop", "user": {}}],
        "contexts": [{"name": "docker-desktop",
                      "context": {"cluster": "docker-desktop", "user": "docker-desktop"}}],
    }))
    config.chmod(0o600)
    profile = write(tmp_path, {
        "extends": str(REPO / "profiles" / "docker-desktop.yaml"),
        "cluster": {"kubeconfig": str(config)},
        "components": {"sealed_secrets": {"enabled": False}, "argocd": {"enabled": False}},
        "timeouts": {"stage_seconds": 1},
    })
    run_up(profile)  # attaches (the kubeconfig is taken), then finds no API: it died
    out = io.StringIO()
    inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=io.StringIO())
    assert app.status(inv) == 1
    shown = json.loads(out.getvalue())
    assert shown["cluster"]["reachable"] is False
    assert f"127.0.0.1:{port}" in shown["cluster"]["problem"]
