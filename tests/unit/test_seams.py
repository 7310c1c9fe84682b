"""One seam per outside world: only bootstrap.kube.client imports the Kubernetes client, only
bootstrap.processes.runner starts processes. Checked on the source, so a new module cannot slip
past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bootstrap", "stages")
PROCESS_CALLS = {
    ("os", name)
    for name in ("system", "popen", "fork", "execv", "execvp", "execve", "spawnv", "posix_spawn")
}


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def process_calls(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in PROCESS_CALLS
        ):
            found.add(f"{node.value.id}.{node.attr}")
        if isinstance(node, ast.keyword) and node.arg == "shell":
            found.add("shell=")
    return found


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", modules(), ids=rel)
def test_only_the_kube_module_imports_the_kubernetes_client(path: Path) -> None:
    if rel(path) == "bootstrap/kube/client.py":
        return
    assert "kubernetes" not in imported(path)


@pytest.mark.parametrize("path", modules(), ids=rel)
def test_only_the_runner_starts_processes(path: Path) -> None:
    if rel(path) == "bootstrap/processes/runner.py":
        assert "shell=" not in process_calls(path)
        return
    assert not ({"subprocess", "sh", "pexpect"} & imported(path))
    assert process_calls(path) == set()


def test_the_seam_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\nfrom kubernetes import client\nimport os\nos.system('x')\n")
    assert {"subprocess", "kubernetes"} <= imported(bad)
    assert process_calls(bad) == {"os.system"}
