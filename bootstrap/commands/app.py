"""What each command does, behind the thin ``tasks.py``: load the profile, check inputs before
touching anything, run the engine, print the summary and return the exit code.

Exit codes: 0 success, 1 a stage or gate failed, 2 bad input (nothing touched), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import stages
from bootstrap import artifacts, log, report, secrets
from bootstrap.commands import preflight, run_lock
from bootstrap.components.argocd import setup
from bootstrap.components.sealed_secrets import sealing
from bootstrap.controlplane import binaries
from bootstrap.engine.run import Engine
from bootstrap.errors import ClusterbootError, InputError, Interrupted
from bootstrap.processes import runner, tools
from bootstrap.profile import loader
from bootstrap.profile.schema import Profile
from bootstrap.secrets import redact
from bootstrap.stage import Context
from bootstrap.wait import Clock, RealClock


@dataclass
class Invocation:
    """The options every command shares."""

    profile: str = "local"
    sets: Sequence[str] = ()
    unisolated: bool = False
    log_format: str = "auto"
    recreate: bool = False
    """up: reinstall what drifted from the profile where that restarts a cluster (k3s)."""
    yes: bool = False
    """down: confirm destroying a cluster on a server clusterboot installed (k3s)."""
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Clock = field(default_factory=RealClock)


def state_dir_for(profile: Profile) -> Path:
    if profile.state_dir:
        return Path(profile.state_dir).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "clusterboot" / profile.name


def described(command: str, inv: Invocation) -> str:
    """What a run is, for the lock's holder line (no --set values: they may hold secrets)."""
    return f"{command} --profile {inv.profile}"


def context_for(inv: Invocation) -> tuple[Context, Engine]:
    profile = loader.load(inv.profile, overrides=inv.sets)
    state = state_dir_for(profile)
    ctx = Context(
        profile=profile,
        runner=runner.LocalRunner(timeout=profile.timeouts.command_seconds),
        state_dir=state,
        clock=inv.clock,
        options={"unisolated": inv.unisolated, "recreate": inv.recreate, "yes": inv.yes},
    )
    engine = Engine(ctx, stages.for_profile(profile), tie_order=stages.ORDER)
    return ctx, engine


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (CI cancelling a job) ends a run as Ctrl-C does


def guarded(inv: Invocation, body: Callable[[], int]) -> int:
    """Run a command body; turn errors into a message with a hint and the right exit code.
    SIGTERM is handled as Ctrl-C: the run stops, says so in its report, and exits 130."""
    secrets.remember_environment()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main else None
    try:
        log.configure(mode=inv.log_format, stream=inv.err)
        return body()
    except KeyboardInterrupt:
        print("✗ interrupted; run the same command again to continue", file=inv.err)
        return 130
    except ClusterbootError as err:
        print(f"✗ {redact(str(err))}", file=inv.err)
        return err.exit_code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def up(
    inv: Invocation,
    *,
    only: Sequence[str] = (),
    start_from: str | None = None,
    report_path: Path | None = None,
    junit_path: Path | None = None,
) -> int:
    def body() -> int:
        ctx, engine = context_for(inv)
        selected = engine.selection(only=only, start_from=start_from)
        path = report_path or ctx.state_dir / "reports" / "last-up.json"
        outputs = {"--report" if report_path else "the report": path}
        if junit_path:
            outputs["--junit"] = junit_path
        preflight.check(ctx, engine, selected, outputs=outputs)
        run = report.Report(profile=ctx.profile.name)
        ctx.report = run
        with run_lock.held(ctx.state_dir, described("up", inv), err=inv.err):
            try:
                engine.up(run, selected=selected)
            except (KeyboardInterrupt, Interrupted):
                run.result = "interrupted"
                raise
            finally:
                if ctx.has_cluster:
                    run.cluster = {
                        "kubeconfig": str(ctx.cluster.kubeconfig),
                        "context": ctx.cluster.context,
                        "api_url": ctx.cluster.api_url,
                    }
                run.finished = report.now_iso()
                report.write_json(run, path)
                if junit_path:
                    report.write_junit(run, junit_path)
        print_summary(run, inv.out, report_file=path, argocd=_argocd_access(ctx, inv))
        return 0 if run.result == "succeeded" else 1

    return guarded(inv, body)


