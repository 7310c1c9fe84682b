"""cluster_docker_desktop: attach to Docker Desktop's built-in Kubernetes (enabled in Desktop's
settings). clusterboot never creates, starts or deletes it: it copies the one context it needs
from the user's kubeconfig into the state directory, renamed to the profile, and checks that
the API answers and every node is Ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bootstrap.errors import InputError
from bootstrap.kube import kubeconfig
from bootstrap.stage import Change, Context
from stages.cluster_common import ToolCluster

DEFAULT_CONTEXT = "docker-desktop"


class ClusterDockerDesktop(ToolCluster):
    name = "cluster_docker_desktop"
    provider = "docker-desktop"

    def context(self, ctx: Context) -> str:
        return ctx.profile.cluster.context or DEFAULT_CONTEXT

    def files(self, ctx: Context) -> list[Path]:
        explicit = ctx.profile.cluster.kubeconfig
        if explicit and not Path(explicit).expanduser().is_absolute() and ctx.profile.source:
            explicit = str(Path(ctx.profile.source).parent / explicit)
        return kubeconfig.user_files(explicit)

    def preflight(self, ctx: Context) -> None:
        """The context must exist before anything runs (exit 2, naming what was found)."""
        self.source_kubeconfig(ctx)

    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        files = self.files(ctx)
        shown = ", ".join(str(p) for p in files)
        docs: list[dict[str, Any]] = []
        for path in files:
            if not path.is_file():
                continue
            try:
                docs.append(kubeconfig.parse(path.read_text(encoding="utf-8"), source=str(path)))
            except UnicodeDecodeError as err:
                byte = err.object[err.start]
                raise InputError(
                    f"kubeconfig {path} is not UTF-8 text (byte {byte:#04x} at offset {err.start})",
                    hint="is it a kubeconfig? fix the file, or set cluster.kubeconfig",
                ) from None
            except (OSError, kubeconfig.KubeconfigError) as err:
                raise InputError(f"cannot read kubeconfig {path}: {err}",
                                 hint="fix the file, or set cluster.kubeconfig") from err
        merged = kubeconfig.merge(docs)
        context = self.context(ctx)
        if context not in kubeconfig.context_names(merged):
            found = ", ".join(kubeconfig.context_names(merged)) or "none"
            where = shown if docs else f"{shown} (no such file)"
            raise InputError(
                f"context {context!r} is not in kubeconfig {where}; contexts there: {found}",
                hint="enable Kubernetes in Docker Desktop's settings, or set cluster.context "
                "(and cluster.kubeconfig) to the cluster to attach to",
            )
        return kubeconfig.dump(merged), context, shown

    def plan(self, ctx: Context) -> Iterator[Change]:
        yield from self.kubeconfig_plan(ctx)

    def foreign(self, ctx: Context) -> str | None:
        return (
            f"the cluster of context {self.context(ctx)} belongs to Docker Desktop (attached, "
            "never created by clusterboot)"
        )

    def down(self, ctx: Context) -> list[str]:
        """Refuse: this cluster belongs to Docker Desktop, not to the profile."""
        return [f"the attached cluster (context {self.context(ctx)}) is never torn down by "
                "clusterboot; nothing deleted"]
