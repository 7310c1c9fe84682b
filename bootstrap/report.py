"""The run report: JSON as in DESIGN §2 (always written), JUnit XML on request."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from bootstrap.secrets import redact

STATUSES = ("unchanged", "changed", "failed", "not-run")


@dataclass
class AppResult:
    name: str
    sync: str
    health: str
    seconds: float


@dataclass
class WaveResult:
    wave: int
    apps: list[AppResult] = field(default_factory=list)
    seconds: float = 0.0
    started: str | None = None
    """When the walk entered the wave (for `invoke report`'s timeline)."""


@dataclass
class StageResult:
    name: str
    status: str = "not-run"
    started: str | None = None
    finished: str | None = None
    seconds: float = 0.0
    waited_seconds: float = 0.0
    """Of ``seconds``, the time spent waiting on the cluster (gates, retries, watch events);
    the rest is clusterboot's own work and the API's answers to it."""
    attempts: int = 0
    changes: list[str] = field(default_factory=list)
    why: str = ""


@dataclass
class Report:
    profile: str
    result: str = "failed"
    cluster: dict[str, str] = field(default_factory=dict)
    stages: list[StageResult] = field(default_factory=list)
    waves: list[WaveResult] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    """Children the root pruned during the walk (never waited on)."""
    started: str = field(default_factory=lambda: now_iso())
    finished: str | None = None

    def stage(self, name: str) -> StageResult:
        for result in self.stages:
            if result.name == name:
                return result
        result = StageResult(name)
        self.stages.append(result)
        return result

    def to_dict(self) -> dict[str, Any]:
        scrubbed: dict[str, Any] = _scrubbed(asdict(self))
        return scrubbed


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # after a replace that failed: never a .tmp left behind


def write_junit(report: Report, path: Path) -> None:
    """One testcase per stage and per app gate; a failed stage carries its ``why``."""
    data = report.to_dict()
    suite = ET.Element("testsuite", name=f"clusterboot.{data['profile']}")
    failures = skipped = 0
    for stage in data["stages"]:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="stages",
            name=stage["name"],
            time=f"{stage['seconds']:.3f}",
        )
        if stage["status"] == "failed":
            failures += 1
            ET.SubElement(
                case, "failure", message=stage["why"].splitlines()[0] if stage["why"] else ""
            )
        elif stage["status"] == "not-run":
            skipped += 1
            ET.SubElement(case, "skipped", message=stage["why"])
    for wave in data["waves"]:
        for app in wave["apps"]:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"wave.{wave['wave']}",
                name=app["name"],
                time=f"{app['seconds']:.3f}",
            )
            if app["health"] != "Healthy" or app["sync"] != "Synced":
                failures += 1
                ET.SubElement(case, "failure", message=f"{app['sync']}/{app['health']}")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
