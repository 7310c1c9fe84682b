"""The secrets sweep in the providers tier (tests/secret_sweep.py): canaries pushed through
real processes, then every output and every file the commands wrote scanned for them.

- k3s over SSH (real sshd hosts, tests/providers/k3shost.py): the sudo password, the node token
  an agent joins with, the SSH client key, the fetched kubeconfig's admin key and repository
  credentials go through `ci` (whose `up` fails at the root app: no Argo CD there), so a
  diagnostics bundle with the cluster's state is written; then `up --junit` with the console
  log, `plan`, `status`, `report --out` and `down --yes`. The server's sudo asks for the
  password, the agent's does not (before, the password reached the agent's commands on stdin:
  the join failed, and a password of base64 letters would have been decoded into the upload).
- a fake `k3d` that prints the profile's secrets, a GitHub token, a JWT and an environment
  credential on stderr and fails: through `ci` (its teardown fails the same way), `plan`,
  `status` and `up --junit`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.commands import app, ci, timeline
from tests import secret_sweep as sweep
from tests.providers.fakeenv import FakeMachine
from tests.providers.k3shost import SUDO_PASSWORD, SshHost, free_port, install_script, start_host

pytestmark = pytest.mark.timeout(600)


class Runs:
    """Calls into the commands with one profile, every output kept for the sweep."""

    def __init__(self, profile: Path, found: sweep.Sweep) -> None:
        self.profile = profile
        self.found = found

    def __call__(
        self,
        name: str,
        body: Callable[..., int],
        *args: Any,
        log_format: str = "json",
        yes: bool = False,
        **kw: Any,
    ) -> int:
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(
            profile=str(self.profile), log_format=log_format, out=out, err=err, yes=yes
        )
        code = body(inv, *args, **kw)
        self.found.output(f"{name} stdout", out.getvalue())
        self.found.output(f"{name} stderr", err.getvalue())
        return code


def credentials(machine: FakeMachine, monkeypatch: pytest.MonkeyPatch) -> list[sweep.Canary]:
    """Repository credentials by each kind of reference: `${VAR}`, `{env}`, `{file}`."""
    user, token, key = sweep.value("repo-user"), sweep.github_token(), sweep.private_key("repo")
    monkeypatch.setenv("SWEEP_REPO_USER", user)
    monkeypatch.setenv("SWEEP_REPO_TOKEN", token)
    key_file = machine.root / "repo_key"
    key_file.write_text(key)
    key_file.chmod(0o600)
    return [
        sweep.Canary("repository username (${VAR})", user),
        sweep.Canary("repository password ({env}, ghp_ shape)", token),
        sweep.Canary("repository SSH key ({file})", key, belongs=(str(key_file),)),
    ]


def with_root_app(path: Path, **cluster: Any) -> Path:
    """The profile at ``path`` with a private root app (and ``cluster`` settings merged)."""
    body = yaml.safe_load(path.read_text())
    body["cluster"] = {**body["cluster"], **cluster}
    body["root_app"] = {  # explicitly on: the platform is off, the sweep needs the root
        "enabled": True,
        "name": "root",
        "repo_url": "https://git.example.invalid/platform.git",
        "credentials": {
            "username": "${SWEEP_REPO_USER}",
            "password": {"env": "SWEEP_REPO_TOKEN"},
            "ssh_private_key": {"file": str(path.parent / "repo_key")},
        },
    }
    path.write_text(yaml.safe_dump(body))
    return path


def test_k3s_over_ssh_secrets_appear_only_in_the_0600_files_they_belong_in(
    cluster_machine: FakeMachine,
    hosts: list[SshHost],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = cluster_machine
    hosts.append(start_host(tmp_path / "server", sudo="password"))
    server = hosts[-1]
    hosts.append(start_host(tmp_path / "agent", sudo="nopasswd", node="agent-1"))
    agent = hosts[-1]
    canaries = credentials(machine, monkeypatch)
    monkeypatch.setenv("SWEEP_SUDO", SUDO_PASSWORD)
    settings = {
        "ssh": server.target(machine.root),
        "api_port": free_port(),
        "install_script": install_script(machine.root, server=server),
        "agents": [agent.target(machine.root)],
        "sudo_password": {"env": "SWEEP_SUDO"},
    }
    profile = with_root_app(machine.profile("sweep", "k3s-ssh", k3s_ssh=settings))
    state = machine.root / "state-sweep"
    junit, html = machine.root / "junit.xml", machine.root / "timeline.html"
    found = sweep.Sweep(canaries, roots=[state, machine.home, junit, html])
    run = Runs(profile, found)

    assert run("ci", ci.ci, ["true"], junit_path=junit) == 1
    assert run("up", app.up, log_format="console", junit_path=junit) == 1
    run("plan", app.plan)
    run("status", app.status)
    timeline.write(state / "reports" / "last-up.json", html)

    token_file = server.dir("/var/lib/rancher") / "k3s" / "server" / "node-token"
    kubeconfig = yaml.safe_load((state / "kubeconfig").read_text())
    found.canaries += [
        sweep.Canary("sudo password ({env})", SUDO_PASSWORD),
        sweep.Canary("k3s node token", token_file.read_text().strip()),
        sweep.Canary("SSH client key", server.client_key.read_text()),
        sweep.Canary(
            "the k3s admin client key",
            kubeconfig["users"][0]["user"]["client-key-data"],
            belongs=(f"{state}/kubeconfig",),
        ),
    ]
    # The paths were really taken: the agent joined with the token, the root app failed
    # (no Argo CD), the bundle holds the cluster's nodes, the kubeconfig its key.
    assert [i for i in agent.installs() if "K3S_TOKEN_sha256" in i], agent.installs()
    [bundle] = sorted((state / "reports").glob("ci-*-diagnostics.tar.gz"))
    assert "2 nodes Ready" in found.outputs["up stderr"], found.outputs["up stderr"][-2000:]
    assert "failed: root_app" in found.outputs["ci stdout"]
    leaks = found.leaks()
    assert not leaks, sweep.report(leaks)
    assert {f.canary for f in found.findings()} == {"the k3s admin client key"}
    assert bundle in [Path(p) for p in found.scanned]
    down = run("down", app.down, yes=True)
    assert down == 0, found.outputs["down stderr"][-2000:]
    leaks = found.leaks()
    assert not leaks, sweep.report(leaks)


def test_a_tool_that_prints_secrets_on_stderr_and_fails_shows_them_masked_everywhere(
    machine: FakeMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    canaries = credentials(machine, monkeypatch)
    env_token, jwt = sweep.value("env-github"), sweep.jwt()
    monkeypatch.setenv("GITHUB_TOKEN", env_token)
    canaries += [
        sweep.Canary("GITHUB_TOKEN in the environment", env_token),
        sweep.Canary("a JWT the tool printed", jwt),
    ]
    user, token, key = (c.secret for c in canaries[:3])
    said = (
        f"FATA[0001] registry login as {user}:{token} refused; key {key.splitlines()[1]}; "
        f"bearer {jwt}; GITHUB_TOKEN={env_token}"
    )
    monkeypatch.setenv("FAKE_FAIL", "k3d cluster list")
    monkeypatch.setenv("FAKE_FAIL_STDERR", said)
    profile = with_root_app(machine.profile("leaky", "k3d", k3d={"servers": 1, "agents": 0}))
    state = machine.root / "state-leaky"
    junit = machine.root / "junit.xml"
    found = sweep.Sweep(canaries, roots=[state, machine.home, junit])
    run = Runs(profile, found)

    assert run("ci", ci.ci, ["true"], junit_path=junit) == 1
    run("plan", app.plan)
    run("status", app.status)
    assert run("up", app.up, log_format="console", junit_path=junit) == 1

    # The tool's stderr reached every output, masked.
    assert "FATA[0001] registry login as ***:*** refused" in found.outputs["ci stdout"]
    assert "teardown failed" in found.outputs["ci stderr"]
    assert "registry login" in found.outputs["plan stdout"]
    assert list((state / "reports").glob("ci-*-diagnostics.tar.gz"))
    leaks = found.leaks()
    assert not leaks, sweep.report(leaks)
