"""sandbox_repo: publish a profile's ``sandbox:`` GitOps directory as a local git repository
that Argo CD reads through ``file://`` (see bootstrap/sandbox.py). Skipped for real remotes.
"""

from __future__ import annotations

from collections.abc import Iterator

from bootstrap import sandbox
from bootstrap.config import Profile
from bootstrap.stage import Change, Context, Stage, Verdict


class SandboxRepo(Stage):
    name = "sandbox_repo"
    needs = ()

    def skip_reason(self, profile: Profile) -> str | None:
        if profile.root_app is None or not profile.root_app.enabled:
            return "no root app in the profile"
        if not sandbox.is_sandbox(profile.root_app.repo_url):
            return "the root app's repository is remote"
        return None

    def preflight(self, ctx: Context) -> None:
        assert ctx.profile.root_app is not None
        sandbox.source_dir(ctx.profile.root_app.repo_url)

    def plan(self, ctx: Context) -> Iterator[Change]:
        assert ctx.profile.root_app is not None
        repo_url = ctx.profile.root_app.repo_url
        url = sandbox.effective_url(repo_url, ctx.state_dir)
        wanted = sandbox.digest(sandbox.rendered(sandbox.source_dir(repo_url), url))
        if sandbox.published_digest(sandbox.repo_dir(ctx.state_dir)) != wanted:
            yield Change(f"publish {repo_url} as {url}", lambda c: self._publish(c, repo_url))

    def _publish(self, ctx: Context, repo_url: str) -> None:
        sandbox.publish(repo_url, ctx.state_dir, ctx.runner)

    def gate(self, ctx: Context) -> Verdict:
        target = sandbox.repo_dir(ctx.state_dir)
        if sandbox.published_digest(target) is None:
            return Verdict.waiting(f"{target} has not been published")
        return Verdict.passed(f"served from file://{target}")
