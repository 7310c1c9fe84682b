"""What the three platform stages (MetalLB, Argo CD, Sealed Secrets) share: their switch in the
profile, and one install strategy per mode, so a stage asks its strategy instead of branching
on the mode or the provider.

The modes:

- ``FromManifest`` on a real cluster: the pinned upstream manifest; its controllers run as pods
  (they serve webhooks, create keys and projects).
- ``FromManifest`` on the local cluster: the same manifest, but kwok only simulates pods, so
  nothing in them runs (``controllers_run`` is False: what a controller would do is not waited
  for, and the stage says so).
- ``AsProcesses`` (``mode: processes``, local provider): the component's local build, run by
  the local cluster's keeper in the cluster's network namespace; its controllers really run.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from bootstrap import artifacts, secrets, wait
from bootstrap.artifacts import install
from bootstrap.controlplane import binaries
from bootstrap.controlplane.cluster import LocalControlPlane
from bootstrap.profile.schema import Profile
from bootstrap.stage import Change, Context, Stage, Verdict

SIMULATED = "kwok runs no containers on the local cluster"


def pods_simulated(profile: Profile) -> bool:
    """On the local cluster, pods are simulated: nothing in them runs."""
    return profile.cluster.provider == "local"


class Mode:
    """How one component gets onto the cluster and runs there, in one mode."""

    controllers_run: bool
    """Its controllers really run: they serve webhooks, create keys and projects."""
    local_build: ClassVar[bool] = False

    def __init__(self, stage: PlatformComponent, profile: Profile) -> None:
        self.stage, self.profile = stage, profile
        self.controllers_run = True

    def preflight(self, ctx: Context) -> None:
        raise NotImplementedError

    def docs(self, ctx: Context) -> list[install.Doc]:
        """The component's objects, applied with one server-side apply."""
        raise NotImplementedError

    def plan(self, ctx: Context, docs: list[install.Doc]) -> Iterator[Change]:
        """What this mode adds to the plan after the objects (processes to run)."""
        yield from ()

    def running(self, ctx: Context) -> Verdict:
        """Whether what this mode runs beside the objects is running."""
        return Verdict.passed()


class FromManifest(Mode):
    """The component's pinned upstream manifest (downloaded, or from the bundle)."""

    def __init__(self, stage: PlatformComponent, profile: Profile) -> None:
        super().__init__(stage, profile)
        self.controllers_run = not pods_simulated(profile)

    def preflight(self, ctx: Context) -> None:
        artifact = artifacts.artifact_for(ctx.profile, self.stage.name)
        artifacts.Store.for_profile(ctx.profile).path(artifact)

    def manifest(self, ctx: Context, namespace: str) -> list[install.Doc]:
        return install.manifest(ctx, self.stage.name, namespace=namespace)


class AsProcesses(Mode):
    """The component's local build, run by the local cluster's keeper."""

    local_build = True

    def bin_dir(self) -> Path:
        root = binaries.cache_dir(self.profile.cluster.local)
        return self.stage.build_dir(root, getattr(self.profile.components, self.stage.name).version)

    def plane(self, ctx: Context) -> LocalControlPlane:
        return LocalControlPlane.for_profile(
            ctx.profile,
            state_dir=ctx.state_dir,
            unisolated=bool(ctx.options.get("unisolated")),
            run=ctx.runner,
        )

    def process_running(self, ctx: Context, name: str, what: str, *, tail: int = 0) -> Verdict:
        """Whether the keeper's process ``name`` runs; else waiting, with its log's last lines."""
        plane = self.plane(ctx)
        if plane.alive(name):
            return Verdict.passed()
        log = plane.layout.log_file(name)
        shown = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        lines = shown[-tail:] if tail else []
        return Verdict.waiting(f"{what} is not running", *lines, f"see {log}")

    @staticmethod
    def account_token(ctx: Context, secret: dict[str, Any]) -> str:
        """Apply a ServiceAccount token Secret and return its token once the controller-manager
        has filled it (remembered for redaction: never logged)."""
        name, namespace = secret["metadata"]["name"], secret["metadata"]["namespace"]
        ctx.kube.apply(secret)
        found: list[str] = []

        def filled() -> Verdict:
            live = ctx.kube.get("v1", "Secret", name, namespace) or {}
            encoded = (live.get("data") or {}).get("token") or ""
            if not encoded:
                return Verdict.waiting(f"Secret {namespace}/{name} has no token yet")
            found.append(base64.b64decode(encoded).decode())
            return Verdict.passed()

        wait.until(
            filled,
            what=f"the controller-manager to fill Secret {namespace}/{name}",
            deadline=60.0,
            clock=ctx.clock,
        )
        secrets.remember(found[-1])
        return found[-1]


class PlatformComponent(Stage):
    """A stage for ``components.<name>``; subclasses name their two strategies and where
    their local build lives."""

    needs = ("cluster",)

    @staticmethod
    def build_dir(binaries_root: Path, version: str) -> Path:
        """Where `make binaries` (or `make argocd`) puts the component's local build."""
        raise NotImplementedError

    def skip_reason(self, profile: Profile) -> str | None:
        if not getattr(profile.components, self.name).enabled:
            return f"not enabled in the profile (components.{self.name}.enabled)"
        return None

    def runs_processes(self, profile: Profile) -> bool:
        """``mode: processes`` (the profile allows it on the local provider only)."""
        return bool(getattr(profile.components, self.name).mode == "processes")

    def mode(self, ctx: Context) -> Mode:
        """The strategy for the profile's mode."""
        raise NotImplementedError

    def preflight(self, ctx: Context) -> None:
        self.mode(ctx).preflight(ctx)
