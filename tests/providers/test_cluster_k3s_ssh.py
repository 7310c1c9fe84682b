"""k3s over SSH (the prodesk profile) against real sshd hosts on 127.0.0.1, each in a mount
namespace of its own, logged into as a non-root user with sudo. The install script is a
stand-in that records its environment and starts a real local control plane, so the
kubeconfig clusterboot fetches points at a real API server."""

from __future__ import annotations

import hashlib
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.commands import app
from tests.providers.fakeenv import FakeMachine, Run
from tests.providers.k3shost import (
    SUDO_PASSWORD,
    SshHost,
    free_port,
    install_script,
    keygen,
    start_host,
)

pytestmark = pytest.mark.timeout(600)
VERSION, NEWER = "v1.33.5+k3s1", "v1.34.1+k3s1"


def profile(machine: FakeMachine, name: str, server: SshHost, **k3s: Any) -> Path:
    settings = {
        "ssh": server.target(machine.root),
        "k3s_version": VERSION,
        "api_port": k3s.pop("api_port"),
        "install_script": install_script(machine.root, server=server),
        **k3s,
    }
    return machine.profile(name, "k3s-ssh", k3s_ssh=settings)


def invoke(command: str, path: Path, *sets: str, **flags: bool) -> Run:
    out, err = io.StringIO(), io.StringIO()
    inv = app.Invocation(profile=str(path), sets=sets, log_format="json", out=out, err=err, **flags)
    code = {"up": app.up, "plan": app.plan, "down": app.down}[command](inv)
    return Run(code, out.getvalue(), err.getvalue())


def stage(machine: FakeMachine, name: str) -> dict[str, Any]:
    return machine.stage(name, "cluster_k3s_ssh")


@pytest.fixture
def server(cluster_machine: FakeMachine, hosts: list[SshHost], tmp_path: Path) -> SshHost:
    hosts.append(start_host(tmp_path / "prodesk", sudo="nopasswd"))
    return hosts[-1]


