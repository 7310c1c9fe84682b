"""clusterboot's command line: `invoke --list` shows these tasks; each one's docstring is its help.

Tasks stay thin: the work is in bootstrap.commands.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import Context, Exit, task

import bootstrap.commands.ci
import bootstrap.commands.dr
from bootstrap.commands import app, timeline

COMMON_HELP = {
    "profile": "a profile name (profiles/NAME.yaml) or a path to a profile file",
    "set": "override a profile value, e.g. --set cluster.local.api_port=7443 (repeatable)",
    "unisolated": "local profile only: run the control plane without a network namespace",
    "log_format": "auto (console on a terminal, JSON lines otherwise), console or json",
}
Body = Callable[..., int]


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


def profile_task(
    *, profile: str = "local", unisolated: bool = True, **help: str
) -> Callable[[Body], Any]:
    """A task that takes the flags every profile task shares (--profile, repeatable --set,
    --unisolated, --log-format). Its body is called as ``body(c, inv, **own_flags)`` with them
    gathered into one ``app.Invocation``, and returns the exit code."""
    common = [
        inspect.Parameter("profile", inspect.Parameter.KEYWORD_ONLY, default=profile),
        inspect.Parameter("set", inspect.Parameter.KEYWORD_ONLY, default=None),
        *(
            [inspect.Parameter("unisolated", inspect.Parameter.KEYWORD_ONLY, default=False)]
            if unisolated
            else []
        ),
        inspect.Parameter("log_format", inspect.Parameter.KEYWORD_ONLY, default="auto"),
    ]
    names = {p.name for p in common}

    def wrap(body: Body) -> Any:
        context, _inv, *own = inspect.signature(body).parameters.values()
        required = [p for p in own if p.default is inspect.Parameter.empty]
        optional = [p for p in own if p.default is not inspect.Parameter.empty]

        @functools.wraps(body)
        def run(c: Context, **flags: Any) -> None:
            inv = app.Invocation(
                profile=flags.pop("profile"),
                sets=tuple(flags.pop("set") or ()),
                unisolated=bool(flags.pop("unisolated", False)),
                log_format=flags.pop("log_format"),
            )
            _exit(body(c, inv, **flags))

        keyword = inspect.Parameter.KEYWORD_ONLY
        params = [context, *(p.replace(kind=keyword) for p in required), *common]
        params += [p.replace(kind=keyword) for p in optional]
        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        shared = {k: v for k, v in COMMON_HELP.items() if k in names}
        return task(iterable=["set"], help={**shared, **help})(run)

    return wrap


def _path(value: str) -> Path | None:
    return Path(value) if value else None


@profile_task(
    only="run only these stages (comma-separated); the cluster stage always runs",
    from_="run this stage and every stage after it",
    report="where to write the JSON report (default: the profile's state directory)",
    junit="also write a JUnit XML report here",
    recreate="reinstall k3s on a server whose configuration drifted (restarts its cluster); "
    "delete and create again a kind or k3d cluster this profile made whose shape changed",
)
def up(
    c: Context,
    inv: app.Invocation,
    only: str = "",
    from_: str = "",
    report: str = "",
    junit: str = "",
    recreate: bool = False,
) -> int:
    """Bring the profile's cluster from nothing to synced; exit 0 only when every gate passed."""
    return app.up(
        dataclasses.replace(inv, recreate=recreate),
        only=[s.strip() for s in only.split(",")] if only else [],
        start_from=from_ or None,
        report_path=_path(report),
        junit_path=_path(junit),
    )


@profile_task()
def plan(c: Context, inv: app.Invocation) -> int:
    """Print every stage in order: up to date, would change (what), or cannot know yet."""
    return app.plan(inv)


@profile_task()
def status(c: Context, inv: app.Invocation) -> int:
    """Observed state of every stage, from the cluster itself (JSON); exit 1 if any differs."""
    return app.status(inv)


@profile_task(yes="confirm uninstalling k3s from a server clusterboot installed it on")
def down(c: Context, inv: app.Invocation, yes: bool = False) -> int:
    """Tear down what the profile created (never an attached cluster, nor one it did not create)."""
    return app.down(dataclasses.replace(inv, yes=yes))


