"""sync_waves: the root app's children, wave by wave, each gated on honest health.

``plan`` surveys the children and yields one change, the walk, only when some child is not
passing; the walk (``bootstrap.waves.walk``) waits wave by wave and nudges Argo CD through the
API. ``gate`` looks once more at every child without waiting; ``record`` reports the waves a
run found converged when it did not walk.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from bootstrap.components import sandbox
from bootstrap.errors import TemporaryError
from bootstrap.profile.schema import Profile
from bootstrap.report import WaveResult
from bootstrap.stage import CannotKnowYet, Change, Context, Stage, Verdict
from bootstrap.waves import argo, rules, tree
from bootstrap.waves.feed import Obj
from bootstrap.waves.walk import Walk


class SyncWaves(Stage):
    name = "sync_waves"
    needs = ("root_app",)

    def skip_reason(self, profile: Profile) -> str | None:
        return profile.root_app_skipped()

    def plan(self, ctx: Context) -> Iterator[Change]:
        settings = self._settings(ctx)
        found, _ = self._survey(ctx, settings)
        if found.blockers and found.blockers[0].endswith("not found"):
            raise CannotKnowYet(found.blockers[0], hint="the root_app stage creates it")
        moves = self._moves(ctx, found)
        if not found.converged or moves:
            summary = found.summary()
            if moves:
                summary += "; after the repository change: " + "; ".join(moves)
            yield Change(summary, apply=self._walk)

    @staticmethod
    def _moves(ctx: Context, found: rules.Survey) -> list[str]:
        """For a sandbox repository, what publishing it as it is now changes in the waves."""
        assert ctx.profile.root_app is not None
        root = ctx.profile.root_app
        wanted = sandbox.root_children(
            root.repo_url, root.path, ctx.profile.components.argocd.namespace
        )
        if wanted is None:
            return []
        current = {name: wave for wave, apps in found.waves.items() for name in apps}
        return rules.repository_moves(current, wanted)

    def _walk(self, ctx: Context) -> None:
        results: list[WaveResult] = ctx.report.waves if ctx.report is not None else []
        pruned: list[str] = ctx.report.pruned if ctx.report is not None else []
        results.clear()  # a retried stage walks again from the start
        walk = Walk(
            ctx.kube,
            self._settings(ctx),
            clock=ctx.clock,
            log=ctx.log.bind(stage=self.name),
            results=results,
            pruned=pruned,
        )
        walk.run()

    def gate(self, ctx: Context) -> Verdict:
        found, _ = self._survey(ctx, self._settings(ctx))
        broken = [
            f"{n} (wave {w}): {v.why}" for w, n, v in found.not_passing() if v.outcome == "failed"
        ]
        if broken:
            return Verdict.broken(f"{len(broken)} child app(s) failed", *broken)
        if not found.converged:
            left = [f"{n} (wave {w}): {v.why}" for w, n, v in found.not_passing()]
            return Verdict.waiting(found.summary(), *found.blockers, *left)
        count = sum(len(apps) for apps in found.waves.values())
        return Verdict.passed(f"{count} child apps in {len(found.waves)} waves Synced and Healthy")

    def record(self, ctx: Context) -> None:
        """A run that did not walk still reports the waves it found converged."""
        if ctx.report is not None and not ctx.report.waves:
            found, apps = self._survey(ctx, self._settings(ctx))
            ctx.report.waves.extend(_observed(found, apps))

    @staticmethod
    def _settings(ctx: Context) -> rules.Settings:
        assert ctx.profile.root_app is not None
        revisions = sandbox.expected_revisions(
            ctx.profile.root_app.repo_url,
            ctx.state_dir,
            ctx.runner,
            sandbox.served_in(ctx.profile),
        )
        return rules.Settings.of(ctx.profile, revisions=revisions)

    def gate_deadline(self, ctx: Context) -> float:
        """The walk did the waiting; the gate only confirms (and tolerates a short blip)."""
        return float(min(ctx.profile.timeouts.stage_seconds, 30))

    def _survey(
        self, ctx: Context, settings: rules.Settings
    ) -> tuple[rules.Survey, dict[str, Obj]]:
        apps = self._list(ctx, argo.KIND, settings.namespace)
        root = apps.get(settings.root)
        listed = root is not None and bool(tree.generators(root))
        appsets = self._list(ctx, "ApplicationSet", settings.namespace) if listed else {}
        return rules.survey(apps, settings, now=time.time(), appsets=appsets), apps

    def _list(self, ctx: Context, kind: str, namespace: str) -> dict[str, Obj]:
        try:
            items, _ = ctx.kube.list(argo.API_VERSION, kind, namespace=namespace)
        except TemporaryError as err:
            if not err.message.startswith("no matches for kind"):
                raise
            raise CannotKnowYet(f"Argo CD is not installed yet ({err.message})") from err
        return {i["metadata"]["name"]: i for i in items}


def _observed(found: rules.Survey, apps: dict[str, Obj]) -> list[WaveResult]:
    """Per-wave results of a run that found everything converged (no walk, no timings)."""
    return [
        WaveResult(wave, [rules.app_result(name, apps.get(name), 0.0) for name in verdicts])
        for wave, verdicts in found.waves.items()
    ]
