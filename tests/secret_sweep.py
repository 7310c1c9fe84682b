"""The secrets sweep's tools: distinctive canary values, and a scan of everything a run wrote
(its outputs, every file under the directories it owns, the members of a diagnostics bundle)
for each canary in every form it could take (as given, base64 as in a Secret's ``data``, one
line of a multi-line value). A canary may appear only in a file of mode 0600 that it belongs
in (a kubeconfig, a credentials file); anywhere else it is a leak.
"""

from __future__ import annotations

import base64
import fnmatch
import io
import json
import secrets
import stat
import string
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap.secrets import MASK

MASKED = MASK
"""What a masked secret reads as."""
_ALNUM = string.ascii_letters + string.digits


def value(purpose: str) -> str:
    """A canary: ``canary-<purpose>-<random hex>``, found by no accident."""
    return f"canary-{purpose}-{secrets.token_hex(8)}"


def github_token() -> str:
    """Shaped like a classic GitHub token (``ghp_`` and 36 letters or digits)."""
    return "ghp_" + "".join(secrets.choice(_ALNUM) for _ in range(36))


def jwt() -> str:
    """Shaped like a JSON Web Token (header.payload.signature), the payload a canary."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = part(json.dumps({"sub": value("jwt")}).encode())
    return f"{header}.{payload}.{part(secrets.token_bytes(32))}"


def private_key(purpose: str) -> str:
    """Shaped like an OpenSSH private key whose body lines are canaries."""
    body = "\n".join(value(f"{purpose}-line{i}") for i in range(3))
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"


@dataclass(frozen=True)
class Canary:
    purpose: str
    secret: str
    belongs: tuple[str, ...] = ()
    """Glob patterns (matched against a file's path) where the value may be, at mode 0600."""

    def forms(self) -> dict[str, str]:
        """Each way the value could show: as given, in base64, and (multi-line) line by line."""
        found = {"as given": self.secret.strip()}
        found["base64"] = base64.b64encode(self.secret.encode()).decode()
        lines = [line.strip() for line in self.secret.splitlines()]
        if len(lines) > 1:
            for i, line in enumerate(lines):
                if len(line) >= 16 and not line.startswith("-----"):
                    found[f"line {i}"] = line
        return found


@dataclass(frozen=True)
class Finding:
    canary: str
    form: str
    where: str
    mode: int | None
    """The file's mode (a bundle member: the bundle's); None for an output."""
    allowed: bool

    def __str__(self) -> str:
        mode = "output" if self.mode is None else f"mode {self.mode:04o}"
        return f"{self.canary} ({self.form}) in {self.where} ({mode})"


@dataclass
class Sweep:
    """What a scenario wrote: outputs by name, the directories and files it owns."""

    canaries: list[Canary]
    outputs: dict[str, str] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)

    def output(self, name: str, *texts: str) -> None:
        self.outputs[name] = self.outputs.get(name, "") + "".join(texts)

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        self.scanned = []
        for name, text in self.outputs.items():
            self.scanned.append(f"output {name}")
            found += self._look(text, where=f"output {name}", mode=None, path=None)
        for path in self._files():
            self.scanned.append(str(path))
            mode = stat.S_IMODE(path.stat().st_mode)
            data = path.read_bytes()
            if path.name.endswith(".tar.gz"):
                for member, content in _members(data):
                    found += self._look(content, where=f"{path}!{member}", mode=mode, path=None)
            found += self._look(
                data.decode(errors="replace"), where=str(path), mode=mode, path=path
            )
        return found

    def leaks(self) -> list[Finding]:
        return [f for f in self.findings() if not f.allowed]

    def _files(self) -> Iterator[Path]:
        seen: set[Path] = set()
        for root in self.roots:
            candidates: Iterable[Path] = [root] if root.is_file() else sorted(root.rglob("*"))
            for path in candidates:
                if path.is_file() and not path.is_symlink() and path not in seen:
                    seen.add(path)
                    yield path

    def _look(self, text: str, *, where: str, mode: int | None, path: Path | None) -> list[Finding]:
        found = []
        for canary in self.canaries:
            for form, shown in canary.forms().items():
                if shown in text:
                    allowed = (
                        path is not None
                        and mode == 0o600
                        and any(fnmatch.fnmatch(str(path), p) for p in canary.belongs)
                    )
                    found.append(Finding(canary.purpose, form, where, mode, allowed))
        return found


def _members(data: bytes) -> Iterator[tuple[str, str]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as bundle:
        for member in bundle.getmembers():
            if member.isfile():
                content = (bundle.extractfile(member) or io.BytesIO()).read()
                yield member.name, content.decode(errors="replace")


def report(leaks: list[Finding]) -> str:
    return "secrets leaked:\n" + "\n".join(f"  {leak}" for leak in leaks)
