"""`invoke ci -- CMD`: bring a cluster up, run CMD against it, always tear it down (DESIGN §2).

The exit code is CMD's, or `up`'s when the cluster never became ready; a teardown that fails
after a passing CMD fails the run, so nothing is left behind unsaid. With ``cluster.ephemeral``
each run gets a cluster of its own: a unique name and state directory and, on the local
provider, a free API port, so parallel jobs on one machine do not meet.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from bootstrap.commands import app, diagnostics, run_lock
from bootstrap.components.metallb import address_pool
from bootstrap.controlplane import spec
from bootstrap.errors import ClusterbootError, InputError
from bootstrap.kube.client import Kube
from bootstrap.processes import runner
from bootstrap.profile import loader
from bootstrap.profile.schema import Profile

USAGE = "invoke ci --profile ci -- pytest e2e/"


def run_id() -> str:
    return secrets.token_hex(3)


def ephemeral_sets(profile: Profile, run: str, *, port: int | None = None) -> list[str]:
    """``--set`` values that give one run of an ephemeral profile a cluster of its own."""
    sets = [
        f"cluster.name={profile.cluster.name[: 63 - len(run) - 1]}-{run}",
        loader.setting("state_dir", str(app.state_dir_for(profile) / "runs" / run)),
    ]
    if profile.cluster.provider == "local":
        sets.append(f"cluster.local.api_port={port or spec.free_port()}")
    return sets


def ci(
    inv: app.Invocation,
    command: Sequence[str],
    *,
    report_path: Path | None = None,
    junit_path: Path | None = None,
) -> int:
    loaded: list[Profile] = []

    def check() -> int:
        if not command:
            raise InputError("no command to run against the cluster", hint=f"e.g. {USAGE}")
        if not command[0] or shutil.which(command[0]) is None:
            raise InputError(
                f"the command to run cannot start: {command[0]!r} is not an executable file "
                "nor a program on PATH",
                hint=f"nothing was started; e.g. {USAGE}",
            )
        loaded.append(loader.load(inv.profile, overrides=inv.sets))
        return 0

    code = app.guarded(inv, check)
    if code != 0:
        return code
    profile, run = loaded[0], run_id()
    sets = ephemeral_sets(profile, run) if profile.cluster.ephemeral else []
    scoped = dataclasses.replace(inv, sets=(*inv.sets, *sets))
    report_file = report_path or app.state_dir_for(profile) / "reports" / f"ci-{run}.json"
    state_dir = app.state_dir_for(profile) / "runs" / run if sets else app.state_dir_for(profile)

    def locked() -> int:
        with run_lock.held(state_dir, app.described("ci", inv), err=inv.err):
            return _up_command_down(inv, scoped, command, profile, run, sets, report_file,
                                    junit_path)

    return app.guarded(inv, locked)


def _up_command_down(
    inv: app.Invocation,
    scoped: app.Invocation,
    command: Sequence[str],
    profile: Profile,
    run: str,
    sets: list[str],
    report_file: Path,
    junit_path: Path | None,
) -> int:
    """``up``, the command, the diagnostics if anything failed, and always ``down``."""
    code = app.up(scoped, report_path=report_file, junit_path=junit_path)
    if code == 2:  # bad input: nothing was created, nothing to tear down
        return code
    try:
        if code == 0:
            code = _run_command(inv, command, report_file)
        if code != 0:
            _diagnose(
                inv, scoped, report_file.with_name(f"ci-{run}-diagnostics.tar.gz"), report_file
            )
    finally:
        print("→ tearing the cluster down", file=inv.err)
        down = app.down(scoped)
        if down == 0 and sets:
            shutil.rmtree(app.state_dir_for(profile) / "runs" / run, ignore_errors=True)
    if down != 0:
        again = " ".join(f"--set {s}" for s in sets)
        print(
            "✗ teardown failed: the cluster may still run; remove it with "
            f"`invoke down --profile {inv.profile} {again}`".rstrip(),
            file=inv.err,
        )
        return code or down
    return code


def _diagnose(inv: app.Invocation, scoped: app.Invocation, out: Path, report: Path) -> None:
    """The bundle for a failed run, collected before teardown takes the evidence away."""

    def body() -> int:
        ctx, _ = app.context_for(scoped)
        try:
            kube: Kube | None = app.connected(scoped).kube
        except ClusterbootError:  # no cluster to ask: the report and logs still help
            kube = None
        logs = ctx.state_dir / "local-cluster" / "logs"
        components = ctx.profile.components
        platform = [
            *([address_pool.NAMESPACE] if components.metallb.enabled else []),
            *(c.namespace for c in (components.argocd, components.sealed_secrets) if c.enabled),
        ]
        made = diagnostics.collect(
            out, kube=kube, report_file=report, logs_dir=logs, log_namespaces=platform
        )
        print(f"  diagnostics: {made}", file=inv.err)
        return 0

    app.guarded(inv, body)


def _run_command(inv: app.Invocation, command: Sequence[str], report_file: Path) -> int:
    kubeconfig = str((json.loads(report_file.read_text()).get("cluster") or {})["kubeconfig"])
    print(f"→ running {shlex.join(command)} with KUBECONFIG={kubeconfig}", file=inv.err)

    def body() -> int:
        try:
            return runner.run_attached(command, env={"KUBECONFIG": kubeconfig})
        except KeyboardInterrupt:
            print("✗ interrupted", file=inv.err)
            return 130

    return app.guarded(inv, body)
