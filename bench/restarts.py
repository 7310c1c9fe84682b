"""Kill a part of the running cluster while `invoke up` works, and check that the same run
converges: kube-apiserver or etcd during an apply, a gate or the wave walk, and Argo CD's
application-controller or repo-server during the walk. The local cluster's keeper restarts what
died (as the kubelet would); `up` must ride that out and end with the same objects as a clean
run, within its deadline, or fail with a clear error.

    .venv/bin/python bench/restarts.py [--victims etcd,...] [--moments apply,gate,walk]

Each trial: a fresh state directory; `invoke up --profile local` (a subprocess, JSON logs
followed as they come); at the first event of the chosen moment (``change.applying`` of a
platform stage, ``gate.waiting``, ``wave.start``) the victim's process gets SIGKILL; the run
goes on to its end; then the comparison with a clean run (bench/kill_resume.py's snapshot);
then `down`. Everything runs on 127.0.0.1 and in the cluster's own network namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kill_resume import INVOKE, diff, down, orphans, profile, snapshot  # noqa: E402

from bootstrap.controlplane.layout import read_pid, read_state  # noqa: E402

PLATFORM = {"metallb", "sealed_secrets", "argocd"}
MOMENTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "apply": lambda e: e.get("event") == "change.applying" and e.get("stage") in PLATFORM,
    "gate": lambda e: e.get("event") == "gate.waiting",
    "walk": lambda e: e.get("event") == "wave.start",
}
CORE = ("kube-apiserver", "etcd")
ARGO = ("argocd-application-controller", "argocd-repo-server")


def trial(path: Path, state: Path, victim: str, moment: str) -> dict[str, Any]:
    """One `up` with ``victim`` killed at ``moment``; what happened."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [INVOKE, "up", "--profile", str(path), "--log-format", "json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed: dict[str, Any] = {}
    lines: list[str] = []

    def follow() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if killed or not line.startswith("{"):
                continue
            event = json.loads(line)
            if MOMENTS[moment](event):
                pid = read_pid(state / "local-cluster" / "pids" / f"{victim}.pid")
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, at=time.monotonic() - started, event=event)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=900)
    reader.join(timeout=10)
    components = read_state(state / "local-cluster" / "state.json").get("components") or {}
    return {
        "code": proc.returncode,
        "seconds": time.monotonic() - started,
        "killed": killed,
        "restarts": (components.get(victim) or {}).get("restarts", 0),
        "out": out,
        "err": "".join(lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--victims", default=",".join(CORE + ARGO))
    parser.add_argument("--moments", default="apply,gate,walk")
    args = parser.parse_args()
    plan = [
        (victim, moment)
        for victim in args.victims.split(",")
        for moment in args.moments.split(",")
        if victim in CORE or moment == "walk"  # Argo CD runs only from its own stage on
    ]
    with tempfile.TemporaryDirectory(prefix="cb-restart-clean-") as tmp:
        path = profile(Path(tmp))
        clean_run = subprocess.run(
            [INVOKE, "up", "--profile", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if clean_run.returncode != 0:
            raise SystemExit(f"the clean run failed:\n{clean_run.stdout}")
        clean = snapshot(Path(tmp) / "state" / "kubeconfig")
        down(path)
    print(
        f"clean run: {sum(len(v) for v in clean.values() if isinstance(v, list))} objects",
        flush=True,
    )
    failures = 0
    for victim, moment in plan:
        with tempfile.TemporaryDirectory(prefix="cb-restart-") as tmp:
            path, state = profile(Path(tmp)), Path(tmp) / "state"
            try:
                ran = trial(path, state, victim, moment)
                problems = []
                if not ran["killed"]:
                    problems.append(f"no {moment} moment with {victim} running was seen")
                if ran["code"] != 0:
                    tail = ran["out"].strip().splitlines()[-4:]
                    problems.append(f"up exited {ran['code']}: {tail}")
                else:
                    problems += diff(clean, snapshot(state / "kubeconfig"))
                problems += [f"orphan {line}" for line in orphans(state)]
            finally:
                down(path)
        failures += bool(problems)
        at = ran["killed"].get("at")
        when = f"after {at:.1f} s" if at is not None else "never"
        verdict = "converged" if not problems else "PROBLEM: " + "; ".join(problems)
        print(
            f"{victim} killed during {moment} ({when}; restarted {ran['restarts']}x): "
            f"exit {ran['code']} in {ran['seconds']:.1f} s: {verdict}",
            flush=True,
        )
    print(f"{len(plan) - failures} of {len(plan)} trials converged in the same run")


if __name__ == "__main__":
    main()