def test_install_then_a_no_op_an_upgrade_a_drift_refused_and_down_only_when_confirmed(
    cluster_machine: FakeMachine, server: SshHost
) -> None:
    machine, port = cluster_machine, free_api_port()
    path = profile(machine, "prodesk", server, api_port=port)

    first = invoke("up", path)
    assert first.code == 0, first.text[-3000:]
    [install] = server.installs()
    assert install["INSTALL_K3S_VERSION"] == VERSION
    assert install["INSTALL_K3S_EXEC"] == f"server --tls-san=127.0.0.1 --https-listen-port={port}"
    assert install["INSTALL_K3S_SKIP_DOWNLOAD"] is None
    assert install["user"] == 0  # through sudo: the SSH user is ops
    config_file = machine.root / "state-prodesk" / "kubeconfig"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    doc = yaml.safe_load(config_file.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["prodesk"]
    assert doc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    assert not (machine.home / ".kube" / "config").exists()  # the user's own is never touched
    assert "1 nodes Ready" in stage(machine, "prodesk")["why"]
    marker = json.loads(
        (server.dir("/var/lib/rancher") / "k3s" / "clusterboot-install.json").read_text()
    )
    assert marker["installed_by"] == "clusterboot"
    assert marker["version"] == VERSION

    again = invoke("up", path)
    assert again.code == 0, again.text[-2000:]
    assert stage(machine, "prodesk")["status"] == "unchanged"
    assert len(server.installs()) == 1

    upgraded = invoke("up", path, f"cluster.k3s_ssh.k3s_version={NEWER}")
    assert upgraded.code == 0, upgraded.text[-2000:]
    assert stage(machine, "prodesk")["changes"][0].startswith(f"upgrade k3s {VERSION} to {NEWER}")
    assert [i["INSTALL_K3S_VERSION"] for i in server.installs()] == [VERSION, NEWER]

    drifted = (
        "cluster.k3s_ssh.extra_args=[--disable=traefik]",
        f"cluster.k3s_ssh.k3s_version={NEWER}",
    )
    refused = invoke("up", path, *drifted)
    assert refused.code == 1
    why = stage(machine, "prodesk")["why"]
    assert "configuration drift: +--disable=traefik" in why
    assert "invoke up --recreate" in refused.text
    assert len(server.installs()) == 2

    recreated = invoke("up", path, *drifted, recreate=True)
    assert recreated.code == 0, recreated.text[-2000:]
    assert server.installs()[-1]["INSTALL_K3S_EXEC"].endswith("--disable=traefik")

    kept = invoke("down", path)
    assert kept.code == 0
    assert "invoke down --yes" in kept.out
    assert (server.dir("/usr/local/bin") / "k3s").is_file()
    gone = invoke("down", path, yes=True)
    assert gone.code == 0, gone.text
    assert "uninstalled k3s on ops@127.0.0.1" in gone.out
    assert not (server.dir("/usr/local/bin") / "k3s").exists()
    assert not config_file.exists()
    assert {"uninstalled": "server"} in server.installs()


def test_sudo_that_asks_a_password_is_refused_clearly_unless_one_is_given_and_it_never_shows(
    cluster_machine: FakeMachine,
    hosts: list[SshHost],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = cluster_machine
    hosts.append(start_host(tmp_path / "locked", sudo="password"))
    server, port = hosts[-1], free_api_port()
    path = profile(machine, "locked", server, api_port=port)
    refused = invoke("up", path)
    assert refused.code == 2
    assert "sudo on ops@127.0.0.1 needs a password and none was given" in refused.err
    assert "cluster.k3s_ssh.sudo_password" in refused.err
    assert server.installs() == []

    monkeypatch.setenv("PRODESK_SUDO", SUDO_PASSWORD)
    given = invoke("up", path, "cluster.k3s_ssh.sudo_password={env: PRODESK_SUDO}")
    assert given.code == 0, given.text[-3000:]
    assert len(server.installs()) == 1
    report = (machine.root / "state-locked" / "reports" / "last-up.json").read_text()
    for text in (given.out, given.err, report, refused.err):
        assert SUDO_PASSWORD not in text
    assert (
        invoke("down", path, "cluster.k3s_ssh.sudo_password={env: PRODESK_SUDO}", yes=True).code
        == 0
    )


def test_an_agent_joins_with_the_node_token_which_never_shows(
    cluster_machine: FakeMachine, hosts: list[SshHost], tmp_path: Path
) -> None:
    machine = cluster_machine
    hosts.append(start_host(tmp_path / "server", sudo="nopasswd"))
    server = hosts[-1]
    hosts.append(start_host(tmp_path / "agent", sudo="nopasswd", node="agent-1"))
    agent, port = hosts[-1], free_api_port()
    path = profile(machine, "joined", server, api_port=port, agents=[agent.target(machine.root)])
    done = invoke("up", path)
    assert done.code == 0, done.text[-3000:]
    changes = stage(machine, "joined")["changes"]
    assert changes[1].startswith("join agent ops@127.0.0.1 to the server"), changes
    token_file = server.dir("/var/lib/rancher") / "k3s" / "server" / "node-token"
    token = token_file.read_text().strip()
    [joined] = agent.installs()
    assert joined["K3S_URL"] == f"https://127.0.0.1:{port}"
    assert joined["K3S_TOKEN_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert "2 nodes Ready" in stage(machine, "joined")["why"]
    again = invoke("up", path)
    assert again.code == 0, again.text[-2000:]
    assert stage(machine, "joined")["status"] == "unchanged"
    report = (machine.root / "state-joined" / "reports" / "last-up.json").read_text()
    for text in (done.text, again.text, report):
        assert token not in text
    assert invoke("down", path, yes=True).code == 0
    assert {"uninstalled": "agent"} in agent.installs()


def test_host_keys_unknown_refused_accepted_once_when_asked_and_a_changed_one_always_refused(
    cluster_machine: FakeMachine, server: SshHost
) -> None:
    machine, port = cluster_machine, free_api_port()
    known = machine.root / "fresh_known_hosts"
    known.write_text("")
    path = profile(machine, "keys", server, api_port=port)
    unknown = invoke("plan", path, f"cluster.k3s_ssh.ssh.known_hosts={known}")
    assert "cluster_k3s_ssh  cannot know yet" in unknown.out
    assert "cannot ask ops@127.0.0.1" in unknown.out
    refused = invoke("up", path, f"cluster.k3s_ssh.ssh.known_hosts={known}")
    assert refused.code == 2
    assert f"the host key of 127.0.0.1 is not in {known}" in refused.err
    accepted = invoke(
        "plan",
        path,
        f"cluster.k3s_ssh.ssh.known_hosts={known}",
        "cluster.k3s_ssh.ssh.accept_new_host_key=true",
    )
    assert accepted.code == 0, accepted.text[-2000:]
    assert server.host_key.split()[1] in known.read_text()
    kind, key = keygen(machine.root / "other_ed25519").split()[:2]
    known.write_text(f"[127.0.0.1]:{server.port} {kind} {key}\n")
    changed = invoke(
        "up",
        path,
        f"cluster.k3s_ssh.ssh.known_hosts={known}",
        "cluster.k3s_ssh.ssh.accept_new_host_key=true",
    )
    assert changed.code == 2
    assert "host key of 127.0.0.1 changed" in changed.err
    assert server.installs() == []


def test_an_air_gapped_binary_whose_checksum_differs_is_refused_before_the_host_is_touched(
    cluster_machine: FakeMachine, server: SshHost
) -> None:
    machine, port = cluster_machine, free_api_port()
    binary = machine.root / "k3s"
    binary.write_text("#!/bin/sh\necho 'k3s version v1.33.5+k3s1 (airgap)'\n")
    path = profile(
        machine,
        "airgap",
        server,
        api_port=port,
        airgap={"binary": {"url": f"file://{binary}", "sha256": "0" * 64}},
    )
    refused = invoke("up", path)
    assert refused.code != 0
    assert "sha256" in refused.text
    assert server.installs() == []
    assert not (server.dir("/usr/local/bin") / "k3s").exists()
    right = hashlib.sha256(binary.read_bytes()).hexdigest()
    ok = invoke("up", path, f"cluster.k3s_ssh.airgap.binary.sha256={right}")
    assert ok.code == 0, ok.text[-3000:]
    [install] = server.installs()
    assert install["INSTALL_K3S_SKIP_DOWNLOAD"] == "true"
    assert (server.dir("/usr/local/bin") / "k3s").read_bytes() == binary.read_bytes()
    assert invoke("down", path, yes=True).code == 0


def free_api_port() -> int:
    return free_port()


@pytest.mark.parametrize("user", ["root", "ops"])
def test_a_host_that_does_not_answer_is_bad_input_before_anything_whatever_the_user(
    cluster_machine: FakeMachine, tmp_path: Path, user: str
) -> None:
    machine = cluster_machine
    keygen(tmp_path / "id")
    (tmp_path / "known_hosts").write_text("")
    script = tmp_path / "install.sh"
    script.write_text("#!/bin/sh\nexit 1\n")
    path = machine.profile(f"nohost-{user}", "k3s-ssh", k3s_ssh={
        "ssh": {"host": "127.0.0.1", "port": free_port(), "user": user,
                "identity_file": str(tmp_path / "id"),
                "known_hosts": str(tmp_path / "known_hosts")},
        "k3s_version": VERSION, "api_port": free_api_port(),
        "install_script": {"url": f"file://{script}",
                           "sha256": hashlib.sha256(script.read_bytes()).hexdigest()},
    })
    refused = invoke("up", path)
    assert refused.code == 2, refused.text[-2000:]
    assert f"cannot reach {user}@127.0.0.1" in refused.err
    # said in words (ssh's own reason), not as the script it was to run
    assert "Connection refused" in refused.err
    assert "command -v" not in refused.err
    assert "exited with 255" not in refused.err
    assert not (machine.root / f"state-nohost-{user}" / "reports").exists()
