"""The external tools clusterboot may call: how to ask each for its version and how to install
it. ``require`` runs before any side effect; ``doctor`` prints ``render_table(check(...))``.
Which tools a profile needs is ``bootstrap.commands.preflight.tools_for``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootstrap.errors import ClusterbootError, MissingTool

if TYPE_CHECKING:
    from bootstrap.processes.runner import Runner

PROBE_SECONDS = 10.0
_ANY_VERSION = r"v?\d+\.\d+(?:\.\d+)?[-+\w.]*"


@dataclass(frozen=True)
class Tool:
    name: str
    version_argv: tuple[str, ...]
    version_pattern: str
    """A regex over stdout+stderr; its first group is the version."""
    install: str


@dataclass(frozen=True)
class ToolNeed:
    name: str
    needed_for: str
    optional: bool = False
    """Shown by ``doctor`` but not required by ``up`` (e.g. go, only to build missing binaries)."""


@dataclass(frozen=True)
class ToolStatus:
    name: str
    found_path: str | None
    version: str | None
    needed_for: str
    install_hint: str
    ok: bool


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("kubectl", ("kubectl", "version", "--client", "-o", "json"),
             r'"gitVersion":\s*"([^"]+)"',
             "apt-get install kubectl (from pkgs.k8s.io) or brew install kubectl; "
             "see https://kubernetes.io/docs/tasks/tools/"),
        Tool("helm", ("helm", "version", "--short"), rf"({_ANY_VERSION})",
             "go install helm.sh/helm/v3/cmd/helm@v3.21.4, or brew install helm"),
        Tool("kind", ("kind", "version"), rf"kind ({_ANY_VERSION})",
             "go install sigs.k8s.io/kind@v0.32.0, or brew install kind"),
        Tool("k3d", ("k3d", "version"), rf"k3d version ({_ANY_VERSION})",
             "go install github.com/k3d-io/k3d/v5@v5.9.0, or brew install k3d"),
        Tool("ssh", ("ssh", "-V"), r"OpenSSH_([\w.]+)",
             "apt-get install openssh-client (macOS ships it)"),
        Tool("eksctl", ("eksctl", "version"), rf"({_ANY_VERSION})",
             "brew install eksctl, or the release binary: https://eksctl.io/installation/"),
        Tool("aws", ("aws", "--version"), r"aws-cli/(\S+)",
             "pip install awscli, or AWS CLI v2: "
             "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"),
        Tool("oci", ("oci", "--version"), rf"({_ANY_VERSION})",
             "pip install oci-cli (https://docs.oracle.com/iaas/Content/API/SDKDocs/cliinstall.htm)"),
        Tool("git", ("git", "--version"), rf"git version ({_ANY_VERSION})",
             "apt-get install git, or brew install git"),
        Tool("docker", ("docker", "--version"), rf"Docker version ({_ANY_VERSION})",
             "apt-get install docker.io, or Docker Desktop: https://docs.docker.com/get-docker/"),
        Tool("go", ("go", "version"), r"go version go(\S+)",
             "Go >= 1.26 from https://go.dev/dl (Debian's golang-go is older)"),
        Tool("openssl", ("openssl", "version"), rf"OpenSSL ({_ANY_VERSION})",
             "apt-get install openssl, or brew install openssl"),
        Tool("redis-server", ("redis-server", "--version"), r"v=(\S+)",
             "apt-get install redis-server, or brew install redis"),
        Tool("unshare", ("unshare", "--version"), r"util-linux ([\d.]+)",
             "apt-get install util-linux (Linux only)"),
    )
}


def install_hint(name: str) -> str:
    """How to install ``name``; a generic sentence for a tool not in the table."""
    tool = TOOLS.get(name)
    return tool.install if tool else f"install {name} and make sure it is on PATH"


def check(
    runner: Runner, needs: Sequence[ToolNeed], *, probe_timeout: float = PROBE_SECONDS
) -> list[ToolStatus]:
    """Look up every needed tool and ask its version. A probe that fails still counts as found
    (version "unknown"): the tool is there, it may just dislike the question."""
    return [_status(runner, need, probe_timeout) for need in needs]


def require(runner: Runner, needs: Sequence[ToolNeed]) -> None:
    """Raise MissingTool for the first required tool that is not on PATH."""
    for need in needs:
        if not need.optional and runner.which(need.name) is None:
            hint = install_hint(need.name)
            raise MissingTool(need.name, needed_for=need.needed_for, install=hint)


def render_table(statuses: Sequence[ToolStatus]) -> str:
    """A plain aligned table for ``invoke doctor``; a missing tool's row says how to install it."""
    rows = [("", "TOOL", "VERSION", "NEEDED FOR", "PATH / HOW TO INSTALL")]
    for s in statuses:
        mark = "✓" if s.found_path else ("-" if s.ok else "✗")
        rows.append((mark, s.name, s.version or "missing", s.needed_for,
                     s.found_path or f"install: {s.install_hint}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  "
             + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _status(runner: Runner, need: ToolNeed, probe_timeout: float) -> ToolStatus:
    path = runner.which(need.name)
    hint = install_hint(need.name)
    if path is None:
        return ToolStatus(need.name, None, None, need.needed_for, hint, ok=need.optional)
    version = _version(runner, need.name, probe_timeout)
    return ToolStatus(need.name, path, version, need.needed_for, hint, ok=True)


def _version(runner: Runner, name: str, timeout: float) -> str:
    tool = TOOLS.get(name)
    if tool is None:
        return "unknown"
    try:
        result = runner.run(tool.version_argv, timeout=timeout, check=False)
    except ClusterbootError:
        return "unknown"
    found = re.search(tool.version_pattern, result.stdout + "\n" + result.stderr)
    return found.group(1) if found else "unknown"
