"""Idempotence and faults of the local cluster stage, each on a cluster of its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import wait
from bootstrap.controlplane.layout import read_pid, read_state
from bootstrap.wait import Verdict
from tests.integration.localcluster import LocalCluster, write_profile

pytestmark = pytest.mark.integration


def _processes_under(root: Path) -> list[int]:
    """Living processes whose command line mentions ``root`` (ours, and only ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if str(root) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def spare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = write_profile(tmp_path_factory.mktemp("spare"), "spare")
    code, out, err = cluster.up()
    assert code == 0, out + err
    yield cluster
    cluster.down()


def _report(cluster: LocalCluster) -> dict[str, object]:
    return json.loads((cluster.state_dir / "reports" / "last-up.json").read_text())


def test_up_again_reuses_a_healthy_cluster_and_changes_nothing(spare: LocalCluster) -> None:
    started = time.monotonic()
    code, out, err = spare.up()
    elapsed = time.monotonic() - started
    assert code == 0, out + err
    stage = _report(spare)["stages"][0]  # type: ignore[index]
    assert stage["name"] == "cluster_local"
    assert stage["status"] == "unchanged", stage
    assert elapsed < 30  # generous; the benchmark measures the real figure


def test_a_crashed_apiserver_is_restarted_by_the_keeper_and_the_data_survives(
    spare: LocalCluster,
) -> None:
    api = spare.kube()
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "survivor", "namespace": "default"},
        }
    )
    root = spare.state_dir / "local-cluster"
    pid = read_pid(root / "pids" / "kube-apiserver.pid")
    assert pid is not None
    before = _restarts(root, "kube-apiserver")
    os.kill(pid, signal.SIGKILL)

    def restarted() -> Verdict:
        phase = read_state(root / "state.json").get("phase")
        if _restarts(root, "kube-apiserver") == before or phase != "ready":
            return Verdict.waiting(f"kube-apiserver not restarted yet (keeper phase {phase})")
        return Verdict.passed()

    wait.until(restarted, what="the keeper to restart kube-apiserver", deadline=60,
               clock=wait.RealClock())
    assert read_pid(root / "pids" / "kube-apiserver.pid") != pid
    code, out, err = spare.up()
    assert code == 0, out + err
    assert spare.kube().get("v1", "ConfigMap", "survivor", "default") is not None


def _restarts(root: Path, name: str) -> int:
    components = read_state(root / "state.json").get("components") or {}
    return int((components.get(name) or {}).get("restarts", 0))


def test_a_dead_keeper_with_stale_pid_files_is_cleaned_up_and_started_again(
    spare: LocalCluster,
) -> None:
    root = spare.state_dir / "local-cluster"
    for pid in _processes_under(root):
        os.kill(pid, signal.SIGKILL)

    def all_gone() -> Verdict:  # SIGKILL is delivered at once, but exiting takes a moment
        left = _processes_under(root)
        return Verdict.waiting(f"still running: {left}") if left else Verdict.passed()

    wait.until(all_gone, what="the killed processes to exit", deadline=30, clock=wait.RealClock())
    code, out, err = spare.up()
    assert code == 0, out + err
    stage = _report(spare)["stages"][0]  # type: ignore[index]
    assert any("clear leftovers" in c for c in stage["changes"]), stage


def test_a_keeper_that_dies_while_asked_to_restart_a_component_is_replaced(
    spare: LocalCluster,
) -> None:
    root = spare.state_dir / "local-cluster"
    keeper = read_pid(root / "keeper.pid")
    scheduler = read_pid(root / "pids" / "kube-scheduler.pid")
    assert keeper is not None
    assert scheduler is not None
    os.kill(keeper, signal.SIGSTOP)  # alive, but it will not act on the restart request
    os.kill(scheduler, signal.SIGKILL)
    result: dict[str, tuple[int, str, str]] = {}
    runner = threading.Thread(target=lambda: result.setdefault("up", spare.up()))
    try:
        runner.start()

        def asked() -> Verdict:  # up's SIGHUP is pending on the stopped keeper
            return Verdict.passed() if _pending_signals(keeper) & 1 else Verdict.waiting("no HUP")

        wait.until(asked, what="up to signal the keeper", deadline=120, clock=wait.RealClock())
    finally:
        os.kill(keeper, signal.SIGKILL)
        runner.join(timeout=300)
    code, out, err = result["up"]
    assert code == 0, out + err
    changes = _report(spare)["stages"][0]["changes"]  # type: ignore[index]
    assert any(c.startswith("restart kube-scheduler") for c in changes), changes
    assert read_pid(root / "keeper.pid") not in {None, keeper}
    assert spare.up()[0] == 0


def _pending_signals(pid: int) -> int:
    """The signals waiting for ``pid`` (its own and its thread group's), as a bit mask."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)


def test_a_port_taken_by_another_program_is_reported_with_a_hint(tmp_path: Path) -> None:
    cluster = write_profile(tmp_path, "porttaken")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cluster.api_port))
        squatter.listen(1)
        code, out, err = cluster.up()
    assert code == 1
    assert f"127.0.0.1:{cluster.api_port} is already in use" in out + err
    assert "api_port" in out + err
    assert not _processes_under(cluster.state_dir)


def test_missing_binaries_are_bad_input_and_nothing_starts(tmp_path: Path) -> None:
    cluster = write_profile(tmp_path, "nobins")
    code, _, err = cluster.up(f"cluster.local.binaries_dir={tmp_path / 'empty'}")
    assert code == 2
    assert "binaries are missing" in err
    assert "make binaries" in err
    assert not (cluster.state_dir / "local-cluster").exists()


def test_a_binary_of_the_wrong_version_is_refused(tmp_path: Path, local_bin_dir: Path) -> None:
    fake = tmp_path / "bins"
    shutil.copytree(local_bin_dir, fake, symlinks=True)
    apiserver = next(fake.glob("kubernetes-*/kube-apiserver"))
    apiserver.unlink()
    apiserver.write_text("#!/bin/sh\necho Kubernetes v1.20.0\n")
    apiserver.chmod(0o755)
    cluster = write_profile(tmp_path, "wrongver")
    code, _, err = cluster.up(f"cluster.local.binaries_dir={fake}")
    assert code == 2
    assert "is not version v1.36.1" in err
    assert "v1.20.0" in err


def test_a_read_only_state_directory_fails_with_a_hint(tmp_path: Path) -> None:
    cluster = write_profile(tmp_path, "readonly")
    cluster.state_dir.mkdir()
    if os.geteuid() == 0:
        # Root ignores permission bits; a read-only mount stops root too.
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(cluster.state_dir)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    else:
        cluster.state_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, _, err = cluster.up()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(cluster.state_dir)], check=False)
    assert code == 2
    assert f"state directory {cluster.state_dir} is not writable" in err
    assert "hint:" in err
    assert not _processes_under(cluster.state_dir)


def test_down_stops_every_process_and_removes_the_state(tmp_path: Path) -> None:
    cluster = write_profile(tmp_path, "downer")
    code, out, err = cluster.up()
    assert code == 0, out + err
    root = cluster.state_dir / "local-cluster"
    assert len(_processes_under(root)) >= 6
    code, text = cluster.down()
    assert code == 0, text
    assert "stopped keeper" in text
    assert _processes_under(root) == []
    assert not root.exists()
    assert not cluster.kubeconfig.exists()
