"""`invoke ci`: a cluster of the run's own, the command run against it, and always teardown,
on the real local control plane."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from bootstrap.commands import app, ci
from bootstrap.controlplane.layout import read_pid
from bootstrap.processes.runner import pid_alive
from tests.integration.localcluster import write_profile

pytestmark = pytest.mark.integration

COUNT_NODES = (
    "import json, os, sys; from bootstrap import kube; "
    "api = kube.Kube.connect(os.environ['KUBECONFIG']); nodes, _ = api.list('v1', 'Node'); "
    "open(sys.argv[1], 'w').write(json.dumps({'nodes': len(nodes), "
    "'kubeconfig': os.environ['KUBECONFIG']})); sys.exit(3)"
)


def ephemeral_profile(directory: Path) -> Path:
    made = write_profile(
        directory, "citask", cluster={"name": "cb-ci", "ephemeral": True, "local": {"nodes": 2}}
    )
    return made.profile_file


def invocation(profile: Path, *sets: str) -> tuple[app.Invocation, io.StringIO]:
    err = io.StringIO()
    inv = app.Invocation(
        profile=str(profile), sets=sets, log_format="json", out=io.StringIO(), err=err
    )
    return inv, err


def test_the_command_runs_against_a_cluster_of_its_own_which_is_then_torn_down(
    tmp_path: Path,
) -> None:
    seen, report = tmp_path / "seen.json", tmp_path / "report.json"
    inv, err = invocation(ephemeral_profile(tmp_path))
    command = [sys.executable, "-c", COUNT_NODES, str(seen)]
    assert ci.ci(inv, command, report_path=report) == 3, err.getvalue()[-3000:]
    found = json.loads(seen.read_text())
    assert found["nodes"] == 2
    run_dir = Path(found["kubeconfig"]).parent
    assert run_dir.parent == tmp_path / "state" / "runs"
    assert not run_dir.exists(), "the run's state was left behind"
    data = json.loads(report.read_text())
    assert data["result"] == "succeeded"
    assert data["cluster"]["context"] == "citask"
    assert "tearing the cluster down" in err.getvalue()

    # The command failed: the evidence was collected before teardown took it away.
    made = sorted(tmp_path.glob("ci-*-diagnostics.tar.gz"))  # beside the report
    assert len(made) == 1, made
    assert made[0].stat().st_mode & 0o777 == 0o600
    with tarfile.open(made[0]) as opened:
        files = {Path(m.name).relative_to(Path(m.name).parts[0]).as_posix(): m for m in opened}
        assert {"report.json", "cluster/nodes.txt", "cluster/pods-not-ready.txt"} <= set(files)
        assert "logs/kube-apiserver.log" in files
        nodes = (opened.extractfile(files["cluster/nodes.txt"]) or io.BytesIO()).read().decode()
        everything = b"".join(
            (opened.extractfile(m) or io.BytesIO()).read() for m in files.values()
        )
    assert nodes.count("Ready=True") == 2
    assert b"PRIVATE KEY" not in everything


def test_a_failed_up_runs_no_command_and_still_tears_down_what_it_started(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "seen.json"
    inv, err = invocation(ephemeral_profile(tmp_path), "timeouts.stage_seconds=1")
    command = [sys.executable, "-c", COUNT_NODES, str(seen)]
    assert ci.ci(inv, command, report_path=tmp_path / "report.json") == 1, err.getvalue()
    assert not seen.exists(), "the command ran against a cluster that was not ready"
    runs = tmp_path / "state" / "runs"
    leftovers = list(runs.iterdir()) if runs.exists() else []
    keepers = [read_pid(p / "local-cluster" / "keeper.pid") for p in leftovers]
    assert not any(pid and pid_alive(pid) for pid in keepers), "a cluster was left running"
    assert "tearing the cluster down" in err.getvalue()
    assert len(list(tmp_path.glob("ci-*-diagnostics.tar.gz"))) == 1


def test_a_missing_command_is_bad_input_and_nothing_starts(tmp_path: Path) -> None:
    inv, err = invocation(ephemeral_profile(tmp_path))
    assert ci.ci(inv, []) == 2
    assert "no command to run against the cluster" in err.getvalue()
    assert not (tmp_path / "state" / "runs").exists()


@pytest.mark.parametrize("command", [[""], ["no-such-program-4c1"], ["./not-here.sh", "x"]])
def test_a_command_that_cannot_start_is_bad_input_and_nothing_starts(
    tmp_path: Path, command: list[str]
) -> None:
    inv, err = invocation(ephemeral_profile(tmp_path))
    assert ci.ci(inv, command) == 2
    assert "the command to run cannot start" in err.getvalue()
    assert not (tmp_path / "state" / "runs").exists()
