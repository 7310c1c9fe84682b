"""Commands on another machine through the ``ssh`` client, started by a local runner (this module
starts no process itself). Host keys are always verified; trusting a new one is the profile's
explicit ``accept_new_host_key``, and a changed key is never accepted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootstrap.errors import CommandFailed, InputError, SshFailed
from bootstrap.processes.runner import Result, Runner, redacted_argv, stderr_tail
from bootstrap.profile.schema import SshTarget

SSH_FAILED = 255
CONNECT_TIMEOUT = 10
_HOST_KEY_CHANGED = "REMOTE HOST IDENTIFICATION HAS CHANGED"
_HOST_KEY_UNKNOWN = ("Host key verification failed", "No ED25519 host key is known",
                     "No RSA host key is known", "No ECDSA host key is known")
_UNREACHABLE = ("Connection refused", "timed out", "No route to host", "Network is unreachable",
                "Could not resolve hostname")
_NO_SESSION = ("kex_exchange_identification", "Connection closed by", "Connection reset")
_REFUSED_KEY = ("Permission denied", "Too many authentication failures")
_MODE = re.compile(r"^0?[0-7]{3}$")


class SshRunner:
    """A ``Runner`` for ``target``: argv is quoted with ``shlex.join`` for the remote shell.

    ``env`` and ``cwd`` become ``cd DIR && env K=V ...`` on the remote side. Anything in argv or
    env is visible in the local ssh process's command line: pass secret values through
    ``input``, and name them in ``secret_args`` so errors and logs mask them.
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        runner: Runner,
        known_hosts: Path | None = None,
        connect_timeout: int = CONNECT_TIMEOUT,
    ) -> None:
        if target.host.startswith("-") or target.user.startswith("-"):
            raise InputError(f"ssh host {target.user}@{target.host} cannot start with '-'")
        self.target = target
        self.runner = runner
        chosen = known_hosts or Path(target.known_hosts or "~/.ssh/known_hosts")
        self.known_hosts = chosen.expanduser()
        self.connect_timeout = connect_timeout

    @property
    def destination(self) -> str:
        return f"{self.target.user}@{self.target.host}"

    def ssh_argv(self, remote_command: str) -> list[str]:
        """The local ssh command that runs ``remote_command`` (a shell string) on the target."""
        checking = "accept-new" if self.target.accept_new_host_key else "yes"
        argv = [
            "ssh", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={checking}",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", f"ConnectTimeout={self.connect_timeout}", "-p", str(self.target.port),
        ]
        if self.target.identity_file:
            identity = Path(self.target.identity_file).expanduser()
            argv += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
        return [*argv, "--", self.destination, remote_command]

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
        secret_args: Sequence[str] = (),
    ) -> Result:
        """Run ``argv`` on the target. An ssh failure (cannot connect, host key, refused key)
        raises CommandFailed with a hint even when ``check`` is false."""
        script = shlex.join(argv)
        if env:
            assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
            script = f"env {assignments} {script}"
        if cwd is not None:
            script = f"cd {shlex.quote(str(cwd))} && {script}"
        return self._run_script(script, list(argv), input=input, timeout=timeout, check=check,
                                secret_args=secret_args)

    def which(self, tool: str) -> str | None:
        found = self.run(["sh", "-c", 'command -v "$1"', "sh", tool], check=False)
        path = found.stdout.strip()
        return path if found.returncode == 0 and path else None

    def copy_to(self, local: Path, remote: str, *, mode: str = "0600") -> None:
        """Write the text file ``local`` to ``remote`` through ssh's stdin (no scp needed): it
        is created under umask 077, given ``mode``, then moved into place in one step."""
        if not _MODE.match(mode):
            raise InputError(f"file mode {mode!r} is not an octal mode like 0600")
        partial = shlex.quote(remote + ".partial")
        script = (f"umask 077 && rm -f {partial} && cat > {partial} && chmod {mode} {partial} "
                  f"&& mv -f {partial} {shlex.quote(remote)}")
        self._run_script(script, ["copy", str(local), remote], input=local.read_text())

    def fetch_text(self, remote_path: str) -> str:
        """The content of a remote text file (raw: it may be a secret such as a kubeconfig)."""
        return self.run(["cat", "--", remote_path]).stdout

    def _run_script(
        self, script: str, shown_argv: list[str], *, input: str | None = None,
        timeout: float | None = None, check: bool = True, secret_args: Sequence[str] = (),
    ) -> Result:
        result = self.runner.run(self.ssh_argv(script), input=input, timeout=timeout, check=False,
                                 secret_args=secret_args)
        shown = ["ssh", self.destination, *redacted_argv(shown_argv, secret_args)]
        if result.returncode == SSH_FAILED and (hint := self._failure_hint(result.stderr)):
            raise SshFailed(shown, destination=f"{self.destination}:{self.target.port}",
                            stderr_tail=stderr_tail(result.stderr), hint=hint)
        if check and result.returncode != 0:
            raise CommandFailed(shown, exit_code=result.returncode,
                                stderr_tail=stderr_tail(result.stderr, result.stdout))
        return result

    def _failure_hint(self, stderr: str) -> str | None:
        """Why ssh itself failed (exit 255), or None when the remote command chose 255."""
        host, port, known = self.target.host, self.target.port, self.known_hosts
        entry = host if port == 22 else f"[{host}]:{port}"
        if _HOST_KEY_CHANGED in stderr:
            return (f"the host key of {host} changed since it was recorded in {known}: "
                    "find out why before trusting it; if the host was rebuilt, remove the old "
                    f"key with `ssh-keygen -R '{entry}' -f {known}`")
        if any(text in stderr for text in _HOST_KEY_UNKNOWN):
            return (f"the host key of {host} is not in {known}: add it "
                    f"(`ssh-keyscan -p {port} {host} >> {known}`, after checking its fingerprint) "
                    "or set accept_new_host_key: true in the profile's ssh section")
        if any(text in stderr for text in _REFUSED_KEY):
            return (f"{host} refused the key for user {self.target.user}: check `user`, "
                    "`identity_file` and the host's authorized_keys")
        if any(text in stderr for text in _UNREACHABLE):
            return (f"{host}:{port} is unreachable: check that the host is up, that sshd "
                    "listens on that port, and that no firewall is in the way")
        if any(text in stderr for text in _NO_SESSION):
            return (f"ssh could not open a session on {host}:{port} (see its message above): "
                    "the server closed the connection before logging in")
        return None