def _argocd_access(ctx: Context, inv: Invocation) -> str | None:
    """How to open Argo CD's UI and API, when clusterboot installed argocd-server."""
    argocd = ctx.profile.components.argocd
    if not argocd.enabled or argocd.mode != "manifests" or not ctx.has_cluster:
        return None
    return (
        f"kubectl --kubeconfig {ctx.cluster.kubeconfig} -n {argocd.namespace} port-forward "
        "svc/argocd-server 8080:443, then https://localhost:8080 as admin with the password "
        f"`invoke argocd-password --profile {inv.profile}` prints"
    )


def print_summary(
    run: report.Report, out: TextIO, *, report_file: Path, argocd: str | None = None
) -> None:
    skipped = [s.name for s in run.stages if s.why.startswith("skipped")]
    converged = [
        s.name for s in run.stages if s.status in {"changed", "unchanged"} and s.name not in skipped
    ]
    failed = [s for s in run.stages if s.status == "failed"]
    not_run = [s for s in run.stages if s.status == "not-run" and s.why != "not selected"]
    took = {s.name: f"{s.name} {s.seconds:.1f}s" for s in run.stages}
    lines = [f"{'✓' if run.result == 'succeeded' else '✗'} up {run.result} (profile {run.profile})"]
    if converged:
        lines.append(f"  converged: {', '.join(took[name] for name in converged)}")
    if run.waves:
        lines.append(f"  waves: {', '.join(_wave_line(w) for w in run.waves)}")
    if run.pruned:
        lines.append(f"  pruned by the root (not waited on): {', '.join(run.pruned)}")
    if skipped:
        lines.append(f"  skipped: {', '.join(skipped)}")
    lines += [f"  failed: {s.name}: {s.why}" for s in failed]
    lines += [f"  not run: {s.name}: {s.why}" for s in not_run]
    if run.cluster:
        lines.append(
            f"  kubeconfig: {run.cluster['kubeconfig']} (context {run.cluster['context']})"
        )
    if argocd and run.result == "succeeded":
        lines.append(f"  Argo CD: {argocd}")
    if run.result != "succeeded":
        lines.append("  run the same command again to continue from where it stopped")
    lines.append(f"  report: {report_file}")
    print(redact("\n".join(lines)), file=out)


def _wave_line(wave: report.WaveResult) -> str:
    apps = len(wave.apps)
    return f"{wave.wave} {wave.seconds:.1f}s ({apps} app{'s' if apps != 1 else ''})"


def plan(inv: Invocation) -> int:
    def body() -> int:
        ctx, engine = context_for(inv)
        rows = engine.plan()
        width = max(len(r.stage) for r in rows)
        print(
            f"plan for profile {ctx.profile.name} ({ctx.profile.cluster.provider}):", file=inv.out
        )
        for index, row in enumerate(rows, 1):
            print(f"{index:>2}. {row.stage:<{width}}  {row.state}", file=inv.out)
            for detail in row.detail:
                print(f"      - {redact(detail)}", file=inv.out)
        return 1 if any(r.state == "error" for r in rows) else 0

    return guarded(inv, body)


def status(inv: Invocation) -> int:
    def body() -> int:
        ctx, engine = context_for(inv)
        rows = engine.plan()
        data: dict[str, object] = {
            "profile": ctx.profile.name,
            "stages": [{"name": r.stage, "state": r.state, "detail": list(r.detail)} for r in rows],
        }
        reachable = True
        if ctx.has_cluster:
            # an attached cluster's stage only reads its kubeconfig: ask the API itself
            reachable, why = ctx.kube.readyz()
            data["cluster"] = {
                "kubeconfig": str(ctx.cluster.kubeconfig),
                "api_url": ctx.cluster.api_url,
                "reachable": reachable,
                **({} if reachable else {"problem": why}),
            }
        print(redact(json.dumps(data, indent=2)), file=inv.out)
        settled = all(r.state in {"up to date", "skipped"} for r in rows)
        return 0 if settled and reachable else 1

    return guarded(inv, body)


