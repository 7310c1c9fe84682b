"""Every input check that can fail, before anything is touched: the state directory and the
files a run writes, the outside tools a profile needs (by cluster provider and by the
components' modes), each stage's own."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootstrap.artifacts import pins
from bootstrap.engine.run import Engine
from bootstrap.errors import InputError
from bootstrap.processes import tools
from bootstrap.processes.tools import ToolNeed
from bootstrap.profile.schema import Profile
from bootstrap.stage import Context


def tools_for(profile: Profile) -> list[ToolNeed]:
    """The tools ``profile`` needs, by cluster provider and components, in a stable order."""
    cluster = f"the {profile.cluster.provider} cluster"
    by_provider: dict[str, list[ToolNeed]] = {
        "local": [ToolNeed("go", "building the local control plane (make binaries)",
                           optional=True)],
        "kind": [ToolNeed("kind", cluster), ToolNeed("docker", cluster)],
        "k3d": [ToolNeed("k3d", cluster), ToolNeed("docker", cluster)],
        "k3s-ssh": [ToolNeed("ssh", cluster)],
        "k3s-oci": [ToolNeed("oci", cluster), ToolNeed("ssh", cluster)],
        "eks": [ToolNeed("eksctl", cluster), ToolNeed("aws", cluster)],
        "docker-desktop": [],  # attach only: the kubeconfig is read, no tool is run
    }
    needs = list(by_provider[profile.cluster.provider])
    argocd = profile.components.argocd
    if argocd.enabled and argocd.mode == "processes":
        needs += [ToolNeed("redis-server", "Argo CD as local processes"),
                  ToolNeed("git", "Argo CD as local processes")]
    sealed = profile.components.sealed_secrets
    if sealed.enabled and sealed.mode == "processes":
        needs.append(ToolNeed("unshare", "Sealed Secrets as a local process (a mount namespace)"))
    charts = [name for name, component in profile.components
              if component.enabled and getattr(component, "mode", "manifests") != "processes"
              and pins.chart_for(profile, name) is not None]
    if charts:
        needs.append(ToolNeed("helm", "Helm charts: " + ", ".join(charts)))
    return needs


def check(
    ctx: Context,
    engine: Engine,
    selected: Sequence[str],
    *,
    outputs: Mapping[str, Path] | None = None,
) -> None:
    """Every input check that can fail, before any stage runs. ``outputs``: the files the run
    will write, by the flag that named them. Nothing is created until every check passed, so a
    run refused with exit 2 leaves no state directory behind."""
    check_dir(
        ctx.state_dir,
        what="state directory",
        hint="fix its permissions or mount, or point `state_dir` in the profile elsewhere",
    )
    for flag, path in (outputs or {}).items():
        check_file(path, flag=flag)
    tools.require(ctx.runner, tools_for(ctx.profile))
    for name in selected:
        stage = engine.stages[name]
        if stage.skip_reason(ctx.profile) is None:
            stage.preflight(ctx)
    make_state_dir(ctx.state_dir)


def check_file(path: Path, *, flag: str) -> None:
    """``flag PATH`` must name a file that can be written: not a directory, not below a file,
    in a directory that takes new files. Checked without creating anything."""
    hint = f"give {flag} the path of a file, in a directory you can write to"
    path = _expanded(path, what=flag, hint=hint)
    if path.is_dir():
        raise InputError(f"{flag} {path} is a directory, not a file", hint=hint)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{flag} {path} is not writable", hint=hint)
    _check_parents(path, what=f"{flag} {path}", hint=hint)


def _expanded(path: Path, *, what: str, hint: str) -> Path:
    """``~`` or ``~user`` expanded; a user this machine does not have is bad input."""
    try:
        return path.expanduser()
    except RuntimeError:
        user = str(path).partition("/")[0]
        raise InputError(f"{what} {path}: {user!r} is no user on this machine", hint=hint) from None


def check_dir(path: Path, *, what: str, hint: str) -> None:
    """``path`` must be a directory that takes files, or one that can be made (not below a
    file). Checked without creating anything."""
    path = _expanded(path, what=what, hint=hint)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a directory", hint=hint)
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path} is not writable", hint=hint)
    _check_parents(path, what=f"{what} {path}", hint=hint)


def _check_parents(path: Path, *, what: str, hint: str) -> None:
    """The nearest existing directory above ``path`` must exist as a directory and be
    writable (a path below a regular file can never be made)."""
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise InputError(f"{what}: {above} is a file, so nothing can be made below it", hint=hint)
    if not path.exists() and not os.access(above, os.W_OK | os.X_OK):
        raise InputError(f"{what}: {above} is not writable", hint=hint)


def make_state_dir(directory: Path) -> None:
    """The state directory, made (0700) once every check passed, and tried with a probe file
    (permission bits do not tell everything: a full disk, an odd network mount)."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = directory / ".write-check"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise InputError(
            f"state directory {directory} is not writable: {err.strerror or err}",
            hint="fix its permissions or mount, or point `state_dir` in the profile elsewhere",
        ) from err
