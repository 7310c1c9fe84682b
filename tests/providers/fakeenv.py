"""The providers tier's machine: fake `k3d`, `kind` and `docker` on PATH (wrappers around
tests/providers/fakes/*.py run by this venv's Python), a private HOME, an argv log, and calls
into `up`/`plan`/`down` with a profile file, like the integration tier's helpers.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.commands import app
from bootstrap.controlplane import binaries, netns
from bootstrap.errors import InputError
from bootstrap.processes import runner
from bootstrap.profile.schema import LocalCluster

REPO = Path(__file__).resolve().parents[2]
FAKES = Path(__file__).resolve().parent / "fakes"
TOOLS = ("k3d", "kind", "docker")
PLATFORM_OFF = {"metallb": {"enabled": False}, "argocd": {"enabled": False},
                "sealed_secrets": {"enabled": False}}


def control_plane_missing() -> str | None:
    """Why a real local control plane cannot start here, or None."""
    try:
        binaries.verify(LocalCluster(), runner.LocalRunner())
    except InputError as err:
        return str(err)
    ok, why = netns.available()
    return None if ok else f"no network namespace for the fake clusters: {why}"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class FakeMachine:
    root: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def log(self) -> Path:
        return self.root / "argv.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "fake-state"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def clusters(self, tool: str) -> dict[str, dict[str, Any]]:
        """The clusters the fake ``tool`` (kind, k3d) keeps, by name."""
        path = self.state / f"{tool}.json"
        data: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else {}
        return data

    def install(self, *tools: str) -> Path:
        """Put exactly ``tools`` on PATH (plus the system's /usr/bin:/bin)."""
        bin_dir = self.root / ("bin-" + "-".join(tools) if tools else "bin-none")
        bin_dir.mkdir(exist_ok=True)
        for tool in tools:
            wrapper = bin_dir / tool
            wrapper.write_text(
                f"#!{sys.executable}\n"
                "import runpy, sys\n"
                f"sys.path.insert(0, {str(FAKES)!r})\n"
                f"runpy.run_path({str(FAKES / f'{tool}.py')!r}, run_name='__main__')\n"
            )
            wrapper.chmod(0o755)
        self.monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        return bin_dir

    def calls(self, tool: str | None = None) -> list[list[str]]:
        """Every recorded argv (of ``tool`` only, if given), in order."""
        if not self.log.is_file():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [row["argv"] for row in rows if tool is None or row["tool"] == tool]

    def tool(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Call a fake directly, as a user would (test setup, not the code under test)."""
        return subprocess.run([tool, *args], capture_output=True, text=True, check=True,
                              timeout=240)

    def profile(self, name: str, provider: str, **cluster: Any) -> Path:
        body = {
            "name": name,
            "state_dir": str(self.root / f"state-{name}"),
            "cluster": {"provider": provider, "name": f"cb-{name}", **cluster},
            "components": PLATFORM_OFF,
            "timeouts": {"stage_seconds": 120, "command_seconds": 300},
        }
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body))
        return path

    def invoke(self, command: str, profile: Path | str) -> Run:
        out, err = io.StringIO(), io.StringIO()
        inv = app.Invocation(profile=str(profile), log_format="json", out=out, err=err)
        code = {"up": app.up, "plan": app.plan, "down": app.down}[command](inv)
        return Run(code, out.getvalue(), err.getvalue())

    def report(self, name: str) -> dict[str, Any]:
        path = self.root / f"state-{name}" / "reports" / "last-up.json"
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def stage(self, name: str, stage: str) -> dict[str, Any]:
        found: dict[str, Any] = next(s for s in self.report(name)["stages"] if s["name"] == stage)
        return found
