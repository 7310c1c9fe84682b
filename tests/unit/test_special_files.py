"""Where a file is expected, anything else is refused at once and named: a FIFO (reading it
would block for ever), a device (``/dev/zero`` never ends, and reports a size of 0), a
directory. And what is read from a file is bounded, as is what a report makes the timeline
draw."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from bootstrap.commands import app, timeline
from bootstrap.components.sealed_secrets import sealing
from bootstrap.errors import InputError
from bootstrap.profile.schema import Profile

pytestmark = pytest.mark.timeout(60)  # a hang is the failure these tests look for

OK = "name: p\ncluster: {provider: local, name: p}\n"


def plan(profile: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = app.plan(app.Invocation(profile=profile, out=out, err=err, log_format="json"))
    return code, out.getvalue() + err.getvalue()


def fifo(path: Path) -> Path:
    os.mkfifo(path, 0o600)
    return path


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda t: fifo(t / "p.yaml"), "is a FIFO, not a regular file"),
        (lambda t: Path("/dev/zero"), "is a device, not a regular file"),
    ],
    ids=["fifo", "dev-zero"],
)
def test_a_profile_that_is_no_regular_file_is_refused_at_once(
    tmp_path: Path, make: object, phrase: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    code, text = plan(str(path))
    assert code == 2, text
    assert phrase in text


def test_an_extends_that_is_a_fifo_is_refused_naming_it(tmp_path: Path) -> None:
    fifo(tmp_path / "base.yaml")
    (tmp_path / "p.yaml").write_text("extends: base.yaml\n" + OK)
    code, text = plan(str(tmp_path / "p.yaml"))
    assert code == 2, text
    assert "base.yaml" in text
    assert "is a FIFO" in text


@pytest.mark.parametrize("name", ["fifo", "/dev/zero", "a-dir"])
def test_a_report_that_is_no_regular_file_is_refused(tmp_path: Path, name: str) -> None:
    path = Path(name) if name.startswith("/") else tmp_path / name
    if name == "fifo":
        fifo(path)
    elif name == "a-dir":
        path.mkdir()
    with pytest.raises(InputError) as raised:
        timeline.write(path, tmp_path / "t.html")
    assert "not a regular file" in raised.value.message
    assert not (tmp_path / "t.html").exists()


def test_an_age_identity_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    identity = fifo(tmp_path / "backup.agekey")
    profile = Profile.model_validate({
        "name": "p", "cluster": {"provider": "local", "name": "p"},
        "components": {"sealed_secrets": {"age_identity": str(identity)}},
    })
    with pytest.raises(InputError, match="is a FIFO, not a regular file"):
        sealing.identities(profile)


def test_a_report_claiming_an_endless_stage_draws_a_bounded_axis(tmp_path: Path) -> None:
    report = {
        "profile": "p", "started": "2026-01-01T00:00:00Z",
        "stages": [{"name": "cluster_local", "status": "changed", "seconds": 1e15,
                    "started": "2026-01-01T00:00:00Z", "why": ""}],
        "waves": [],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    out = tmp_path / "t.html"
    assert timeline.write(path, out) == 1
    assert out.read_text().count("<line") <= 20  # the ticks: about 12, not 1e11
