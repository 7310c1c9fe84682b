"""What the three platform stages (MetalLB, Argo CD, Sealed Secrets) share: their switch in the
profile, and one install strategy per mode, so a stage asks its strategy instead of branching
on the mode or the provider.

The modes:

- ``FromManifest`` on a real cluster: the pinned upstream manifest; its controllers run as pods
  (they serve webhooks, create keys and projects).
- ``FromManifest`` on the local cluster: the same manifest, but kwok only simulates pods, so
  nothing in them runs (``controllers_run`` is False: what a controller would do is not waited
  for, and the stage says so).
- ``AsProcesses`` (``mode: processes``): the component's local build, run as processes on this
  machine in a loopback-only network namespace; its controllers really run. Beside the local
  cluster, its keeper runs them in the cluster's namespace; for another cluster (one that only
  simulates pods, as the test stand-ins for k3s, k3d and EKS do), the process host's keeper runs
  them in a namespace of their own whose one way out is the cluster's API server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from bootstrap import artifacts, secrets, wait
from bootstrap.artifacts import install
from bootstrap.controlplane import binaries, pki
from bootstrap.controlplane.cluster import LocalControlPlane
from bootstrap.controlplane.process_host import ProcessHost, require_loopback
from bootstrap.kube import kubeconfig
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
        """The pinned file is at hand and verified, and a manifest parses whole: a file that
        does not is refused before anything is applied (a chart is rendered later, for the
        cluster's version)."""
        artifact = artifacts.artifact_for(ctx.profile, self.stage.name)
        path = artifacts.Store.for_profile(ctx.profile).path(artifact)
        if artifact.chart is None:
            install.pinned_manifest(path, artifact)

    def manifest(self, ctx: Context, namespace: str) -> list[install.Doc]:
        return install.manifest(ctx, self.stage.name, namespace=namespace)


class AsProcesses(Mode):
    """The component's local build, run by the local cluster's keeper."""

    local_build = True
    group: ClassVar[str]
    """The keeper's name for this component's processes."""

    def bin_dir(self) -> Path:
        root = binaries.cache_dir(self.profile.cluster.local)
        return self.stage.build_dir(root, getattr(self.profile.components, self.stage.name).version)

    def plane(self, ctx: Context) -> LocalControlPlane | ProcessHost:
        """Where the processes run: the local cluster's keeper, else the process host."""
        if ctx.profile.cluster.provider != "local":
            return ProcessHost.for_state_dir(ctx.state_dir, ctx.runner)
        return LocalControlPlane.for_profile(
            ctx.profile,
            state_dir=ctx.state_dir,
            unisolated=bool(ctx.options.get("unisolated")),
            run=ctx.runner,
        )

    def place_preflight(self, ctx: Context) -> None:
        """Refused before anything runs where the profile already names an API server that
        is not on this machine (k3s over SSH to another host); others are checked once the
        cluster is there."""
        k3s = ctx.profile.cluster.k3s_ssh
        if ctx.profile.cluster.provider == "k3s-ssh" and k3s is not None:
            require_loopback(k3s.ssh.host, shown=f"{k3s.ssh.host}, cluster.k3s_ssh.ssh.host")

    def plane_current(self, ctx: Context) -> bool:
        """The place the processes run is there and reaches the cluster as it is now."""
        plane = self.plane(ctx)
        if isinstance(plane, ProcessHost):
            cluster = ctx.cluster
            return plane.current(cluster.kubeconfig, cluster.context, cluster.api_url)
        return True

    def started_plane(self, ctx: Context) -> LocalControlPlane | ProcessHost:
        """The place, its keeper started first where that is the process host's to do."""
        plane = self.plane(ctx)
        if isinstance(plane, ProcessHost):
            cluster = ctx.cluster
            plane.ensure(cluster.kubeconfig, cluster.context, cluster.api_url, clock=ctx.clock)
        return plane

    def api_port_inside(self, ctx: Context) -> int:
        """The API server's port where the processes run."""
        plane = self.plane(ctx)
        if isinstance(plane, ProcessHost):
            return plane.api_target(ctx.cluster.api_url)[1]
        return kubeconfig.port_of(plane.layout.admin_kubeconfig)

    def cluster_ca(self, ctx: Context) -> bytes:
        plane = self.plane(ctx)
        if isinstance(plane, ProcessHost):
            return plane.cluster_ca()
        return pki.Pki(plane.layout.pki_dir).ca_cert.read_bytes()

    def down(self, ctx: Context) -> list[str]:
        """Stop this component's processes on the process host, and the host once it runs
        nothing else (the local cluster's keeper stops them with the cluster)."""
        plane = self.plane(ctx)
        if not isinstance(plane, ProcessHost):
            return []
        if not plane.keeper_alive():
            left = plane.stop(clock=ctx.clock)
            return [f"stopped leftovers of the process host: {', '.join(left)}"] if left else []
        names = [c["name"] for c in plane.extra_components(self.group)]
        done = [f"stopped {', '.join(names)} (processes on this machine)"] if names else []
        if names:
            plane.set_extra_components([], group=self.group, clock=ctx.clock)
        if not plane.extra_components():
            plane.stop(clock=ctx.clock)
            done.append("stopped the process host")
        return done

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
        """``mode: processes``: the controllers run as processes on this machine."""
        return bool(getattr(profile.components, self.name).mode == "processes")

    def mode(self, ctx: Context) -> Mode:
        """The strategy for the profile's mode."""
        raise NotImplementedError

    def preflight(self, ctx: Context) -> None:
        how = self.mode(ctx)
        if isinstance(how, AsProcesses):
            how.place_preflight(ctx)
        how.preflight(ctx)

    def down(self, ctx: Context) -> list[str]:
        how = self.mode(ctx)
        return how.down(ctx) if isinstance(how, AsProcesses) else []
