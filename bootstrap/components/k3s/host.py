"""The server k3s runs on, reached through one ``SshRunner``: every command that needs root
goes through ``sudo`` when the user is not root (``-n`` when no password was given, so it
fails instead of asking; ``-S`` with the password on stdin when the profile gives one and this
host's sudo asks for it: where it does not, the password would reach the command's stdin).

Nothing secret is ever on a command line: the sudo password and the node token reach the
remote side on stdin only, and both are remembered for redaction.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootstrap import secrets
from bootstrap.components.k3s import config
from bootstrap.errors import CommandFailed, InputError
from bootstrap.processes.runner import Result, Runner
from bootstrap.processes.ssh import SshRunner
from bootstrap.profile.schema import SshTarget

NEEDS_PASSWORD = ("a password is required", "a terminal is required", "no tty present")
CHUNK = 1 << 20  # bytes of a binary upload per ssh call (base64 on stdin)


class Host:
    def __init__(
        self,
        target: SshTarget,
        *,
        runner: Runner,
        sudo_password: str | None = None,
        known_hosts: Path | None = None,
        timeout: float | None = None,
    ) -> None:
        self.ssh = SshRunner(target, runner=runner, known_hosts=known_hosts)
        self.target = target
        self.password = sudo_password
        self.timeout = timeout
        self._sudo_asks: bool | None = None
        if sudo_password:
            secrets.remember(sudo_password)

    @property
    def name(self) -> str:
        return self.ssh.destination

    @property
    def root(self) -> bool:
        return self.target.user == "root"

    # -- running --------------------------------------------------------------------------
    def as_root(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> Result:
        """``argv`` as root on the host (``env`` is put after sudo, which would drop it)."""
        command = [*(["env", *(f"{k}={v}" for k, v in env.items())] if env else []), *argv]
        if self.root:
            return self.ssh.run(command, input=input, check=check, timeout=self.timeout)
        if self.password is None or not self.sudo_asks():
            return self.ssh.run(
                ["sudo", "-n", "--", *command], input=input, check=check, timeout=self.timeout
            )
        fed = self.password + "\n" + (input or "")
        return self.ssh.run(
            ["sudo", "-S", "-p", "", "--", *command],
            input=fed,
            check=check,
            timeout=self.timeout,
        )

    def sudo_asks(self) -> bool:
        """Whether sudo asks this host's user for a password (asked once). A password on the
        stdin of a sudo that does not ask (NOPASSWD, e.g. on an agent while the server asks)
        is read by the command instead: prepended to an upload, or taken for the node token."""
        if self._sudo_asks is None:
            found = self.ssh.run(["sudo", "-n", "--", "true"], check=False, timeout=self.timeout)
            self._sudo_asks = found.returncode != 0
        return self._sudo_asks

    def check_sudo(self) -> None:
        """Fail clearly, before anything is changed, when the host cannot be reached (an ssh
        failure raises CommandFailed) or the user cannot become root. Root logs in too: the
        same check reaches the host."""
        found = self.as_root(["true"], check=False)
        if found.returncode == 0:
            return
        said = found.stderr.strip().splitlines()[-1:] or [f"exit {found.returncode}"]
        if self.root:
            raise InputError(f"`true` failed as root on {self.name} ({said[0]})",
                             hint="is this a POSIX host with a working shell for root?")
        if self.password is None and any(t in found.stderr for t in NEEDS_PASSWORD):
            raise InputError(
                f"sudo on {self.name} needs a password and none was given ({said[0]})",
                hint="set cluster.k3s_ssh.sudo_password (a secret reference: {env: NAME} or "
                f"{{file: path}}), allow NOPASSWD sudo for {self.target.user}, or log in as root",
            )
        raise InputError(
            f"{self.target.user} cannot run commands as root on {self.name} with sudo ({said[0]})",
            hint="give the user sudo rights (or the right cluster.k3s_ssh.sudo_password), "
            "or log in as root",
        )

    # -- what is there ----------------------------------------------------------------------
    def probe(self) -> config.Installed:
        return config.parse_probe(self.as_root(["sh", "-c", config.PROBE]).stdout)

    def fetch_kubeconfig(self) -> str:
        text = self.as_root(["cat", "--", config.K3S_YAML]).stdout
        for line in text.splitlines():  # its keys and tokens must never reach a log
            key, _, value = line.strip().partition(":")
            if key in {"client-key-data", "token", "password"} and value.strip():
                secrets.remember(value.strip())
        return text

    def node_token(self) -> str:
        path = f"{config.SERVER_DATA}/node-token"
        token = self.as_root(["cat", "--", path]).stdout.strip()
        if not token:
            raise CommandFailed(["cat", path], exit_code=0, stderr_tail="the node token is empty")
        secrets.remember(token)
        return token

    # -- changing it ------------------------------------------------------------------------
    def upload(self, data: bytes, remote: str, *, mode: str = "0755") -> None:
        """Write ``data`` to ``remote`` as root, through stdin in base64 chunks (binaries too),
        atomically: a partial file never takes the name."""
        partial = shlex.quote(remote + ".partial")
        parent = shlex.quote(str(Path(remote).parent))
        self.as_root(
            ["sh", "-c", f"umask 077 && mkdir -p {parent} && rm -f {partial} && : > {partial}"]
        )
        for start in range(0, max(len(data), 1), CHUNK):
            chunk = base64.b64encode(data[start : start + CHUNK]).decode()
            self.as_root(["sh", "-c", f"base64 -d >> {partial}"], input=chunk + "\n")
        self.as_root(
            ["sh", "-c", f"chmod {mode} {partial} && mv -f {partial} {shlex.quote(remote)}"]
        )

    def install(self, script: bytes, env: Mapping[str, str], *, token: str | None = None) -> None:
        """Run the k3s install script with ``env``; a node token goes on stdin, never in the
        environment of a command line."""
        self.upload(script, config.REMOTE_SCRIPT, mode="0700")
        run = f"sh {config.REMOTE_SCRIPT}"
        if token is not None:
            run = f"IFS= read -r K3S_TOKEN && export K3S_TOKEN && {run}"
        self.as_root(["sh", "-c", run], env=env, input=f"{token}\n" if token else None)
        self.as_root(["rm", "-f", config.REMOTE_SCRIPT])

    def write_marker(self, text: str) -> None:
        self.upload(text.encode() + b"\n", config.MARKER, mode="0644")

    def uninstall(self, *, agent: bool = False) -> None:
        self.as_root(["sh", config.AGENT_UNINSTALL if agent else config.UNINSTALL])
