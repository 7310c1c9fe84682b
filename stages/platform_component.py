"""What the three platform stages (MetalLB, Argo CD, Sealed Secrets) share: their switch in the
profile, and in ``mode: processes`` the local build of the component and the local control plane
whose keeper runs it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from bootstrap import secrets, wait
from bootstrap.controlplane import binaries
from bootstrap.controlplane.cluster import LocalControlPlane
from bootstrap.profile.schema import Profile
from bootstrap.stage import Context, Stage, Verdict


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
        return LocalControlPlane.for_profile(
            ctx.profile,
            state_dir=ctx.state_dir,
            unisolated=bool(ctx.options.get("unisolated")),
            run=ctx.runner,
        )

    @staticmethod
    def _account_token(ctx: Context, secret: dict[str, Any]) -> str:
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
