"""Where a local cluster keeps its files under the profile's state directory."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd-data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def keeper_pid(self) -> Path:
        return self.root / "keeper.pid"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def spec_file(self) -> Path:
        return self.root / "spec.json"

    @property
    def admin_kubeconfig(self) -> Path:
        """The kubeconfig the components use inside the cluster's namespace."""
        return self.root / "admin.kubeconfig"

    @property
    def kwok_stages(self) -> Path:
        return self.root / "kwok-stages"

    def pid_file(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def create(self) -> None:
        for directory in (self.root, self.logs, self.pids, self.etcd_data, self.kwok_stages):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)


KEEPER_PROTOCOL = 2
"""What a keeper understands, written into ``state.json``: 2 reloads its spec on SIGHUP (extra
components such as Argo CD's); a keeper without the field predates that."""


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
