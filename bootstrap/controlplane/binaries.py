"""Find the local control plane's binaries (built by ``make binaries`` into a versioned cache)
and check they are the versions the profile pins.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import InputError
from bootstrap.processes.runner import Runner
from bootstrap.processes.tools import ToolStatus
from bootstrap.profile.schema import LocalCluster

BUILD_HINT = "run `make binaries` (builds them from Go modules; needs Go, ~10 min the first time)"
KWOK_STAGES = (
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
)


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: tuple[Path, ...]

    def all(self) -> dict[str, Path]:
        return {
            "etcd": self.etcd,
            "kube-apiserver": self.kube_apiserver,
            "kube-controller-manager": self.kube_controller_manager,
            "kube-scheduler": self.kube_scheduler,
            "kwok": self.kwok,
        }


def cache_dir(cfg: LocalCluster) -> Path:
    if cfg.binaries_dir:
        return Path(cfg.binaries_dir).expanduser()
    if env := os.environ.get("CLUSTERBOOT_BIN_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clusterboot" / "bin"


def locate(cfg: LocalCluster) -> Binaries:
    root = cache_dir(cfg)
    kube = root / f"kubernetes-{cfg.kubernetes_version}"
    kwok_dir = root / f"kwok-{cfg.kwok_version}"
    return Binaries(
        etcd=root / f"etcd-{cfg.etcd_version}" / "etcd",
        kube_apiserver=kube / "kube-apiserver",
        kube_controller_manager=kube / "kube-controller-manager",
        kube_scheduler=kube / "kube-scheduler",
        kwok=kwok_dir / "kwok",
        kwok_stages=tuple(kwok_dir / "stages" / name for name in KWOK_STAGES),
    )


def statuses(cfg: LocalCluster, runner: Runner) -> list[ToolStatus]:
    """One doctor row per binary: found at the pinned version, or how to build it."""
    found = locate(cfg)
    pinned = {
        "etcd": cfg.etcd_version,
        "kube-apiserver": cfg.kubernetes_version,
        "kube-controller-manager": cfg.kubernetes_version,
        "kube-scheduler": cfg.kubernetes_version,
        "kwok": cfg.kwok_version,
    }
    rows = []
    for name, path in found.all().items():
        version = None
        if os.access(path, os.X_OK):
            shown = runner.run([str(path), "--version"], timeout=30, check=False).stdout
            match = re.search(r"v?\d+\.\d+\.\d+", shown)
            version = match.group(0) if match else "unknown"
        ok = version is not None and version.lstrip("v") == pinned[name].lstrip("v")
        rows.append(
            ToolStatus(
                name=name,
                found_path=str(path) if version else None,
                version=version,
                needed_for=f"the local cluster (pinned {pinned[name]})",
                install_hint=BUILD_HINT,
                ok=ok,
            )
        )
    return rows


def verify(cfg: LocalCluster, runner: Runner) -> Binaries:
    """Every binary present, executable and at the pinned version; else an InputError."""
    found = locate(cfg)
    missing = [
        f"{name} ({path})" for name, path in found.all().items() if not os.access(path, os.X_OK)
    ]
    missing += [str(p) for p in found.kwok_stages if not p.is_file()]
    if missing:
        raise InputError(
            "the local control plane's binaries are missing: " + ", ".join(missing),
            hint=BUILD_HINT,
        )
    expected = {
        found.kube_apiserver: cfg.kubernetes_version,
        found.etcd: cfg.etcd_version.lstrip("v"),
    }
    for path, version in expected.items():
        shown = version_output(path, runner)
        if not re.search(rf"\b{re.escape(version)}\b", shown):
            first = shown.strip().splitlines()[0] if shown.strip() else "no version output"
            raise InputError(
                f"{path} is not version {version} (it says: {first})",
                hint=BUILD_HINT + ", or set cluster.local versions to match",
            )
    return found


VERSIONS_SEEN = ".versions.json"
"""What each binary's ``--version`` printed, by path, size and mtime: asking kube-apiserver
takes 0.1 s of every `up`, and a rebuilt binary has another mtime, so it is asked again."""


def version_output(path: Path, runner: Runner) -> str:
    """``path --version``'s output, from the record beside the binaries while the file is the
    one that printed it."""
    record = path.parent.parent / VERSIONS_SEEN
    stat = path.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    try:
        seen = json.loads(record.read_text())
    except (OSError, ValueError):
        seen = {}
    if not isinstance(seen, dict):
        seen = {}
    entry = seen.get(str(path))
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return str(entry.get("output", ""))
    shown = runner.run([str(path), "--version"], timeout=30, check=False).stdout
    seen[str(path)] = {"stamp": stamp, "output": shown}
    with contextlib.suppress(OSError):  # a read-only cache dir costs only the time
        partial = record.with_name(f"{VERSIONS_SEEN}.{os.getpid()}")
        partial.write_text(json.dumps(seen, indent=1))
        partial.replace(record)
    return shown
