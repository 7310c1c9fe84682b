"""Home servers for the k3s-over-SSH tests: a real sshd on 127.0.0.1 per host, each in a mount
namespace of its own, so what the install does to /etc/rancher, /var/lib/rancher and
/usr/local/bin lands in the test's directories and never on this machine. Each host has a
non-root user ``ops`` with sudo (without a password, or with one) and a client key; the k3s
install script is a stand-in (fakes/k3s_install.py) whose sha256 the profile pins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bootstrap import wait
from bootstrap.stage import Verdict
from tests.providers.test_ssh import free_port, keygen

SSHD = Path("/usr/sbin/sshd")
FAKES = Path(__file__).resolve().parent / "fakes"
USER, UID = "ops", 4242
SUDO_PASSWORD = "sudo-pw-for-the-tests-only"
BINDS = ("/etc/rancher", "/var/lib/rancher", "/usr/local/bin")


@dataclass
class SshHost:
    """One server: its sshd, the directories behind its bind mounts, its install log."""

    root: Path
    port: int
    host_key: str
    client_key: Path
    sudo: str  # "nopasswd" | "password"
    proc: subprocess.Popen[bytes] | None = None
    created: list[Path] = field(default_factory=list)
    home: Path | None = None

    def dir(self, bound: str) -> Path:
        return self.root / "fs" / bound.strip("/").replace("/", "-")

    @property
    def install_log(self) -> Path:
        return self.dir("/var/lib/rancher") / "install.jsonl"

    def installs(self) -> list[dict[str, Any]]:
        if not self.install_log.is_file():
            return []
        return [json.loads(line) for line in self.install_log.read_text().splitlines()]

    def known_hosts(self, directory: Path) -> Path:
        path = directory / f"known_hosts-{self.port}"
        path.write_text(f"[127.0.0.1]:{self.port} {self.host_key}\n")
        return path

    def target(self, directory: Path, **changes: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": USER,
            "identity_file": str(self.client_key),
            "known_hosts": str(self.known_hosts(directory)),
            **changes,
        }

    def stop(self) -> None:
        uninstall = self.dir("/usr/local/bin") / "k3s-uninstall.sh"
        for script in (uninstall, self.dir("/usr/local/bin") / "k3s-agent-uninstall.sh"):
            if script.is_file():  # a test that failed half-way: stop its control plane
                subprocess.run(
                    [
                        "unshare",
                        "--mount",
                        "--propagation",
                        "private",
                        "sh",
                        "-c",
                        f"{self._mounts()} && sh {script}",
                    ],
                    check=False,
                    capture_output=True,
                    timeout=120,
                )
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)

    def _mounts(self) -> str:
        steps = [f"mount --bind {self.dir(b)} {b}" for b in BINDS]
        for name in ("passwd", "shadow", "group"):
            steps.append(f"mount --bind {self.root / 'etc' / name} /etc/{name}")
        steps.append(f"mount --bind {self.root / 'etc' / 'sudoers.d'} /etc/sudoers.d")
        return " && ".join(steps)


def _accounts(root: Path, sudo: str) -> Path:
    etc = root / "etc"
    (etc / "sudoers.d").mkdir(parents=True)
    home = Path(tempfile.mkdtemp(prefix="cb-ops-home-"))  # sshd reads keys as ops: outside
    home.chmod(0o755)  # the test's private tmp directory
    (root / "ops-home").write_text(str(home))
    (home / ".ssh").mkdir(mode=0o700)
    os.chown(home, UID, UID)
    hashed = subprocess.run(
        ["openssl", "passwd", "-6", SUDO_PASSWORD], capture_output=True, text=True, check=True
    ).stdout.strip()
    passwd = Path("/etc/passwd").read_text() + f"{USER}:x:{UID}:{UID}::{home}:/bin/sh\n"
    group = Path("/etc/group").read_text() + f"{USER}:x:{UID}:\n"
    shadow = Path("/etc/shadow").read_text() + f"{USER}:{hashed}:19000:0:99999:7:::\n"
    (etc / "passwd").write_text(passwd)
    (etc / "group").write_text(group)
    (etc / "shadow").write_text(shadow)
    (etc / "shadow").chmod(0o640)
    rule = "NOPASSWD: ALL" if sudo == "nopasswd" else "ALL"
    (etc / "sudoers.d" / "ops").write_text(f"{USER} ALL=(ALL) {rule}\n")
    (etc / "sudoers.d" / "ops").chmod(0o440)
    return home


def start_host(root: Path, *, sudo: str, node: str = "server") -> SshHost:
    if not SSHD.is_file() or shutil.which("sudo") is None:
        pytest.skip("needs sshd and sudo: apt-get install openssh-server sudo")
    root.mkdir(parents=True)
    for bound in BINDS:
        (root / "fs" / bound.strip("/").replace("/", "-")).mkdir(parents=True)
    created = []
    for bound in BINDS:  # mount points; only ever empty on this machine
        if not Path(bound).exists():
            Path(bound).mkdir(parents=True)
            created.append(Path(bound))
    home = _accounts(root, sudo)
    (root / "fs" / "var-lib-rancher" / "node-name").write_text(node)
    host_key = keygen(root / "host_ed25519")
    keygen(root / "client_ed25519")
    os.chown(root / "client_ed25519", 0, 0)
    keys = home / ".ssh" / "authorized_keys"
    keys.write_text((root / "client_ed25519.pub").read_text())
    for path in (home / ".ssh", keys):
        os.chown(path, UID, UID)
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'host_ed25519'}\n"
        f"AuthorizedKeysFile %h/.ssh/authorized_keys\nPidFile {root / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "AcceptEnv LANG\n"
    )
    host = SshHost(root, port, host_key, root / "client_ed25519", sudo, created=created)
    host.home = home
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    with (root / "sshd.log").open("w") as out:
        host.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"{host._mounts()} && exec {SSHD} -D -e -f {config}",
            ],
            stderr=out,
        )

    def listening() -> Verdict:
        assert host.proc is not None
        if host.proc.poll() is not None:
            return Verdict.broken(f"sshd exited: {(root / 'sshd.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Verdict.passed()
        except OSError:
            return Verdict.waiting("sshd starting")

    wait.until(listening, what="sshd", deadline=15, clock=wait.RealClock(), interval=0.02)
    return host


def install_script(directory: Path, *, server: SshHost) -> dict[str, str]:
    """The stand-in install script (the same for every host: it finds its log and node name
    in the host's own /var/lib/rancher, and the server's files for an agent to join), and the
    pin a profile gives it."""
    lines = [
        "#!/bin/sh",
        "# stand-in for https://get.k3s.io: see tests/providers/fakes/k3s_install.py",
        f"export FAKE_K3S_SERVER_ROOT={server.dir('/var/lib/rancher')}",
        f'exec {sys.executable} {FAKES / "k3s_install.py"} "$@"',
    ]
    path = directory / f"install-{server.port}.sh"
    path.write_text("\n".join(lines) + "\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"url": f"file://{path}", "sha256": digest}


def stop_all(started: list[SshHost]) -> None:
    for host in started:
        host.stop()
        for made in host.created:
            with contextlib.suppress(OSError):
                made.rmdir()
