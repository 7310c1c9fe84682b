"""sandbox_repo: publish a profile's ``sandbox:`` GitOps directory as a local git repository
that Argo CD reads through ``file://`` (bootstrap/components/sandbox/repo.py), its marked
Secrets sealed with the cluster's Sealed Secrets key (bootstrap/components/sandbox/seal.py).
Skipped for real remotes.
"""

from __future__ import annotations

from collections.abc import Iterator

from bootstrap.components import sandbox
from bootstrap.components.sandbox import seal
from bootstrap.components.sealed_secrets import processes
from bootstrap.controlplane import binaries
from bootstrap.errors import InputError
from bootstrap.profile.schema import Profile
from bootstrap.stage import Change, Context, Stage, Verdict

SEALS = "sandbox-seals.json"


class SandboxRepo(Stage):
    name = "sandbox_repo"
    needs = ("sealed_secrets",)

    def skip_reason(self, profile: Profile) -> str | None:
        skipped = profile.root_app_skipped()
        if skipped is not None or profile.root_app is None:
            return skipped
        if not sandbox.is_sandbox(profile.root_app.repo_url):
            return "the root app's repository is remote"
        return None

    def preflight(self, ctx: Context) -> None:
        """The directory exists; Secrets marked for sealing have a Sealed Secrets to seal with."""
        marked = self._marked(ctx)
        if marked and not ctx.profile.components.sealed_secrets.enabled:
            raise InputError(
                f"{', '.join(marked)} in {self._repo_url(ctx)} hold Secrets marked "
                f"{seal.MARK}, and components.sealed_secrets is not enabled",
                hint="enable it (mode: processes on the local profile), or drop the mark",
            )

    @staticmethod
    def _repo_url(ctx: Context) -> str:
        assert ctx.profile.root_app is not None
        return ctx.profile.root_app.repo_url

    def _marked(self, ctx: Context) -> list[str]:
        source = sandbox.source_dir(self._repo_url(ctx))
        return seal.files_to_seal(sandbox.rendered(source, ""))

    def _sealer(self, ctx: Context) -> seal.KubesealSealer:
        settings = ctx.profile.components.sealed_secrets
        certificate = seal.newest_certificate(ctx.kube, settings.namespace)
        built = processes.bin_dir(
            binaries.cache_dir(ctx.profile.cluster.local), settings.version
        )
        return seal.KubesealSealer(
            ctx.runner,
            seal.find_kubeseal(built / "kubeseal"),
            certificate,
            ctx.state_dir / SEALS,
        )

    def plan(self, ctx: Context) -> Iterator[Change]:
        repo_url = self._repo_url(ctx)
        url = sandbox.effective_url(repo_url, ctx.state_dir)
        files = sandbox.rendered(sandbox.source_dir(repo_url), url)
        marked = seal.files_to_seal(files)
        sealer = None
        if marked:
            ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster (and its key) exist
            sealer = self._sealer(ctx)
        wanted = sandbox.digest(files, sealer.cert_id if sealer else "")
        if sandbox.published_digest(sandbox.repo_dir(ctx.state_dir)) != wanted:
            sealed = f", sealing the Secrets in {', '.join(marked)}" if marked else ""
            yield Change(
                f"publish {repo_url} as {url}{sealed}",
                lambda c: self._publish(c, repo_url, sealer),
            )

    def _publish(
        self, ctx: Context, repo_url: str, sealer: seal.KubesealSealer | None
    ) -> None:
        sandbox.publish(repo_url, ctx.state_dir, ctx.runner, sealer)

    def gate(self, ctx: Context) -> Verdict:
        target = sandbox.repo_dir(ctx.state_dir)
        if sandbox.published_digest(target) is None:
            return Verdict.waiting(f"{target} has not been published")
        return Verdict.passed(f"served from file://{target}")
