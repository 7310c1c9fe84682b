"""What k3s on the server should be, what a probe found there, and what to do about the
difference. Pure: the profile and the probe's text in, a decision out.

clusterboot records every install it does in a marker on the host (``MARKER``): the version
and the exact ``INSTALL_K3S_EXEC`` arguments. A k3s without that marker was installed by
someone else: clusterboot uses it, but never upgrades, reconfigures or uninstalls it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from bootstrap.profile.schema import K3sSshCluster

K3S_YAML = "/etc/rancher/k3s/k3s.yaml"
MARKER = "/var/lib/rancher/k3s/clusterboot-install.json"
SERVER_DATA = "/var/lib/rancher/k3s/server"
"""Holds ``node-token``, the secret agents join with."""
UNINSTALL = "/usr/local/bin/k3s-uninstall.sh"
AGENT_UNINSTALL = "/usr/local/bin/k3s-agent-uninstall.sh"
REMOTE_SCRIPT = "/var/lib/rancher/clusterboot-k3s-install.sh"
"""In a directory only root writes to: a world-writable one would let another user plant a
link that root then writes through."""
VERSION = re.compile(r"k3s version (v\S+)")

PROBE = (
    "if command -v k3s >/dev/null 2>&1; then "
    "printf 'binary=%s\\n' \"$(command -v k3s)\"; "
    "k3s --version 2>/dev/null | head -n 1; fi; "
    f"if [ -r {MARKER} ]; then printf 'marker=%s\\n' \"$(tr -d '\\n' < {MARKER})\"; fi; "
    f"if [ -e {K3S_YAML} ]; then echo kubeconfig=present; fi"
)
"""One shell round-trip: the k3s binary and its version, the marker, the kubeconfig."""


@dataclass(frozen=True)
class Installed:
    """What the probe found on the host."""

    binary: str | None = None
    version: str | None = None
    marker: dict[str, object] | None = None
    kubeconfig: bool = False

    @property
    def ours(self) -> bool:
        return self.marker is not None and self.marker.get("installed_by") == "clusterboot"

    @property
    def exec_args(self) -> list[str]:
        args = (self.marker or {}).get("exec") or []
        return [str(a) for a in args] if isinstance(args, list) else []


def parse_probe(text: str) -> Installed:
    binary = version = None
    marker: dict[str, object] | None = None
    kubeconfig = False
    for line in text.splitlines():
        if line.startswith("binary="):
            binary = line.removeprefix("binary=").strip() or None
        elif (found := VERSION.search(line)) is not None:
            version = found.group(1)
        elif line.startswith("marker="):
            try:
                loaded = json.loads(line.removeprefix("marker="))
            except json.JSONDecodeError:
                loaded = None
            marker = loaded if isinstance(loaded, dict) else {"unreadable": True}
        elif line.strip() == "kubeconfig=present":
            kubeconfig = True
    return Installed(binary, version, marker, kubeconfig)


def server_exec(settings: K3sSshCluster, *, metallb: bool) -> list[str]:
    """``INSTALL_K3S_EXEC`` for the server: servicelb off when MetalLB answers LoadBalancer
    Services (pitfall 18), a SAN for every address a client uses, the API port, the extras."""
    args = ["server"]
    if metallb and "--disable=servicelb" not in settings.extra_args:
        args.append("--disable=servicelb")
    sans = dict.fromkeys([settings.ssh.host, *settings.tls_san])
    args += [f"--tls-san={san}" for san in sans]
    if settings.api_port != 6443:
        args.append(f"--https-listen-port={settings.api_port}")
    args += list(settings.extra_args)
    return args


def install_env(
    version: str, exec_args: list[str], *, skip_download: bool = False
) -> dict[str, str]:
    env = {"INSTALL_K3S_VERSION": version, "INSTALL_K3S_EXEC": shlex.join(exec_args)}
    if skip_download:
        env["INSTALL_K3S_SKIP_DOWNLOAD"] = "true"
    return env


def marker(version: str, exec_args: list[str], profile: str) -> str:
    return json.dumps(
        {"installed_by": "clusterboot", "profile": profile, "version": version, "exec": exec_args},
        sort_keys=True,
    )


Action = Literal["install", "upgrade", "reconfigure", "none", "foreign"]


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str


def decide(found: Installed, *, version: str, exec_args: list[str], recreate: bool) -> Decision:
    """Install, upgrade, reinstall with a new configuration (only with ``recreate``: it
    restarts the server's cluster), nothing, or use a k3s someone else installed."""
    if found.binary is None:
        return Decision("install", f"k3s is not installed: install {version}")
    if not found.ours:
        why = f"k3s {found.version or '(version unknown)'} was not installed by clusterboot"
        if found.version != version:
            why += f" (the profile pins {version}: upgrade it yourself, or remove it)"
        return Decision("foreign", why + "; it is used as it is and never uninstalled")
    if found.exec_args != exec_args:
        drift = describe_drift(found.exec_args, exec_args)
        if not recreate:
            return Decision("reconfigure", f"configuration drift: {drift}")
        return Decision("reconfigure", f"reinstall with the profile's configuration ({drift})")
    if found.version != version:
        return Decision("upgrade", f"upgrade k3s {found.version} to {version}")
    return Decision("none", f"k3s {version} installed by clusterboot, as configured")


def describe_drift(have: list[str], want: list[str]) -> str:
    gone = [a for a in have if a not in want]
    new = [a for a in want if a not in have]
    parts = [f"+{a}" for a in new] + [f"-{a}" for a in gone]
    return ", ".join(parts) or "argument order"