def down(inv: Invocation) -> int:
    def body() -> int:
        ctx, engine = context_for(inv)
        with run_lock.held(ctx.state_dir, described("down", inv), err=inv.err):
            for name in reversed(engine.graph.order):
                teardown = getattr(engine.stages[name], "down", None)
                if teardown is not None:
                    for line in teardown(ctx):
                        print(f"✓ {name}: {line}", file=inv.out)
        return 0

    return guarded(inv, body)


def doctor(inv: Invocation) -> int:
    def body() -> int:
        ctx, _ = context_for(inv)
        statuses = tools.check(ctx.runner, preflight.tools_for(ctx.profile))
        if ctx.profile.cluster.provider == "local":
            statuses += binaries.statuses(ctx.profile.cluster.local, ctx.runner)
        print(tools.render_table(statuses), file=inv.out)
        return 0 if all(s.ok for s in statuses) else 1

    return guarded(inv, body)


def connected(inv: Invocation) -> Context:
    """The profile's context with its cluster published (observed, never created)."""
    ctx, engine = context_for(inv)
    for stage in engine.stages.values():
        if stage.provides == "cluster" and stage.skip_reason(ctx.profile) is None:
            for _ in stage.plan(ctx):
                pass  # observing is enough: a reachable cluster publishes itself
    if not ctx.has_cluster:
        raise ClusterbootError(
            f"the cluster of profile {ctx.profile.name} is not running",
            hint=f"start it first: invoke up --profile {inv.profile}",
        )
    return ctx


def bundle(inv: Invocation, *, out_dir: Path) -> int:
    """Fetch every pinned artifact the profile needs into ``out_dir``, with an index."""

    def body() -> int:
        profile = loader.load(inv.profile, overrides=inv.sets)
        preflight.check_dir(out_dir, what="--out", hint="give --out a directory (made if missing)")
        made = not out_dir.expanduser().exists()
        try:
            entries = artifacts.bundle(profile, out_dir)
        except BaseException:
            if made:  # nothing half-made is left where the user pointed
                shutil.rmtree(out_dir.expanduser(), ignore_errors=True)
            raise
        for entry in entries:
            print(
                f"✓ {entry.component} {entry.version}: {out_dir / entry.file} "
                f"(sha256 {entry.sha256})",
                file=inv.out,
            )
        for name, why in artifacts.not_bundled(profile):
            print(f"  {name}: nothing to fetch ({why})", file=inv.out)
        print(
            f"  index: {out_dir / artifacts.INDEX}; use it with --set artifacts.dir={out_dir}",
            file=inv.out,
        )
        return 0

    return guarded(inv, body)


def argocd_password(inv: Invocation) -> int:
    """Print Argo CD's initial admin password (and nothing else) to stdout."""

    def body() -> int:
        ctx = connected(inv)
        argocd = ctx.profile.components.argocd
        if argocd.mode == "processes":
            raise InputError(
                "this profile runs Argo CD without argocd-server (components.argocd.mode: "
                "processes), so there is no admin password",
                hint="use the Applications through the cluster's API: kubectl --kubeconfig "
                f"{ctx.cluster.kubeconfig} -n {argocd.namespace} get applications",
            )
        password = setup.initial_password(ctx.kube, argocd.namespace)
        secrets.remember(password)  # never in a log line after this
        print(password, file=inv.out)
        return 0

    return guarded(inv, body)


def backup(inv: Invocation, *, out_file: Path, overwrite: bool = False) -> int:
    """Export every Sealed Secrets key Secret, encrypted with age, to ``out_file`` (0600).
    An existing file is replaced only with ``overwrite``: it may be the last good backup."""

    def body() -> int:
        preflight.check_file(out_file, flag="--out")
        if out_file.expanduser().exists() and not overwrite:
            raise InputError(
                f"--out {out_file} already exists, and may be the last good backup",
                hint="give a new file, or add --overwrite to replace it",
            )
        ctx = connected(inv)
        with run_lock.held(ctx.state_dir, described("backup", inv), err=inv.err):
            names = sealing.backup(ctx.kube, ctx.profile, out_file, state_dir=ctx.state_dir)
        print(
            f"✓ {len(names)} sealing keys backed up to {out_file} (age, mode 0600): "
            f"{', '.join(names)}",
            file=inv.out,
        )
        return 0

    return guarded(inv, body)
