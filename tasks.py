"""clusterboot's command line: `invoke --list` shows these tasks; each one's docstring is its help.

Tasks stay thin: the work is in bootstrap.commands.app.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Context, Exit, task

import bootstrap.commands.ci
import bootstrap.commands.dr
from bootstrap.commands import app, timeline

PROFILE_HELP = "a profile name (profiles/NAME.yaml) or a path to a profile file"
SET_HELP = "override a profile value, e.g. --set cluster.local.api_port=7443 (repeatable)"
COMMON_HELP = {
    "profile": PROFILE_HELP,
    "set": SET_HELP,
    "unisolated": "local profile only: run the control plane without a network namespace",
    "log_format": "auto (console on a terminal, JSON lines otherwise), console or json",
}


def _inv(profile: str, set: list[str], unisolated: bool, log_format: str) -> app.Invocation:
    return app.Invocation(
        profile=profile, sets=tuple(set), unisolated=unisolated, log_format=log_format
    )


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(
    iterable=["set"],
    help={
        **COMMON_HELP,
        "only": "run only these stages (comma-separated); the cluster stage always runs",
        "from_": "run this stage and every stage after it",
        "report": "where to write the JSON report (default: the profile's state directory)",
        "junit": "also write a JUnit XML report here",
    },
)
def up(
    c: Context,
    profile: str = "local",
    set: list[str] | None = None,
    only: str = "",
    from_: str = "",
    report: str = "",
    junit: str = "",
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Bring the profile's cluster from nothing to synced; exit 0 only when every gate passed."""
    _exit(
        app.up(
            _inv(profile, set or [], unisolated, log_format),
            only=[s.strip() for s in only.split(",") if s.strip()],
            start_from=from_ or None,
            report_path=Path(report) if report else None,
            junit_path=Path(junit) if junit else None,
        )
    )


@task(iterable=["set"], help=COMMON_HELP)
def plan(
    c: Context,
    profile: str = "local",
    set: list[str] | None = None,
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Print every stage in order: up to date, would change (what), or cannot know yet."""
    _exit(app.plan(_inv(profile, set or [], unisolated, log_format)))


@task(iterable=["set"], help=COMMON_HELP)
def status(
    c: Context,
    profile: str = "local",
    set: list[str] | None = None,
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Observed state of every stage, from the cluster itself (JSON); exit 1 if any differs."""
    _exit(app.status(_inv(profile, set or [], unisolated, log_format)))


@task(iterable=["set"], help=COMMON_HELP)
def down(
    c: Context,
    profile: str = "local",
    set: list[str] | None = None,
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Tear down what the profile created (never an attached cluster)."""
    _exit(app.down(_inv(profile, set or [], unisolated, log_format)))


@task(iterable=["set"], help=COMMON_HELP)
def doctor(
    c: Context,
    profile: str = "local",
    set: list[str] | None = None,
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """List the tools the profile needs, found or missing, with versions and how to install."""
    _exit(app.doctor(_inv(profile, set or [], unisolated, log_format)))


@task(
    iterable=["set"],
    help={
        **{k: v for k, v in COMMON_HELP.items() if k != "unisolated"},
        "out": "the directory to fill (created if missing)",
    },
)
def bundle(
    c: Context,
    out: str,
    profile: str = "local",
    set: list[str] | None = None,
    log_format: str = "auto",
) -> None:
    """Fetch and verify the profile's pinned artifacts into --out DIR (air-gapped: artifacts.dir).

    A profile with `--set artifacts.dir=DIR` then reads them there and never the network."""
    _exit(app.bundle(_inv(profile, set or [], False, log_format), out_dir=Path(out)))


@task(
    iterable=["set"],
    help={
        **COMMON_HELP,
        "report": "where to write the JSON report (default: reports/ci-ID.json in the profile's "
        "state directory)",
        "junit": "also write a JUnit XML report here",
    },
)
def ci(
    c: Context,
    profile: str = "ci",
    set: list[str] | None = None,
    report: str = "",
    junit: str = "",
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Bring a cluster up, run the command after `--` against it, always tear it down.

    invoke ci --profile ci -- pytest e2e/   (KUBECONFIG points at the new cluster)
    Exit code: the command's, or up's when the cluster never became ready. With
    cluster.ephemeral each run gets a cluster of its own (unique name and state directory)."""
    _exit(
        bootstrap.commands.ci.ci(
            _inv(profile, set or [], unisolated, log_format),
            command_after_dashes(c.remainder),
            report_path=Path(report) if report else None,
            junit_path=Path(junit) if junit else None,
        )
    )


@task(
    iterable=["set"],
    help={
        **COMMON_HELP,
        "backup": "the key backup `invoke backup` wrote (age-encrypted)",
        "report": "where to write the JSON report (default: reports/last-dr.json in the "
        "profile's state directory)",
        "junit": "also write a JUnit XML report here",
    },
)
def dr(
    c: Context,
    backup: str,
    profile: str = "local",
    set: list[str] | None = None,
    report: str = "",
    junit: str = "",
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Rebuild with the Sealed Secrets keys restored from --backup FILE, then verify it.

    The keys go in before the controller starts; after every gate of `up` passed, each key of
    the backup must be in the cluster and every SealedSecret unsealed into its Secret. The
    report's `dr` section lists what was checked. See docs/disaster-recovery.md."""
    _exit(
        bootstrap.commands.dr.dr(
            _inv(profile, set or [], unisolated, log_format),
            Path(backup),
            report_path=Path(report) if report else None,
            junit_path=Path(junit) if junit else None,
        )
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


@task(iterable=["set"], help=COMMON_HELP)
def argocd_password(
    c: Context,
    profile: str = "local",
    set: list[str] | None = None,
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Print Argo CD's initial admin password, and only that, to standard output."""
    _exit(app.argocd_password(_inv(profile, set or [], unisolated, log_format)))


@task(
    iterable=["set"],
    help={**COMMON_HELP, "out": "the encrypted backup file to write (mode 0600)"},
)
def backup(
    c: Context,
    out: str,
    profile: str = "local",
    set: list[str] | None = None,
    unisolated: bool = False,
    log_format: str = "auto",
) -> None:
    """Export every Sealed Secrets key to --out FILE, encrypted with age (mode 0600).

    Encrypted to the public key of components.sealed_secrets.age_identity (or the identity file
    $CLUSTERBOOT_AGE_IDENTITY names) and any components.sealed_secrets.backup_recipients."""
    _exit(app.backup(_inv(profile, set or [], unisolated, log_format), out_file=Path(out)))
