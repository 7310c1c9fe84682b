"""What the two k3s cluster stages share (cluster_k3s_ssh, and cluster_k3s_oci once its instance
runs): k3s on a server reached over SSH.

It observes first (is k3s there, which version, installed by clusterboot with which
arguments), then plans only the difference: install the pinned version with an
``INSTALL_K3S_EXEC`` built from the profile, upgrade it when the profile pins another, and
refuse a configuration drift unless ``--recreate`` says to reinstall. A k3s installed by
someone else is used as it is and never changed or uninstalled. Optional agents join with the
server's node token (on stdin only). The kubeconfig is fetched from the server, rewritten to
the host's address and the profile's names, and kept 0600 in the state directory; the user's
own kubeconfig is never touched.

``cluster.k3s_ssh.airgap``: the k3s binary (and images) are uploaded from the pinned
artifacts (or the bundle in ``artifacts.dir``), installed with ``INSTALL_K3S_SKIP_DOWNLOAD``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

from bootstrap import artifacts
from bootstrap.components.k3s import config
from bootstrap.components.k3s.host import Host
from bootstrap.errors import CommandFailed, InputError, StageFailed
from bootstrap.kube import kubeconfig
from bootstrap.processes.ssh import SSH_FAILED
from bootstrap.profile.schema import K3sSshCluster, ManifestSource, SshTarget
from bootstrap.stage import CannotKnowYet, Change, Context, Verdict
from stages.cluster_common import ToolCluster, kubeconfig_path, nodes_ready

IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"


class K3sServer(ToolCluster):
    """The SSH path; a subclass says where the server is (``settings``)."""

    def settings(self, ctx: Context) -> K3sSshCluster:
        """The server and how k3s is installed on it (a subclass may find the server first)."""
        found = ctx.profile.cluster.k3s_ssh
        assert found is not None  # the profile check requires it for this provider
        return found

    def known_hosts(self, ctx: Context) -> Path | None:
        return None  # the profile's (or ssh's default)

    # -- the hosts --------------------------------------------------------------------------
    def host(self, ctx: Context, target: SshTarget | None = None) -> Host:
        settings = self.settings(ctx)
        password = settings.sudo_password.reveal() if settings.sudo_password else None
        return Host(
            target or settings.ssh,
            runner=ctx.runner,
            sudo_password=password,
            known_hosts=self.known_hosts(ctx),
            timeout=float(ctx.profile.timeouts.command_seconds),
        )

    def agents(self, ctx: Context) -> list[Host]:
        return [self.host(ctx, target) for target in self.settings(ctx).agents]

    def preflight(self, ctx: Context) -> None:
        """Every host answers, with a known host key and a user that can become root: a clear
        error with a hint before anything is half-done."""
        for host in [self.host(ctx), *self.agents(ctx)]:
            try:
                host.check_sudo()
            except CommandFailed as err:
                raise InputError(f"cannot reach {host.name}: {err.message}", hint=err.hint) from err

    # -- plan -------------------------------------------------------------------------------
    def exec_args(self, ctx: Context) -> list[str]:
        return config.server_exec(
            self.settings(ctx), metallb=ctx.profile.components.metallb.enabled
        )

    def plan(self, ctx: Context) -> Iterator[Change]:
        settings, server = self.settings(ctx), self.host(ctx)
        wanted = self.exec_args(ctx)
        found = self._probe(server)
        decision = config.decide(
            found,
            version=settings.k3s_version,
            exec_args=wanted,
            recreate=bool(ctx.options.get("recreate")),
        )
        where = f"on {server.name}"
        if decision.action == "reconfigure" and not ctx.options.get("recreate"):
            raise StageFailed(
                self.name,
                "compare the installed k3s with the profile",
                cause=f"{decision.why} {where}",
                hint="reinstalling restarts the server's cluster: run `invoke up --recreate` "
                "to do it, or change the profile back",
            )
        if decision.action in {"install", "upgrade", "reconfigure"}:
            shown = " ".join(wanted)
            mode = " (air-gapped: binary uploaded)" if settings.airgap else ""
            yield Change(
                f"{decision.why} {where} (INSTALL_K3S_EXEC: {shown}){mode}",
                lambda c: self.install_server(c, wanted),
            )
            yield from self._agents_plan(ctx, server_ready=False)
            return
        if not found.kubeconfig:
            raise StageFailed(
                self.name,
                "find the server's kubeconfig",
                cause=f"{decision.why} {where}, but {config.K3S_YAML} is missing",
                hint="is the k3s service running there? `systemctl status k3s`",
            )
        yield from self.kubeconfig_plan(ctx)
        yield from self._agents_plan(ctx, server_ready=True)

    @staticmethod
    def _probe(server: Host) -> config.Installed:
        """What is on the server; a server SSH cannot reach (or whose key is not trusted) is
        something `plan` cannot know yet, and says why (`up` refuses it before any change)."""
        try:
            return server.probe()
        except CommandFailed as err:
            if err.returncode != SSH_FAILED:
                raise
            raise CannotKnowYet(f"cannot ask {server.name}: {err.message}", hint=err.hint) from err

    def _agents_plan(self, ctx: Context, *, server_ready: bool) -> Iterator[Change]:
        version = self.settings(ctx).k3s_version
        for agent in self.agents(ctx):
            found = agent.probe() if server_ready else config.Installed()
            if found.binary is None or (found.ours and found.version != version):
                verb = "join" if found.binary is None else f"upgrade from {found.version} and join"
                yield Change(
                    f"{verb} agent {agent.name} to the server (k3s {version}; the node token "
                    "on stdin)",
                    functools.partial(self.join_agent, agent=agent),
                )

    # -- changes ----------------------------------------------------------------------------
    def install_server(self, ctx: Context, exec_args: list[str]) -> None:
        settings, server = self.settings(ctx), self.host(ctx)
        script = self._script(ctx)
        skip = self._upload_airgap(ctx, server)
        env = config.install_env(settings.k3s_version, exec_args, skip_download=skip)
        self._step(lambda: server.install(script, env), f"install k3s on {server.name}")
        server.write_marker(config.marker(settings.k3s_version, exec_args, ctx.profile.name))
        self.sync_kubeconfig(ctx)

    def join_agent(self, ctx: Context, *, agent: Host) -> None:
        settings, server = self.settings(ctx), self.host(ctx)
        token = server.node_token()
        skip = self._upload_airgap(ctx, agent)
        url = f"https://{_bracketed(settings.ssh.host)}:{settings.api_port}"
        env = {**config.install_env(settings.k3s_version, ["agent"], skip_download=skip)}
        env["K3S_URL"] = url
        script = self._script(ctx)
        self._step(lambda: agent.install(script, env, token=token), f"join agent {agent.name}")
        agent.write_marker(config.marker(settings.k3s_version, ["agent"], ctx.profile.name))

    def _step(self, action: Callable[[], None], step: str) -> None:
        try:
            action()
        except CommandFailed as err:
            raise StageFailed(self.name, step, cause=err.message, hint=err.hint) from err

    def install_script(self, ctx: Context) -> tuple[ManifestSource | None, str, str]:
        """The pinned install script, the k3s version, and the profile key that sets it."""
        settings = self.settings(ctx)
        return settings.install_script, settings.k3s_version, "cluster.k3s_ssh.install_script"

    def _artifact(self, ctx: Context, what: str, source: ManifestSource) -> Path:
        _, version, _ = self.install_script(ctx)
        artifact = artifacts.k3s_artifact(what, version, source)
        return artifacts.Store.for_profile(ctx.profile).path(artifact)

    def _script(self, ctx: Context) -> bytes:
        source, _, key = self.install_script(ctx)
        if source is None:
            raise StageFailed(
                self.name,
                "find the k3s install script",
                cause=f"{key} is not set, and clusterboot runs no unpinned script on a server",
                hint="pin it: install_script: {url: https://raw.githubusercontent.com/k3s-io/"
                "k3s/<version>/install.sh, sha256: <`sha256sum` of the file you reviewed>}",
            )
        return self._artifact(ctx, "k3s-install-script", source).read_bytes()

    def _upload_airgap(self, ctx: Context, host: Host) -> bool:
        """Upload the pinned binary (and images) for an air-gapped install; True if done."""
        airgap = self.settings(ctx).airgap
        if airgap is None:
            return False
        binary = self._artifact(ctx, "k3s-binary", airgap.binary)
        host.upload(binary.read_bytes(), "/usr/local/bin/k3s", mode="0755")
        if airgap.images is not None:
            images = self._artifact(ctx, "k3s-images", airgap.images)
            name = Path(airgap.images.url).name or "k3s-airgap-images.tar"
            host.as_root(["mkdir", "-p", IMAGES_DIR])
            host.upload(images.read_bytes(), f"{IMAGES_DIR}/{name}", mode="0644")
        return True

    # -- the kubeconfig ---------------------------------------------------------------------
    def source_kubeconfig(self, ctx: Context) -> tuple[str, str, str]:
        server = self.host(ctx)
        return server.fetch_kubeconfig(), "default", f"{server.name}:{config.K3S_YAML}"

    def desired_kubeconfig(self, ctx: Context) -> str:
        """k3s.yaml with its server at the host's address and the profile's names."""
        settings = self.settings(ctx)
        doc = self.renamed_kubeconfig(ctx)
        url = f"https://{_bracketed(settings.ssh.host)}:{settings.api_port}"
        return kubeconfig.dump(kubeconfig.with_server(doc, url))

    # -- gate -------------------------------------------------------------------------------
    def expected_nodes(self, ctx: Context) -> int:
        return 1 + len(self.settings(ctx).agents)

    def gate(self, ctx: Context) -> Verdict:
        nodes = nodes_ready(ctx, expected=self.expected_nodes(ctx))
        if not nodes.ok:
            return nodes
        if ctx.kube.get("v1", "ServiceAccount", "default", "default") is None:
            return Verdict.waiting("ServiceAccount default/default not created yet")
        return nodes

    # -- down -------------------------------------------------------------------------------
    def down(self, ctx: Context) -> list[str]:
        """Uninstall k3s only where clusterboot installed it, and only when ``--yes`` confirms
        it: this destroys the server's cluster."""
        server, path = self.host(ctx), kubeconfig_path(ctx)
        found = server.probe()
        if found.binary is None:
            path.unlink(missing_ok=True)
            return [f"no k3s on {server.name}; nothing to uninstall"]
        if not found.ours:
            return [f"k3s on {server.name} was not installed by clusterboot: left as it is"]
        if not ctx.options.get("yes"):
            return [
                f"k3s on {server.name} was installed by clusterboot; uninstalling it destroys "
                "that server's cluster and its data: run `invoke down --yes` to do it"
            ]
        lines = []
        for agent in self.agents(ctx):
            if agent.probe().ours:
                agent.uninstall(agent=True)
                lines.append(f"uninstalled the k3s agent on {agent.name}")
        server.uninstall()
        path.unlink(missing_ok=True)
        return [*lines, f"uninstalled k3s on {server.name}; removed {path}"]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
