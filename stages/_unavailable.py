"""Stages this version of clusterboot names in its DAG but cannot run yet.

They keep the DAG and `invoke plan` complete and honest: `plan` says the cluster must exist
first, and `up` refuses in preflight (exit 2, nothing touched) when a profile enables them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from bootstrap.config import Profile
from bootstrap.errors import InputError, StageFailed
from bootstrap.stage import Change, Context, Stage


class NotYetAvailable(Stage):
    switch: ClassVar[str]
    """The profile key that turns this stage off."""

    def is_enabled(self, profile: Profile) -> bool:
        raise NotImplementedError

    def skip_reason(self, profile: Profile) -> str | None:
        return None if self.is_enabled(profile) else f"not enabled in the profile ({self.switch})"

    def preflight(self, ctx: Context) -> None:
        raise InputError(
            f"stage {self.name} is not available in this version of clusterboot",
            hint=f"turn it off for now: --set {self.switch}=false, or set it in the profile",
        )

    def plan(self, ctx: Context) -> Iterator[Change]:
        ctx.cluster  # noqa: B018 - raises CannotKnowYet while there is no cluster
        raise StageFailed(self.name, "plan", cause="not available in this version of clusterboot")
        yield  # pragma: no cover - makes this a generator like every other plan
