"""SshRunner against a real sshd on 127.0.0.1 (a host key and a client key made per module):
remote commands, exit codes, host key checking, unreachable hosts, file copies, redaction."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bootstrap import secrets, wait
from bootstrap.errors import CommandFailed
from bootstrap.processes import runner
from bootstrap.processes.ssh import SshRunner
from bootstrap.profile.schema import SshTarget
from bootstrap.stage import Verdict

SSHD = Path("/usr/sbin/sshd")
needs_ssh_client = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("ssh-keygen") is None,
    reason="the ssh client is not installed (apt-get install openssh-client)",
)
pytestmark = needs_ssh_client


@dataclass(frozen=True)
class Sshd:
    port: int
    host_public_key: str
    client_key: Path
    home: Path

    def target(self, **changes: Any) -> SshTarget:
        fields = {"host": "127.0.0.1", "port": self.port, "user": getpass.getuser(),
                  "identity_file": str(self.client_key), **changes}
        return SshTarget.model_validate(fields)

    def trusting_known_hosts(self, directory: Path) -> Path:
        path = directory / "known_hosts"
        path.write_text(f"[127.0.0.1]:{self.port} {self.host_public_key}\n")
        return path

    def runner(self, directory: Path, **changes: Any) -> SshRunner:
        known = self.trusting_known_hosts(directory)
        return SshRunner(self.target(**changes), runner=runner.LocalRunner(timeout=60),
                         known_hosts=known)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not SSHD.is_file():
        pytest.skip("no sshd: apt-get install openssh-server to run the SSH provider tests")
    if os.geteuid() != 0:
        pytest.skip("the sshd fixture runs sshd as root (privilege separation needs it)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    home = tmp_path_factory.mktemp("sshd")
    host_key = keygen(home / "host_ed25519")
    keygen(home / "client_ed25519")
    (home / "authorized_keys").write_text((home / "client_ed25519.pub").read_text())
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {home / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPidFile {home / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    with (home / "sshd.log").open("w") as log:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=log)

    def listening() -> Verdict:
        if proc.poll() is not None:
            return Verdict.broken(f"sshd exited: {(home / 'sshd.log').read_text()}")
        return Verdict.passed() if accepts_connections(port) else Verdict.waiting("sshd starting")

    try:
        wait.until(listening, what="sshd", deadline=15, clock=wait.RealClock(), interval=0.02)
        yield Sshd(port=port, host_public_key=host_key, client_key=home / "client_ed25519",
                   home=home)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    secrets.forget_all()
    yield
    secrets.forget_all()


def test_the_ssh_command_verifies_host_keys_and_accepts_new_ones_only_when_asked() -> None:
    target = SshTarget(host="192.0.2.7", port=2222, user="ops", identity_file="/keys/id")
    strict = SshRunner(target, runner=runner.LocalRunner(), known_hosts=Path("/kh"))
    argv = strict.ssh_argv("uptime")
    assert "StrictHostKeyChecking=yes" in argv
    assert "UserKnownHostsFile=/kh" in argv
    assert "BatchMode=yes" in argv
    assert argv[-3:] == ["--", "ops@192.0.2.7", "uptime"]
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-i") + 1] == "/keys/id"
    trusting = SshRunner(target.model_copy(update={"accept_new_host_key": True}),
                         runner=runner.LocalRunner())
    assert "StrictHostKeyChecking=accept-new" in trusting.ssh_argv("uptime")
    assert not any(arg.endswith("=no") for arg in argv + trusting.ssh_argv("uptime"))


def test_a_remote_command_returns_its_stdout_with_arguments_quoted_for_the_remote_shell(
    sshd: Sshd, tmp_path: Path
) -> None:
    remote = sshd.runner(tmp_path)
    result = remote.run(["printf", "%s|", "a b", "it's", "$HOME", "; echo injected"])
    assert result.stdout == "a b|it's|$HOME|; echo injected|"
    assert result.returncode == 0


def test_input_env_and_cwd_reach_the_remote_command(sshd: Sshd, tmp_path: Path) -> None:
    remote = sshd.runner(tmp_path)
    script = 'read line; echo "$line/$GREETING"; pwd'
    result = remote.run(["sh", "-c", script], input="piped\n", env={"GREETING": "hi there"},
                        cwd=tmp_path)
    assert result.stdout == f"piped/hi there\n{tmp_path}\n"


def test_the_remote_exit_code_is_propagated(sshd: Sshd, tmp_path: Path) -> None:
    remote = sshd.runner(tmp_path)
    assert remote.run(["sh", "-c", "exit 7"], check=False).returncode == 7
    with pytest.raises(CommandFailed) as caught:
        remote.run(["sh", "-c", "echo broken >&2; exit 7"])
    assert caught.value.returncode == 7
    assert "broken" in caught.value.stderr_tail
    assert caught.value.argv[:2] == ["ssh", f"{getpass.getuser()}@127.0.0.1"]
    assert caught.value.hint == ""


def test_a_remote_command_that_exits_255_itself_is_not_mistaken_for_an_ssh_failure(
    sshd: Sshd, tmp_path: Path
) -> None:
    assert sshd.runner(tmp_path).run(["sh", "-c", "exit 255"], check=False).returncode == 255


def test_an_unknown_host_key_is_refused_with_a_known_hosts_hint(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    remote = SshRunner(sshd.target(), runner=runner.LocalRunner(timeout=60), known_hosts=known)
    with pytest.raises(CommandFailed) as caught:
        remote.run(["true"])
    assert caught.value.returncode == 255
    assert f"is not in {known}" in caught.value.hint
    assert "accept_new_host_key: true" in caught.value.hint
    assert known.read_text() == ""


def test_accept_new_host_key_trusts_and_records_a_first_seen_key(
    sshd: Sshd, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    target = sshd.target(accept_new_host_key=True)
    remote = SshRunner(target, runner=runner.LocalRunner(timeout=60), known_hosts=known)
    assert remote.run(["echo", "ok"]).stdout == "ok\n"
    assert sshd.host_public_key.split()[1] in known.read_text()


def test_a_changed_host_key_is_refused_even_with_accept_new_host_key(
    sshd: Sshd, tmp_path: Path
) -> None:
    impostor = keygen(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {impostor}\n")
    target = sshd.target(accept_new_host_key=True)
    remote = SshRunner(target, runner=runner.LocalRunner(timeout=60), known_hosts=known)
    with pytest.raises(CommandFailed) as caught:
        remote.run(["true"])
    assert "changed" in caught.value.hint
    assert "ssh-keygen -R" in caught.value.hint


def test_a_key_the_host_does_not_authorize_is_refused_with_a_hint(
    sshd: Sshd, tmp_path: Path
) -> None:
    keygen(tmp_path / "stranger")
    remote = sshd.runner(tmp_path, identity_file=str(tmp_path / "stranger"))
    with pytest.raises(CommandFailed) as caught:
        remote.run(["true"])
    assert "refused the key" in caught.value.hint


def test_a_closed_port_gives_the_unreachable_hint(tmp_path: Path) -> None:
    port = free_port()  # bound and released: nothing listens there
    target = SshTarget(host="127.0.0.1", port=port, user="nobody")
    remote = SshRunner(target, runner=runner.LocalRunner(timeout=60),
                       known_hosts=tmp_path / "known_hosts")
    with pytest.raises(CommandFailed) as caught:
        remote.run(["true"], check=False)
    assert caught.value.returncode == 255
    assert f"127.0.0.1:{port} is unreachable" in caught.value.hint
    assert "Connection refused" in caught.value.stderr_tail


def test_copy_to_writes_a_0600_file_and_fetch_text_reads_it_back(
    sshd: Sshd, tmp_path: Path
) -> None:
    remote = sshd.runner(tmp_path)
    local = tmp_path / "token.txt"
    local.write_text("line one\nline two\n")
    destination = tmp_path / "remote" / "token"
    destination.parent.mkdir()
    destination.write_text("old")
    destination.chmod(0o644)
    remote.copy_to(local, str(destination))
    assert destination.read_text() == "line one\nline two\n"
    assert stat.S_IMODE(destination.stat().st_mode) == 0o600
    assert not (tmp_path / "remote" / "token.partial").exists()
    assert remote.fetch_text(str(destination)) == "line one\nline two\n"
    remote.copy_to(local, str(tmp_path / "remote" / "script"), mode="0750")
    assert stat.S_IMODE((tmp_path / "remote" / "script").stat().st_mode) == 0o750


def test_which_finds_remote_tools_and_says_none_for_missing_ones(
    sshd: Sshd, tmp_path: Path
) -> None:
    remote = sshd.runner(tmp_path)
    assert remote.which("sh") is not None
    assert remote.which("surely-not-installed-anywhere") is None


def test_secret_arguments_are_masked_in_errors(sshd: Sshd, tmp_path: Path) -> None:
    remote = sshd.runner(tmp_path)
    token = "K10-join-token-abcdef"
    with pytest.raises(CommandFailed) as caught:
        remote.run(["sh", "-c", 'echo "bad token $1" >&2; exit 3', "sh", token],
                   secret_args=[token])
    shown = str(caught.value) + " ".join(caught.value.argv) + caught.value.stderr_tail
    assert token not in shown
    assert "bad token ***" in shown
