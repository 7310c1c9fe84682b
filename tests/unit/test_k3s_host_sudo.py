"""The sudo password reaches sudo, never the command: on a host whose sudo does not ask for it
(NOPASSWD, e.g. an agent while the server asks), a password on stdin would be read by the
command instead, prepended to an upload or taken for the node token."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from bootstrap.components.k3s.host import Host
from bootstrap.processes.runner import Result
from bootstrap.profile.schema import SshTarget

PASSWORD = "canary-sudo-7d3a91"
TOKEN = "canary-node-token-0b1c"


class SudoHost:
    """A Runner standing in for ssh to a host whose sudo asks for a password or not: it
    records what each command read on stdin after sudo took its password (if it asked)."""

    def __init__(self, *, asks: bool) -> None:
        self.asks = asks
        self.stdin: list[tuple[str, str]] = []

    def which(self, tool: str) -> str | None:
        return tool

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
        words = shlex.split(argv[-1])
        assert words[0] == "sudo", words
        flag, command = words[1], words[words.index("--") + 1 :]
        if flag == "-n" and self.asks:
            return Result(list(argv), 1, "", "sudo: a password is required\n")
        read = input or ""
        if flag == "-S" and self.asks:
            given, _, read = read.partition("\n")
            assert given == PASSWORD
        self.stdin.append((" ".join(command), read))
        return Result(list(argv), 0, "", "")


@pytest.mark.parametrize("asks", [True, False])
def test_the_command_reads_only_its_own_input_whether_or_not_sudo_asks(asks: bool) -> None:
    remote = SudoHost(asks=asks)
    target = SshTarget(host="10.0.0.7", user="ops")
    host = Host(target, runner=remote, sudo_password=PASSWORD)

    host.install(b"#!/bin/sh\n", {"INSTALL_K3S_EXEC": "agent"}, token=TOKEN)

    upload = next(read for command, read in remote.stdin if "base64 -d" in command)
    install = next(read for command, read in remote.stdin if "K3S_TOKEN" in command)
    assert upload == "IyEvYmluL3NoCg==\n"
    assert install == f"{TOKEN}\n"
    assert all(PASSWORD not in read for _, read in remote.stdin)
