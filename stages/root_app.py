"""root_app: the root Application (App-of-Apps) and, for a private repo, its repository Secret.

Only the fields clusterboot owns are compared, so Argo CD's own writes (status, operation,
the refresh annotation) never count as drift. The gate waits for Argo CD's first reconcile of
the root, not for its health: the children are ``sync_waves``' business.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bootstrap.components import sandbox
from bootstrap.components.sandbox import paths
from bootstrap.errors import InputError, TemporaryError
from bootstrap.profile import schema
from bootstrap.profile.schema import Profile
from bootstrap.stage import CannotKnowYet, Change, Context, Stage, Verdict
from bootstrap.waves import argo

Obj = dict[str, Any]
MANAGED = {"app.kubernetes.io/managed-by": "clusterboot"}
RETRY = {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}}


def application(root: schema.RootApp, namespace: str) -> Obj:
    """The root Application, as clusterboot applies it."""
    return {
        "apiVersion": argo.API_VERSION,
        "kind": argo.KIND,
        "metadata": {"name": root.name, "namespace": namespace, "labels": MANAGED},
        "spec": {
            "project": root.project,
            "source": {
                "repoURL": root.repo_url,
                "targetRevision": root.target_revision,
                "path": root.path,
            },
            "destination": {
                "server": root.destination.server,
                "namespace": root.destination.namespace,
            },
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "retry": RETRY},
        },
    }


def repository_secret(root: schema.RootApp, namespace: str) -> Obj | None:
    """Argo CD's repository Secret for ``root.repo_url``, or None without credentials.
    Values come from the profile's secret references and go nowhere but the API."""
    creds = root.credentials
    if creds is None:
        return None
    values = {"type": "git", "url": root.repo_url}
    for key, ref in (
        ("username", creds.username),
        ("password", creds.password),
        ("sshPrivateKey", creds.ssh_private_key),
    ):
        if ref is not None:
            values[key] = ref.reveal()
    labels = {**MANAGED, "argocd.argoproj.io/secret-type": "repository"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": f"{root.name}-repo", "namespace": namespace, "labels": labels},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def drift(live: Mapping[str, Any] | None, want: Mapping[str, Any], path: str = "") -> list[str]:
    """Each leaf of ``want`` that ``live`` lacks or holds differently ("key.path: old → new").
    Secret data is named, never shown."""
    if live is None:
        return [] if path else ["missing"]
    found = []
    for key, value in want.items():
        where = f"{path}.{key}" if path else key
        have = live.get(key)
        if isinstance(value, Mapping):
            found += drift(have if isinstance(have, Mapping) else {}, value, where)
        elif have != value:
            shown = "changed" if where.startswith("data.") else f"{have!r} → {value!r}"
            found.append(f"{where}: {shown}")
    return found


class RootApp(Stage):
    name = "root_app"
    needs = ("argocd", "sandbox_repo")

    def skip_reason(self, profile: Profile) -> str | None:
        return profile.root_app_skipped()

    def preflight(self, ctx: Context) -> None:
        """Credentials come in pairs; a sandbox's root path and its children's paths exist
        (a remote repository cannot be looked at before the run: the walk names a missing
        path there)."""
        root = ctx.profile.root_app
        assert root is not None
        creds = root.credentials
        if creds is not None and (creds.username is None) != (creds.password is None):
            raise InputError(
                "root_app.credentials needs both username and password, or neither",
                hint="for SSH give ssh_private_key alone",
            )
        paths.check(root.repo_url, root.path)

    def desired(self, profile: Profile, state_dir: Path) -> list[Obj]:
        assert profile.root_app is not None
        # A sandbox: repository is published by stage sandbox_repo (file://, or in the cluster).
        url = sandbox.effective_url(
            profile.root_app.repo_url, state_dir, sandbox.served_in(profile)
        )
        root = profile.root_app.model_copy(update={"repo_url": url})
        namespace = profile.components.argocd.namespace
        secret = repository_secret(root, namespace)
        return [*([secret] if secret else []), application(root, namespace)]

    def plan(self, ctx: Context) -> Iterator[Change]:
        for want in self.desired(ctx.profile, ctx.state_dir):
            meta = want["metadata"]
            what = f"{want['kind']} {meta['namespace']}/{meta['name']}"
            live = self._observe(ctx, want)
            differences = drift(live, want)
            if not differences:
                continue
            summary = (
                f"create {what}" if live is None else f"update {what}: {'; '.join(differences)}"
            )
            yield Change(summary, apply=self._applier(want))

    def _observe(self, ctx: Context, want: Obj) -> Obj | None:
        meta = want["metadata"]
        try:
            return ctx.kube.get(want["apiVersion"], want["kind"], meta["name"], meta["namespace"])
        except TemporaryError as err:
            if not err.message.startswith("no matches for kind"):
                raise
            raise CannotKnowYet(
                f"Argo CD is not installed yet ({err.message})",
                hint="the argocd stage installs it; with components.argocd.enabled=false it "
                "must already be in the cluster",
            ) from err

    def _applier(self, body: Obj) -> Callable[[Context], None]:
        def apply(ctx: Context) -> None:
            ctx.kube.apply(body)

        return apply

    def gate(self, ctx: Context) -> Verdict:
        root = ctx.profile.root_app
        assert root is not None
        namespace = ctx.profile.components.argocd.namespace
        live = ctx.kube.get(argo.API_VERSION, argo.KIND, root.name, namespace)
        what = f"Application {namespace}/{root.name}"
        if live is None:
            return Verdict.waiting(f"{what} not found", what)
        reconciled = (live.get("status") or {}).get("reconciledAt")
        if not reconciled:
            return Verdict.waiting(f"Argo CD has not reconciled {what} yet", what)
        stale = argo.picture_stale(live)
        if stale is not None:  # a reconcile of the spec before the one just applied
            return Verdict.waiting(f"Argo CD has not reconciled {what}'s new spec: {stale}", what)
        return Verdict.passed(f"{what} reconciled by Argo CD at {reconciled}")
