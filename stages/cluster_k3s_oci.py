"""cluster_k3s_oci: one Oracle Cloud instance that installs k3s on its first boot through
cloud-init (the oci profile), then the same path as k3s over SSH.

It looks for the instance first (by display name and this profile's freeform tag, so a re-run
never launches a second one, not even after an interrupted launch); launches it with the
``oci`` CLI and a rendered user-data (the pinned install script, the iptables fix Oracle's
images need, the install); waits for RUNNING, its address and cloud-init; then fetches the
kubeconfig and gates as cluster_k3s_ssh does. ``launch: false`` writes the user-data for a
launch by hand and attaches once ``ssh.host`` answers. ``down --yes`` terminates only an
instance this profile launched (tagged).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bootstrap import secrets, wait
from bootstrap.components.k3s import cloud_init
from bootstrap.errors import CommandFailed, InputError, StageFailed, TemporaryError
from bootstrap.kube import kubeconfig
from bootstrap.profile.schema import K3sOciCluster, K3sSshCluster, ManifestSource, SshTarget
from bootstrap.stage import Change, Context, Verdict
from stages.cluster_common import kubeconfig_path
from stages.k3s_server import K3sServer

TAG = "clusterboot-profile"
GONE = {"TERMINATED", "TERMINATING"}
BOOTING = {"PROVISIONING", "STARTING", "CREATING_IMAGE", "MOVING"}
STOPPED = {"STOPPED", "STOPPING"}
THROTTLED = ("TooManyRequests", '"status": 429')
USER_DATA = "oci-user-data.yaml"


def oci_of(ctx: Context) -> K3sOciCluster:
    found = ctx.profile.cluster.k3s_oci
    assert found is not None  # the profile check requires it for this provider
    return found


class ClusterK3sOci(K3sServer):
    name = "cluster_k3s_oci"
    provider = "k3s-oci"

    def __init__(self) -> None:
        self._address: str | None = None  # found once per run, after the instance runs

    # -- the instance -----------------------------------------------------------------------
    def oci(self, ctx: Context, *args: str, timeout: float | None = None) -> dict[str, Any]:
        """One `oci` call's JSON; throttling is temporary (the stage is retried)."""
        profile = oci_of(ctx).oci_profile
        argv = ["oci", *(["--profile", profile] if profile else []), *args]
        try:
            out = ctx.runner.run(argv, timeout=timeout).stdout
        except CommandFailed as err:
            if any(text in err.stderr_tail for text in THROTTLED):
                raise TemporaryError(f"oci is throttled: {err.stderr_tail[:200]}") from err
            raise StageFailed(self.name, f"oci {' '.join(args[:3])}", cause=err.message) from err
        try:
            found = json.loads(out) if out.strip() else {}
        except json.JSONDecodeError as err:
            raise StageFailed(
                self.name, f"read `oci {' '.join(args[:3])}`", cause=f"not JSON: {out[:200]!r}"
            ) from err
        return found if isinstance(found, dict) else {"data": found}

    def instances(self, ctx: Context) -> list[dict[str, Any]]:
        """Instances of this name that this profile launched and that are not going away."""
        settings, name = oci_of(ctx), ctx.profile.cluster.name
        listed = (
            self.oci(
                ctx,
                "compute",
                "instance",
                "list",
                "--compartment-id",
                settings.compartment_id,
                "--display-name",
                name,
                "--all",
            ).get("data")
            or []
        )
        return [
            i
            for i in listed
            if (i.get("freeform-tags") or {}).get(TAG) == ctx.profile.name
            and i.get("lifecycle-state") not in GONE
        ]

    def address(self, ctx: Context, instance_id: str) -> str:
        vnics = self.oci(ctx, "compute", "instance", "list-vnics", "--instance-id", instance_id)
        for vnic in vnics.get("data") or []:
            found = vnic.get("public-ip") or vnic.get("private-ip")
            if found:
                return str(found)
        raise StageFailed(
            self.name,
            "find the instance's address",
            cause=f"instance {instance_id} has no VNIC with an address yet",
            hint="is the subnet public (assign-public-ip)? see `oci compute instance list-vnics`",
        )

    # -- the server, as the SSH path sees it ------------------------------------------------
    def settings(self, ctx: Context) -> K3sSshCluster:
        settings = oci_of(ctx)
        host = self._address or settings.ssh.host
        if host is None:
            raise StageFailed(self.name, "find the instance", cause="no address known yet")
        target = SshTarget(
            host=host,
            user=settings.ssh.user,
            port=settings.ssh.port,
            identity_file=settings.ssh.identity_file,
            known_hosts=str(self.known_hosts(ctx)),
            # first contact with an instance this profile launched; a changed key is refused
            accept_new_host_key=True,
        )
        return K3sSshCluster(
            ssh=target,
            k3s_version=settings.k3s_version,
            install_script=settings.install_script,
            extra_args=settings.extra_args,
            api_port=settings.api_port,
        )

    def install_script(self, ctx: Context) -> tuple[ManifestSource | None, str, str]:
        settings = oci_of(ctx)
        return settings.install_script, settings.k3s_version, "cluster.k3s_oci.install_script"

    def known_hosts(self, ctx: Context) -> Path:
        return ctx.state_dir / "known_hosts"

    def exec_args(self, ctx: Context) -> list[str]:
        """What cloud-init installs with: the public address is unknown before the launch, so
        it is no SAN (the kubeconfig verifies ``kubernetes`` instead)."""
        settings = oci_of(ctx)
        args = [
            "server",
            *(["--disable=servicelb"] if ctx.profile.components.metallb.enabled else []),
        ]
        if settings.api_port != 6443:
            args.append(f"--https-listen-port={settings.api_port}")
        return [*args, *settings.extra_args]

    def preflight(self, ctx: Context) -> None:
        settings = oci_of(ctx)
        key = Path(settings.ssh.public_key_file or f"{settings.ssh.identity_file}.pub").expanduser()
        if settings.launch and settings.ssh.host is None and not key.is_file():
            raise InputError(
                f"cluster.k3s_oci.ssh.public_key_file: {key} does not exist (it is authorized "
                "on the instance at launch)",
                hint="point it at your SSH public key, or create one with `ssh-keygen -t ed25519`",
            )

    # -- plan -------------------------------------------------------------------------------
    def plan(self, ctx: Context) -> Iterator[Change]:
        settings, name = oci_of(ctx), ctx.profile.cluster.name
        found = self.instances(ctx)
        if len(found) > 1:
            ids = ", ".join(str(i.get("id")) for i in found)
            raise StageFailed(
                self.name,
                "find the instance",
                cause=f"{len(found)} instances named {name} carry this profile's tag: {ids}",
                hint="terminate the ones you do not want (`oci compute instance terminate`)",
            )
        if not found:
            if settings.ssh.host is not None:
                yield from self._server_plan(ctx)
            elif not settings.launch:
                yield Change(
                    f"write the user-data to {ctx.state_dir / USER_DATA} for a launch by hand",
                    self.write_user_data_for_hand,
                )
            else:
                yield Change(
                    f"launch OCI instance {name} ({settings.shape}, {settings.ocpus} OCPUs, "
                    f"{settings.memory_gbs} GB) whose cloud-init installs k3s "
                    f"{settings.k3s_version}",
                    self.launch,
                )
            return
        instance = found[0]
        state, ocid = str(instance.get("lifecycle-state")), str(instance.get("id"))
        if state in BOOTING:
            yield Change(
                f"wait for OCI instance {name} ({state}) to run", lambda c: self.boot(c, ocid)
            )
        elif state in STOPPED:
            yield Change(
                f"start OCI instance {name} ({state})", lambda c: self.start_instance(c, ocid)
            )
        else:
            self._address = self.address(ctx, ocid)
            if self._cloud_init(ctx) == "running":
                yield Change(
                    f"wait for cloud-init on {name} ({self._address}) to finish installing k3s",
                    lambda c: self.after_boot(c),
                )
                return
            yield from self._server_plan(ctx)

    def _server_plan(self, ctx: Context) -> Iterator[Change]:
        yield from super().plan(ctx)

    # -- changes ----------------------------------------------------------------------------
    def render(self, ctx: Context) -> Path:
        settings = oci_of(ctx)
        text = cloud_init.user_data(
            script=self._script(ctx),
            version=settings.k3s_version,
            exec_args=self.exec_args(ctx),
            api_port=settings.api_port,
            profile=ctx.profile.name,
        )
        path = ctx.state_dir / USER_DATA
        secrets.write_private(path, text.encode())
        return path

    def write_user_data_for_hand(self, ctx: Context) -> None:
        path = self.render(ctx)
        raise StageFailed(
            self.name,
            "launch the instance",
            cause=f"cluster.k3s_oci.launch is false: the user-data is in {path}",
            hint="launch an instance with `oci compute instance launch ... --user-data-file "
            f"{path}`, then run again with --set cluster.k3s_oci.ssh.host=<its address>",
        )

    def launch(self, ctx: Context) -> None:
        settings, name = oci_of(ctx), ctx.profile.cluster.name
        user_data = self.render(ctx)
        key = Path(settings.ssh.public_key_file or f"{settings.ssh.identity_file}.pub").expanduser()
        shape = json.dumps({"ocpus": settings.ocpus, "memoryInGBs": settings.memory_gbs})
        made = self.oci(
            ctx,
            "compute",
            "instance",
            "launch",
            "--compartment-id",
            settings.compartment_id,
            "--availability-domain",
            settings.availability_domain,
            "--shape",
            settings.shape,
            "--shape-config",
            shape,
            "--image-id",
            settings.image_id,
            "--subnet-id",
            settings.subnet_id,
            "--display-name",
            name,
            "--assign-public-ip",
            "true",
            "--ssh-authorized-keys-file",
            str(key),
            "--user-data-file",
            str(user_data),
            "--freeform-tags",
            json.dumps({TAG: ctx.profile.name}),
            "--wait-for-state",
            "RUNNING",
            timeout=float(ctx.profile.timeouts.stage_seconds),
        )
        ocid = str((made.get("data") or {}).get("id"))
        ctx.log.info("oci.launched", instance=ocid, name=name)
        self._address = self.address(ctx, ocid)
        self.after_boot(ctx)

    def boot(self, ctx: Context, ocid: str) -> None:
        self.oci(
            ctx,
            "compute",
            "instance",
            "get",
            "--instance-id",
            ocid,
            "--wait-for-state",
            "RUNNING",
            timeout=float(ctx.profile.timeouts.stage_seconds),
        )
        self._address = self.address(ctx, ocid)
        self.after_boot(ctx)

    def start_instance(self, ctx: Context, ocid: str) -> None:
        self.oci(
            ctx,
            "compute",
            "instance",
            "action",
            "--instance-id",
            ocid,
            "--action",
            "START",
            "--wait-for-state",
            "RUNNING",
            timeout=float(ctx.profile.timeouts.stage_seconds),
        )
        self._address = self.address(ctx, ocid)
        self.after_boot(ctx)

    def after_boot(self, ctx: Context) -> None:
        """SSH answers, cloud-init has finished (its k3s install with it), the kubeconfig."""

        def answered() -> Verdict:
            try:
                state = self._cloud_init(ctx)
            except (CommandFailed, StageFailed) as err:
                return Verdict.waiting(f"SSH to the instance: {err}")
            if state == "error":
                return Verdict.broken(
                    "cloud-init failed on the instance: see "
                    "`cloud-init status --long` and /var/log/cloud-init-output.log there"
                )
            return Verdict.passed() if state == "done" else Verdict.waiting("cloud-init is running")

        wait.until(
            answered,
            what="the instance's SSH and cloud-init",
            deadline=float(ctx.profile.timeouts.stage_seconds),
            clock=ctx.clock,
            interval=1.0,
            max_interval=5.0,
        )
        self.sync_kubeconfig(ctx)

    def _cloud_init(self, ctx: Context) -> str:
        """running, done or error, from `cloud-init status` on the instance."""
        shown = self.host(ctx).as_root(["cloud-init", "status"], check=False).stdout
        for word in ("running", "error", "done"):
            if f"status: {word}" in shown:
                return word
        return "done" if "disabled" in shown else "running"

    # -- the kubeconfig ---------------------------------------------------------------------
    def desired_kubeconfig(self, ctx: Context) -> str:
        doc = kubeconfig.parse(super().desired_kubeconfig(ctx), source="k3s.yaml")
        for entry in doc.get("clusters") or []:
            entry.setdefault("cluster", {})["tls-server-name"] = cloud_init.TLS_SERVER_NAME
        return kubeconfig.dump(doc)

    # -- down -------------------------------------------------------------------------------
    def down(self, ctx: Context) -> list[str]:
        """Terminate only an instance this profile launched (tagged), and only with --yes."""
        name, path = ctx.profile.cluster.name, kubeconfig_path(ctx)
        found = self.instances(ctx)
        if not found:
            path.unlink(missing_ok=True)
            return [f"no OCI instance {name} launched by this profile; nothing to terminate"]
        ids = ", ".join(str(i.get("id")) for i in found)
        if not ctx.options.get("yes"):
            return [
                f"OCI instance {name} ({ids}) was launched by this profile; terminating it "
                "destroys its cluster and its disk: run `invoke down --yes` to do it"
            ]
        for instance in found:
            self.oci(
                ctx,
                "compute",
                "instance",
                "terminate",
                "--instance-id",
                str(instance["id"]),
                "--force",
                "--wait-for-state",
                "TERMINATED",
                timeout=float(ctx.profile.timeouts.stage_seconds),
            )
        path.unlink(missing_ok=True)
        return [f"terminated OCI instance {name} ({ids}); removed {path}"]
