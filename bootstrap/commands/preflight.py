"""Every input check that can fail, before anything is touched: the state directory, the outside
tools a profile needs (by cluster provider and by the components' modes), each stage's own."""

from __future__ import annotations

from collections.abc import Sequence
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


def check(ctx: Context, engine: Engine, selected: Sequence[str]) -> None:
    """Every input check that can fail, before any stage runs."""
    check_writable(ctx.state_dir)
    tools.require(ctx.runner, tools_for(ctx.profile))
    for name in selected:
        stage = engine.stages[name]
        if stage.skip_reason(ctx.profile) is None:
            stage.preflight(ctx)


def check_writable(directory: Path) -> None:
    """The state directory must take files (kubeconfig, reports); say so before starting."""
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
