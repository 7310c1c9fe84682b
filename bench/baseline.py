"""clusterboot against the hand-written way, side by side, on the same kind of cluster.

    .venv/bin/python bench/baseline.py [--runs 5] [--poll 5]

Each run: a fresh local cluster with the platform installed the same way for both (clusterboot
`up --only cluster_local,metallb,sealed_secrets,argocd,sandbox_repo`: the real MetalLB and
Sealed Secrets controllers and a real Argo CD as processes, the sample repository published),
then one contender takes it from there to every Application of the sample repository Synced
and Healthy:

- clusterboot: `invoke up --profile <the same profile>`, whole (its earlier stages find nothing
  to do and are counted in its figures);
- the baseline: bench/baseline.sh, as the seed repositories do it: `kubectl apply` of the same
  root Application, `kubectl wait` for its sync, then a polling loop over the Applications
  every ``--poll`` seconds.

The contenders alternate (clusterboot first, then the baseline, and so on). Per run: wall time,
CPU seconds of the contender's process tree (``RUSAGE_CHILDREN``), and the API requests it
made, counted in kube-apiserver's audit log (``cluster.local.audit_log``) by user agent
(``clusterboot/``, ``kubectl/``). Then `down`. Everything runs on 127.0.0.1 and in the
cluster's own network namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kill_resume import INVOKE, down  # noqa: E402
from local_cluster import free_port  # noqa: E402

from bootstrap.components import sandbox  # noqa: E402
from bootstrap.controlplane.layout import Layout  # noqa: E402
from bootstrap.controlplane.spec import audit_log  # noqa: E402
from bootstrap.kube.client import Kube  # noqa: E402
from bootstrap.profile import loader  # noqa: E402
from stages.root_app import application  # noqa: E402

SCRIPT = str(REPO / "bench" / "baseline.sh")
PREREQUISITES = "cluster_local,metallb,sealed_secrets,argocd,sandbox_repo"
AGENTS = {"clusterboot": "clusterboot/", "baseline": "kubectl/"}


def profile(directory: Path) -> Path:
    path = directory / "baseline.yaml"
    body = {
        "extends": str(REPO / "profiles" / "local.yaml"),
        "name": "baseline",
        "state_dir": str(directory / "state"),
        "cluster": {"name": "cb-baseline", "local": {"api_port": free_port(), "audit_log": True}},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def timed(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``argv``; its exit code, wall seconds and CPU seconds (it and its children)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = proc.communicate(timeout=900)
    wall = time.monotonic() - started
    return {"code": proc.returncode, "wall": wall, "out": out, "err": err}


def children_cpu() -> float:
    """CPU seconds of every reaped child so far (and their reaped children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def requests_since(log: Path, offset: int, agent: str) -> int:
    """Audit events after byte ``offset`` whose user agent starts with ``agent``."""
    count = 0
    with log.open("rb") as handle:
        handle.seek(offset)
        for line in handle:
            event = json.loads(line)
            if str(event.get("userAgent", "")).startswith(agent):
                count += 1
    return count


def all_synced(kubeconfig: Path) -> tuple[int, bool]:
    apps, _ = Kube.connect(kubeconfig).list(
        "argoproj.io/v1alpha1", "Application", namespace="argocd"
    )
    states = [
        (
            (a.get("status") or {}).get("sync", {}).get("status"),
            (a.get("status") or {}).get("health", {}).get("status"),
        )
        for a in apps
    ]
    return len(apps), all(s == ("Synced", "Healthy") for s in states)


def run(contender: str, poll: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cb-baseline-") as tmp:
        path = profile(Path(tmp))
        state = Path(tmp) / "state"
        try:
            ready = timed([INVOKE, "up", "--profile", str(path), "--only", PREREQUISITES])
            if ready["code"] != 0:
                raise SystemExit(f"the prerequisites failed:\n{ready['out']}")
            log = audit_log(Layout(state / "local-cluster"))
            offset = log.stat().st_size
            kubeconfig = state / "kubeconfig"
            before = children_cpu()
            if contender == "clusterboot":
                ran = timed([INVOKE, "up", "--profile", str(path)])
            else:
                loaded = loader.load(str(path))
                root = loaded.root_app
                assert root is not None
                url = sandbox.effective_url(root.repo_url, state)
                root = root.model_copy(update={"repo_url": url})
                app = application(root, loaded.components.argocd.namespace)
                root_file = Path(tmp) / "root.yaml"
                root_file.write_text(yaml.safe_dump(app))
                env = {
                    **os.environ,
                    "KUBECONFIG": str(kubeconfig),
                    "ROOT_APP": str(root_file),
                    "EXPECTED_APPS": "7",
                    "POLL_SECONDS": str(poll),
                }
                ran = timed(["bash", SCRIPT], env=env)
            cpu = children_cpu() - before
            time.sleep(1)  # the audit backend writes in batches
            count, synced = all_synced(kubeconfig)
            return {
                "contender": contender,
                "code": ran["code"],
                "wall": ran["wall"],
                "cpu": cpu,
                "requests": requests_since(log, offset, AGENTS[contender]),
                "apps": count,
                "synced": synced,
                "tail": ran["out"].strip().splitlines()[-2:] + ran["err"].strip().splitlines()[-2:],
            }
        finally:
            down(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per contender")
    parser.add_argument("--poll", type=int, default=5, help="the baseline's polling interval")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for number in range(args.runs):
        for contender in ("clusterboot", "baseline"):
            row = run(contender, args.poll)
            rows.append(row)
            print(
                f"run {number + 1} {contender}: exit {row['code']}, {row['wall']:.1f} s wall, "
                f"{row['cpu']:.2f} s CPU, {row['requests']} API requests, "
                f"{row['apps']} apps {'all Synced and Healthy' if row['synced'] else 'NOT synced'}"
                + ("" if row["code"] == 0 else f": {row['tail']}"),
                flush=True,
            )
    print()
    medians = {}
    for contender in ("clusterboot", "baseline"):
        mine = [r for r in rows if r["contender"] == contender and r["code"] == 0]
        medians[contender] = (
            {key: statistics.median(r[key] for r in mine) for key in ("wall", "cpu", "requests")}
            if mine
            else {}
        )
        print(f"{contender}: {len(mine)} of {args.runs} runs ok; medians {medians[contender]}")
    if medians["clusterboot"] and medians["baseline"]:
        ours, theirs = medians["clusterboot"], medians["baseline"]
        print(
            f"ratios (baseline / clusterboot): wall ×{theirs['wall'] / ours['wall']:.2f}, "
            f"CPU ×{theirs['cpu'] / ours['cpu']:.2f}, "
            f"requests ×{theirs['requests'] / max(ours['requests'], 1):.2f}"
        )


if __name__ == "__main__":
    main()
