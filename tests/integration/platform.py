"""Helpers for the platform stages' integration tests: profile overrides for a component
served from an offline fixture, the last run's report, and the cluster's network namespace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bootstrap.controlplane.layout import read_pid
from tests.integration.localcluster import LocalCluster


def component(name: str, source: dict[str, str], **extra: object) -> list[str]:
    """``--set`` values that turn ``name`` on with ``source`` (and any extra settings)."""
    sets = [
        f"components.{name}.enabled=true",
        f"components.{name}.source.url={source['url']}",
        f"components.{name}.source.sha256={source['sha256']}",
    ]
    return sets + [f"components.{name}.{key}={value}" for key, value in extra.items()]


def stage_report(cluster: LocalCluster, name: str) -> dict[str, Any]:
    """The named stage's entry in the last `up` report."""
    report = json.loads((cluster.state_dir / "reports" / "last-up.json").read_text())
    return next(s for s in report["stages"] if s["name"] == name)


def up_ok(cluster: LocalCluster, *sets: str) -> dict[str, Any]:
    """Run `up`; assert it succeeded; the whole report."""
    code, out, err = cluster.up(*sets)
    assert code == 0, f"up failed:\n{out}\n{err[-3000:]}"
    return dict(json.loads((cluster.state_dir / "reports" / "last-up.json").read_text()))


def keeper_pid(cluster: LocalCluster) -> int:
    pid = read_pid(cluster.state_dir / "local-cluster" / "keeper.pid")
    assert pid is not None, "the local cluster's keeper is not running"
    return pid


def ca_file(cluster: LocalCluster) -> Path:
    return cluster.state_dir / "local-cluster" / "pki" / "ca.crt"