@profile_task()
def doctor(c: Context, inv: app.Invocation) -> int:
    """List the tools the profile needs, found or missing, with versions and how to install."""
    return app.doctor(inv)


@profile_task(unisolated=False, out="the directory to fill (created if missing)")
def bundle(c: Context, inv: app.Invocation, out: str) -> int:
    """Fetch and verify the profile's pinned artifacts into --out DIR (air-gapped: artifacts.dir).

    A profile with `--set artifacts.dir=DIR` then reads them there and never the network."""
    return app.bundle(inv, out_dir=Path(out))


@profile_task(
    profile="ci",
    report="where to write the JSON report (default: reports/ci-ID.json in the profile's "
    "state directory)",
    junit="also write a JUnit XML report here",
)
def ci(c: Context, inv: app.Invocation, report: str = "", junit: str = "") -> int:
    """Bring a cluster up, run the command after `--` against it, always tear it down.

    invoke ci --profile ci -- pytest e2e/   (KUBECONFIG points at the new cluster)
    Exit code: the command's, or up's when the cluster never became ready. With
    cluster.ephemeral each run gets a cluster of its own (unique name and state directory)."""
    return bootstrap.commands.ci.ci(
        inv,
        command_after_dashes(c.remainder),
        report_path=_path(report),
        junit_path=_path(junit),
    )


@profile_task(
    backup="the key backup `invoke backup` wrote (age-encrypted)",
    report="where to write the JSON report (default: reports/last-dr.json in the "
    "profile's state directory)",
    junit="also write a JUnit XML report here",
)
def dr(c: Context, inv: app.Invocation, backup: str, report: str = "", junit: str = "") -> int:
    """Rebuild with the Sealed Secrets keys restored from --backup FILE, then verify it.

    The keys go in before the controller starts; after every gate of `up` passed, each key of
    the backup must be in the cluster and every SealedSecret unsealed into its Secret. The
    report's `dr` section lists what was checked. A cluster the profile does not own
    (attached, or made by hand under its name) is refused. See docs/disaster-recovery.md."""
    return bootstrap.commands.dr.dr(
        inv, Path(backup), report_path=_path(report), junit_path=_path(junit)
    )


@task(
    help={
        "in_": "the JSON report `invoke up` wrote",
        "out": "the HTML file to write",
        "log_format": COMMON_HELP["log_format"],
    }
)
def report(c: Context, in_: str, out: str, log_format: str = "auto") -> None:
    """Draw a run's stages and waves on a time axis: --in REPORT.json --out timeline.html.

    A self-contained page (inline SVG, nothing fetched); hover a bar for its status and apps."""
    inv = app.Invocation(log_format=log_format)

    def body() -> int:
        drawn = timeline.write(Path(in_), Path(out))
        print(f"✓ {drawn} stages and waves drawn into {out}", file=inv.out)
        return 0

    _exit(app.guarded(inv, body))


def command_after_dashes(remainder: str) -> list[str]:
    """The words after `--` as given (invoke keeps only their space-joined text)."""
    if "--" in sys.argv:
        words = sys.argv[sys.argv.index("--") + 1 :]
        if " ".join(words) == remainder:
            return words
    return shlex.split(remainder)


@profile_task()
def argocd_password(c: Context, inv: app.Invocation) -> int:
    """Print Argo CD's initial admin password, and only that, to standard output."""
    return app.argocd_password(inv)


@profile_task(
    out="the encrypted backup file to write (mode 0600)",
    overwrite="replace --out if it exists (refused otherwise: it may be the last good backup)",
)
def backup(c: Context, inv: app.Invocation, out: str, overwrite: bool = False) -> int:
    """Export every Sealed Secrets key to --out FILE, encrypted with age (mode 0600).

    Encrypted to the public key of components.sealed_secrets.age_identity (or the identity file
    $CLUSTERBOOT_AGE_IDENTITY names) and any components.sealed_secrets.backup_recipients. An
    existing --out is refused unless --overwrite is given."""
    return app.backup(inv, out_file=Path(out), overwrite=overwrite)
