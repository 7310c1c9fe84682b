"""What the three platform stages (MetalLB, Argo CD, Sealed Secrets) share: their switch in the
profile, and in ``mode: processes`` the local build of the component and the local control plane
whose keeper runs it."""

from __future__ import annotations

from pathlib import Path

from bootstrap.config import Profile
from bootstrap.controlplane import binaries
from bootstrap.controlplane.cluster import LocalControlPlane
from bootstrap.stage import Context, Stage
from stages.cluster_local import ClusterLocal


class PlatformComponent(Stage):
    """A stage for ``components.<name>``; subclasses name their build directory's layout."""

    needs = ("cluster",)

    @staticmethod
    def build_dir(binaries_root: Path, version: str) -> Path:
        """Where `make binaries` (or `make argocd`) puts the component's local build."""
        raise NotImplementedError

    def skip_reason(self, profile: Profile) -> str | None:
        if not getattr(profile.components, self.name).enabled:
            return f"not enabled in the profile (components.{self.name}.enabled)"
        return None

    def _processes(self, ctx: Context) -> bool:
        return bool(getattr(ctx.profile.components, self.name).mode == "processes")

    def _bin_dir(self, ctx: Context) -> Path:
        root = binaries.cache_dir(ctx.profile.cluster.local)
        return self.build_dir(root, getattr(ctx.profile.components, self.name).version)

    @staticmethod
    def _plane(ctx: Context) -> LocalControlPlane:
        return ClusterLocal().plane(ctx)
