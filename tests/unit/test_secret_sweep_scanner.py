"""The sweep's scanner (tests/secret_sweep.py) finds what it must, so a clean sweep means
something: a canary in an output, in a 0644 file, in a 0600 file it does not belong in, in a
bundle member, in base64 or as one line of a key, each a leak; in its own 0600 file, not."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

from tests import secret_sweep as sweep


def bundle(path: Path, name: str, text: str) -> None:
    data = text.encode()
    with tarfile.open(path, "w:gz") as out:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o600
        out.addfile(info, io.BytesIO(data))
    path.chmod(0o600)


def test_a_canary_is_allowed_only_in_a_0600_file_it_belongs_in_and_found_everywhere_else(
    tmp_path: Path,
) -> None:
    key = sweep.private_key("unit")
    token = sweep.Canary("token", sweep.value("token"), belongs=(f"{tmp_path}/kubeconfig",))
    ssh = sweep.Canary("key", key)
    for name, text, mode in [
        ("kubeconfig", token.secret, 0o600),  # where it belongs
        ("report.json", token.secret, 0o644),
        ("credentials", token.secret, 0o600),  # private, but not where it belongs
        ("junit.xml", base64.b64encode(token.secret.encode()).decode(), 0o644),
        ("app.log", "key line " + key.splitlines()[2], 0o600),
    ]:
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(mode)
    bundle(tmp_path / "diag.tar.gz", "diag/events.txt", f"said {token.secret}")
    found = sweep.Sweep([token, ssh], roots=[tmp_path])
    found.output("stderr", f"oops {token.secret}")
    found.output("stdout", "nothing secret")

    leaks = {(f.canary, f.form, f.where.removeprefix(f"{tmp_path}/")) for f in found.leaks()}

    assert leaks == {
        ("token", "as given", "output stderr"),
        ("token", "as given", "report.json"),
        ("token", "as given", "credentials"),
        ("token", "base64", "junit.xml"),
        ("token", "as given", "diag.tar.gz!diag/events.txt"),
        ("key", "line 2", "app.log"),
    }
    allowed = [f for f in found.findings() if f.allowed]
    assert [(f.canary, f.where) for f in allowed] == [("token", f"{tmp_path}/kubeconfig")]


def test_canaries_are_distinct_and_token_shaped_ones_look_like_tokens() -> None:
    assert sweep.value("x") != sweep.value("x")
    assert sweep.value("repo").startswith("canary-repo-")
    token, jwt = sweep.github_token(), sweep.jwt()
    assert token.startswith("ghp_")
    assert len(token) == 40
    assert jwt.startswith("eyJ")
    assert jwt.count(".") == 2
