"""Kill `invoke up` at a random moment, run it again, and compare the cluster with a clean
run's: every trial must converge with nothing duplicated, nothing lost (the sealing keys above
all), no orphaned process and no stale lock.

    .venv/bin/python bench/kill_resume.py [--trials 10] [--seed 1] [--signal KILL|INT|TERM]

Each trial: a fresh state directory; `invoke up --profile local` (a subprocess, JSON logs);
the signal sent after a delay drawn from the seeded generator (uniform over the clean run's
duration, so every stage gets hit); then `invoke up` again to the end; then the comparison;
then `down`. Replay one trial with `--seed S --trials 1 --first N`. Prints one line per trial
and a summary. Everything runs on 127.0.0.1 and in the cluster's own network namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from local_cluster import free_port  # noqa: E402 - bench/ is on sys.path when run as a script

from bootstrap.kube.client import Kube  # noqa: E402

INVOKE = str(REPO / ".venv" / "bin" / "invoke")
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
RANDOM_NAMES = ("sealed-secrets-key",)  # names the controller makes up: counted, not compared


def profile(directory: Path) -> Path:
    path = directory / "trial.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": "killtrial",
        "state_dir": str(directory / "state"),
        "cluster": {"name": "cb-killtrial", "local": {"api_port": free_port()}},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def up(path: Path, *, kill_after: float | None = None, sig: int = signal.SIGKILL) -> dict[str, Any]:
    """Run `invoke up`; with ``kill_after``, send ``sig`` then; return exit code, time, the
    last stage seen starting, and the log."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [INVOKE, "up", "--profile", str(path), "--log-format", "json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    seconds = time.monotonic() - started
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    stages = [e.get("stage") for e in events if e.get("event") == "stage.start"]
    changes = [e.get("change") for e in events if e.get("event") == "change.applying"]
    return {
        "code": proc.returncode,
        "seconds": seconds,
        "stage": stages[-1] if stages else "(before any stage)",
        "change": changes[-1] if changes else "",
        "out": out,
        "err": err,
    }


def snapshot(kubeconfig: Path) -> dict[str, Any]:
    """What must be the same after a resumed run as after a clean one."""
    kube = Kube.connect(kubeconfig)
    found: dict[str, Any] = {}
    for api, kind in (
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Namespace"),
        ("bitnami.com/v1alpha1", "SealedSecret"),
        ("metallb.io/v1beta1", "IPAddressPool"),
        ("metallb.io/v1beta1", "L2Advertisement"),
        ("argoproj.io/v1alpha1", "AppProject"),
    ):
        items, _ = kube.list(api, kind)
        names = sorted(
            f"{(i['metadata'].get('namespace') or '')}/{i['metadata']['name']}"
            for i in items
            if not any(part in i["metadata"]["name"] for part in RANDOM_NAMES)
            and i.get("type") != "kubernetes.io/service-account-token"
        )
        found[kind] = names
    apps, _ = kube.list("argoproj.io/v1alpha1", "Application")
    found["Application"] = sorted(
        (
            a["metadata"]["name"],
            (a.get("status") or {}).get("sync", {}).get("status"),
            (a.get("status") or {}).get("health", {}).get("status"),
        )
        for a in apps
    )
    keys, _ = kube.list("v1", "Secret", label_selector=f"{KEY_LABEL}=active")
    found["sealing keys"] = len(keys)
    return found


def orphans(state: Path) -> list[str]:
    """Processes left behind that name the state directory, other than the keeper and the
    components it runs (which are meant to outlive `up`)."""
    keeper = state / "local-cluster"
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(state) in cmdline and str(keeper) not in cmdline:
            left.append(f"{pid}: {cmdline[:120]}")
    return left


def diff(clean: dict[str, Any], resumed: dict[str, Any]) -> list[str]:
    lines = []
    for key in clean.keys() | resumed.keys():
        a, b = clean.get(key), resumed.get(key)
        if a != b:
            if isinstance(a, list) and isinstance(b, list):
                lines.append(
                    f"{key}: lost {sorted(set(a) - set(b))}, extra {sorted(set(b) - set(a))}"
                )
            else:
                lines.append(f"{key}: clean {a}, resumed {b}")
    return lines


def down(path: Path) -> None:
    subprocess.run(
        [INVOKE, "down", "--profile", str(path)],
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=1, help="the number of the first trial")
    parser.add_argument("--signal", default="KILL", choices=["KILL", "INT", "TERM"])
    args = parser.parse_args()
    sig = getattr(signal, f"SIG{args.signal}")
    with tempfile.TemporaryDirectory(prefix="cb-kill-clean-") as tmp:
        path = profile(Path(tmp))
        clean_run = up(path)
        if clean_run["code"] != 0:
            raise SystemExit(f"the clean run failed:\n{clean_run['out']}")
        clean = snapshot(Path(tmp) / "state" / "kubeconfig")
        down(path)
    duration = clean_run["seconds"]
    compared = sum(len(v) for v in clean.values() if isinstance(v, list))
    print(
        f"clean run: {duration:.1f} s; {compared} objects compared, "
        f"{clean['sealing keys']} sealing key(s)",
        flush=True,
    )
    rng = random.Random(args.seed)
    # A signal must land while up still runs: draw from the first 90 % of the clean run.
    delays = [rng.uniform(0.5, 0.9 * duration) for _ in range(args.first - 1 + args.trials)]
    failures = 0
    for number in range(args.first, args.first + args.trials):
        delay = delays[number - 1]
        with tempfile.TemporaryDirectory(prefix="cb-kill-") as tmp:
            path, state = profile(Path(tmp)), Path(tmp) / "state"
            try:
                killed = up(path, kill_after=delay, sig=sig)
                problems = []
                if args.signal != "KILL" and killed["code"] not in (0, 130):
                    problems.append(f"exit {killed['code']} after SIG{args.signal}, not 130")
                if args.signal != "KILL" and killed["code"] == 130:
                    report = json.loads((state / "reports" / "last-up.json").read_text())
                    problems += (
                        []
                        if report["result"] == "interrupted"
                        else [f"the interrupted run's report says {report['result']!r}"]
                    )
                resumed = up(path)  # after the interrupted run's report was read
                if resumed["code"] != 0:
                    problems.append(
                        f"the next up exited {resumed['code']}: "
                        f"{resumed['out'].strip().splitlines()[-3:]}"
                    )
                else:
                    problems += diff(clean, snapshot(state / "kubeconfig"))
                problems += [f"orphan {line}" for line in orphans(state)]
            finally:
                down(path)
        failures += bool(problems)
        verdict = "converged" if not problems else "PROBLEM: " + "; ".join(problems)
        print(
            f"trial {number} (seed {args.seed}): SIG{args.signal} after {delay:.1f} s in "
            f"{killed['stage']} ({killed['change'][:60] or 'gate'}), exit {killed['code']}; "
            f"next up {resumed['seconds']:.1f} s: {verdict}",
            flush=True,
        )
    print(
        f"{args.trials - failures} of {args.trials} trials converged (SIG{args.signal}, "
        f"seed {args.seed})"
    )


if __name__ == "__main__":
    main()
