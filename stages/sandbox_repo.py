"""sandbox_repo: publish a profile's ``sandbox:`` GitOps directory as a local git repository
(bootstrap/components/sandbox/repo.py), its marked Secrets sealed with the cluster's Sealed
Secrets key (bootstrap/components/sandbox/seal.py). Argo CD reads it through ``file://`` when
it runs on this machine; when it runs in the cluster as pods, the publication is pushed to a
git server there (bootstrap/components/sandbox/server.py). Skipped for real remotes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from bootstrap import wait
from bootstrap.components import sandbox
from bootstrap.components.sandbox import seal, server
from bootstrap.components.sealed_secrets import processes
from bootstrap.controlplane import binaries
from bootstrap.errors import InputError
from bootstrap.profile.schema import Profile
from bootstrap.stage import Change, Context, Stage, Verdict

SEALS = "sandbox-seals.json"
SPEC_HASH = "clusterboot.io/spec-hash"


class SandboxRepo(Stage):
    name = "sandbox_repo"
    needs = ("sealed_secrets", "argocd")

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
        built = processes.bin_dir(binaries.cache_dir(ctx.profile.cluster.local), settings.version)
        return seal.KubesealSealer(
            ctx.runner,
            seal.find_kubeseal(built / "kubeseal"),
            certificate,
            ctx.state_dir / SEALS,
        )

    def plan(self, ctx: Context) -> Iterator[Change]:
        repo_url = self._repo_url(ctx)
        namespace = sandbox.served_in(ctx.profile)
        url = sandbox.effective_url(repo_url, ctx.state_dir, namespace)
        files = sandbox.rendered(sandbox.source_dir(repo_url), url)
        marked = seal.files_to_seal(files)
        sealer = None
        if marked:
            ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster (and its key) exist
            sealer = self._sealer(ctx)
        wanted = sandbox.digest(files, sealer.cert_id if sealer else "")
        publishing = sandbox.published_digest(sandbox.repo_dir(ctx.state_dir)) != wanted
        if publishing:
            sealed = f", sealing the Secrets in {', '.join(marked)}" if marked else ""
            yield Change(
                f"publish {repo_url} for {url}{sealed}",
                lambda c: self._publish(c, repo_url, sealer, namespace),
            )
        if namespace is not None:
            yield from self._serve_in_cluster(ctx, namespace, url, publishing=publishing)

    def _publish(
        self,
        ctx: Context,
        repo_url: str,
        sealer: seal.KubesealSealer | None,
        namespace: str | None,
    ) -> None:
        sandbox.publish(repo_url, ctx.state_dir, ctx.runner, sealer, namespace)

    # -- served in the cluster ------------------------------------------------------------------
    def _serve_in_cluster(
        self, ctx: Context, namespace: str, url: str, *, publishing: bool
    ) -> Iterator[Change]:
        """The git server's Deployment and Service as wanted, then the publication pushed to it
        when the server does not hold it (a new pod starts empty)."""
        ctx.cluster  # noqa: B018 - CannotKnowYet before the cluster exists
        for want in server.objects(namespace, server.image(ctx.kube, namespace)):
            marked = _with_spec_hash(want)
            meta = want["metadata"]
            live = ctx.kube.get(want["apiVersion"], want["kind"], meta["name"], namespace)
            if ((live or {}).get("metadata") or {}).get("annotations", {}).get(SPEC_HASH) != (
                marked["metadata"]["annotations"][SPEC_HASH]
            ):
                verb = "create" if live is None else "update"
                yield Change(
                    f"{verb} {want['kind']} {namespace}/{meta['name']} (the sandbox's git "
                    "server, on Argo CD's image)",
                    _applier(marked),
                )
        local = None if publishing else sandbox.published_revision(ctx.state_dir, ctx.runner)
        pod = server.ready_pod(ctx.kube, namespace)
        served = server.served_revision(ctx.kube, namespace, pod) if pod else None
        if local is None or served != local:
            commit = f"commit {local[:8]}" if local else "the publication"
            yield Change(f"push {commit} to {url}", lambda c: self._push(c, namespace))

    def _push(self, ctx: Context, namespace: str) -> None:
        found: list[str] = []

        def pod_ready() -> Verdict:
            pod = server.ready_pod(ctx.kube, namespace)
            if pod is None:
                return Verdict.waiting(f"no Ready pod of {namespace}/{server.NAME} yet")
            found.append(pod)
            return Verdict.passed()

        wait.until(
            pod_ready,
            what=f"the sandbox's git server {namespace}/{server.NAME}",
            deadline=float(ctx.profile.timeouts.stage_seconds),
            clock=ctx.clock,
        )
        server.push(
            ctx.runner,
            sandbox.repo_dir(ctx.state_dir),
            ctx.cluster.kubeconfig,
            ctx.cluster.context,
            namespace,
            found[-1],
        )

    def gate(self, ctx: Context) -> Verdict:
        target = sandbox.repo_dir(ctx.state_dir)
        if sandbox.published_digest(target) is None:
            return Verdict.waiting(f"{target} has not been published")
        namespace = sandbox.served_in(ctx.profile)
        if namespace is None:
            return Verdict.passed(f"served from file://{target}")
        url = server.url(namespace)
        local = sandbox.published_revision(ctx.state_dir, ctx.runner)
        pod = server.ready_pod(ctx.kube, namespace)
        if pod is None:
            waiting = Verdict.waiting(f"no Ready pod of {namespace}/{server.NAME}")
            return dataclasses.replace(waiting, replan=True)
        served = server.served_revision(ctx.kube, namespace, pod)
        if local is None or served != local:
            waiting = Verdict.waiting(
                f"{url} holds {served[:8] if served else 'nothing'}, not the publication "
                f"{local[:8] if local else '(none)'}"
            )
            return dataclasses.replace(waiting, replan=True)
        return Verdict.passed(f"served at {url} (commit {local[:8]}, pod {pod})")


def _with_spec_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` annotated with a hash of itself: a changed spec is seen without comparing what
    the API server defaults."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
    meta = {**obj["metadata"], "annotations": {SPEC_HASH: digest}}
    return {**obj, "metadata": meta}


def _applier(body: dict[str, Any]) -> Callable[[Context], None]:
    def apply(ctx: Context) -> None:
        ctx.kube.apply(body)

    return apply
