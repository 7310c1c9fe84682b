"""The stage contract: ``plan`` observes and yields what still differs, each ``Change`` applies
itself idempotently, and ``gate`` returns a verdict without side effects.

A stage never remembers what it did; it observes. Facts one stage learns for the next (the
cluster's kubeconfig) travel on the ``Context``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from bootstrap.errors import ClusterbootError
from bootstrap.kube import watch
from bootstrap.profile.schema import Profile
from bootstrap.wait import Verdict

if TYPE_CHECKING:
    from bootstrap.kube.client import Kube
    from bootstrap.processes.runner import Runner
    from bootstrap.report import Report
    from bootstrap.wait import Clock


__all__ = ["CannotKnowYet", "Change", "ClusterInfo", "Context", "Stage", "Verdict"]


@dataclass(frozen=True)
class ClusterInfo:
    """What every stage after the cluster needs to reach it."""

    kubeconfig: Path
    context: str
    api_url: str
    lb_range: str | None = None
    provider: str = ""


@dataclass(frozen=True)
class Change:
    """One difference between the profile and reality, and how to remove it."""

    summary: str
    apply: Callable[[Context], None] = field(compare=False, repr=False)


class CannotKnowYet(ClusterbootError):
    """Raised by ``plan`` when an earlier stage must run before this one can observe."""


@dataclass
class Context:
    """Everything a stage may use; nothing global."""

    profile: Profile
    runner: Runner
    state_dir: Path
    clock: Clock
    options: dict[str, Any] = field(default_factory=dict)
    log: Any = field(default_factory=lambda: structlog.get_logger("clusterboot"))
    report: Report | None = None
    """The run's report, for stages that record more than their own line (per-wave results)."""
    _cluster: ClusterInfo | None = None
    _kube: Kube | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _observing: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def cluster(self) -> ClusterInfo:
        if self._cluster is None:
            raise CannotKnowYet("the cluster does not exist yet")
        return self._cluster

    @property
    def has_cluster(self) -> bool:
        return self._cluster is not None

    def publish_cluster(self, info: ClusterInfo) -> None:
        with self._lock:
            self._cluster = info
            self._kube = None

    @property
    def kube(self) -> Kube:
        from bootstrap.kube.client import Kube

        with self._lock:
            if self._kube is None:
                if self._cluster is None:
                    raise CannotKnowYet("the cluster does not exist yet")
                self._kube = Kube.connect(
                    self._cluster.kubeconfig,
                    context=self._cluster.context,
                    discovery_dir=self.state_dir / "cache" / "discovery",
                )
            return self._kube

    @property
    def objects(self) -> watch.ObjectReader:
        """Where a gate reads the objects it judges: the engine's observer while the engine
        waits on this thread's gate (the followers' cache), else the API."""
        observer: watch.Observer | None = getattr(self._observing, "observer", None)
        return observer if observer is not None else watch.Reader(self.kube)

    @contextlib.contextmanager
    def observed_by(self, observer: watch.Observer) -> Iterator[None]:
        """Gates on this thread read through ``observer`` (stages run on threads of their own)."""
        self._observing.observer = observer
        try:
            yield
        finally:
            self._observing.observer = None


class Stage:
    """Base for every stage. Subclasses set ``name`` and ``needs`` and override the steps."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[str | None] = None
    """An alias other stages may need instead of the name (cluster stages provide 'cluster')."""

    def skip_reason(self, profile: Profile) -> str | None:
        """Why this stage does nothing for ``profile`` (disabled, not applicable), or None."""
        return None

    def preflight(self, ctx: Context) -> None:
        """Check inputs and the machine before anything is touched; raise InputError."""

    def plan(self, ctx: Context) -> Iterator[Change]:
        raise NotImplementedError

    def gate(self, ctx: Context) -> Verdict:
        return Verdict.passed("no gate")

    def gate_deadline(self, ctx: Context) -> float:
        return float(ctx.profile.timeouts.stage_seconds)

    def foreign(self, ctx: Context) -> str | None:
        """For a cluster stage: why the cluster this profile would use is not one it created
        (attached, made by hand, made again under the same name), which ``down`` must not
        delete and ``dr`` must not rebuild into; None when it is ours or does not exist yet."""
        return None

    def record(self, ctx: Context) -> None:
        """Once the gate passed: add what the stage observed to ``ctx.report`` (the gate itself
        only judges). Nothing by default."""
