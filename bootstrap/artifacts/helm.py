"""Helm charts as a component source: finding a chart version in its repository's index, and
rendering it with ``helm template`` into the objects the install layer applies.

clusterboot never runs ``helm install``: the rendered objects are server-side applied like any
pinned manifest, so a chart-installed component is observed, upgraded, repaired and gated the
same way. Release names are fixed per component (``RELEASES``) because a Helm release name
changes object names (contracts pitfall 13).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bootstrap.errors import InputError
from bootstrap.processes.runner import Runner
from bootstrap.profile.schema import ChartSource

RELEASES = {"metallb": "metallb", "argocd": "argocd", "sealed_secrets": "sealed-secrets"}
DEFAULT_VALUES: dict[str, dict[str, object]] = {
    # The chart's default is FRR mode (pitfall 16); clusterboot installs native mode.
    "metallb": {"speaker": {"frr": {"enabled": False}}, "frrk8s": {"enabled": False}},
    # kubeseal and our stage expect the controller under its manifest name (contracts §5).
    "sealed_secrets": {"fullnameOverride": "sealed-secrets-controller"},
}
RENDER_SECONDS = 120.0


@dataclass(frozen=True)
class IndexEntry:
    """One chart version as the repository's index.yaml lists it."""

    url: str
    digest: str | None


def index_url(repository: str) -> str:
    return repository.rstrip("/") + "/index.yaml"


def find_in_index(text: str, chart: ChartSource) -> IndexEntry:
    """The download URL (absolute) and digest of ``chart`` in a repository index.

    Raises InputError naming the versions the repository does have when it lacks this one.
    """
    where = index_url(chart.repository)
    try:
        index = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"{where} is not a Helm repository index: {err}") from err
    entries = (index or {}).get("entries") if isinstance(index, dict) else None
    if not isinstance(entries, dict):
        raise InputError(f"{where} is not a Helm repository index (no `entries`)")
    versions = [e for e in entries.get(chart.chart) or [] if isinstance(e, dict)]
    if not versions:
        known = ", ".join(sorted(entries)[:10]) or "none"
        raise InputError(
            f"chart {chart.chart!r} is not in {where}",
            hint=f"charts there: {known}; check components.X.chart.chart",
        )
    wanted = chart.version.removeprefix("v")
    entry = next(
        (e for e in versions if str(e.get("version", "")).removeprefix("v") == wanted), None
    )
    if entry is None:
        have = ", ".join(str(e.get("version")) for e in versions[:8])
        raise InputError(
            f"{where} has no version {chart.version} of chart {chart.chart!r}",
            hint=f"newest versions there: {have}",
        )
    urls = entry.get("urls") or []
    if not urls:
        raise InputError(f"{where}: chart {chart.chart} {chart.version} lists no download URL")
    url = urllib.parse.urljoin(chart.repository.rstrip("/") + "/", str(urls[0]))
    digest = entry.get("digest")
    return IndexEntry(url=url, digest=str(digest).lower() if digest else None)


def values_for(component: str, chart: ChartSource) -> dict[str, Any]:
    """The profile's values over clusterboot's defaults for the component (deep merge)."""
    return _merge(DEFAULT_VALUES.get(component, {}), chart.values)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def render(
    runner: Runner,
    chart_file: Path,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    kube_version: str | None = None,
    helm_binary: str = "helm",
) -> str:
    """``helm template`` of a packaged chart: CRDs included, test hooks left out, Helm's own
    config and cache in a scratch directory (nothing read from or written to the user's)."""
    with tempfile.TemporaryDirectory(prefix="clusterboot-helm-") as scratch:
        values_file = Path(scratch) / "values.json"
        fd = os.open(values_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out)  # JSON is YAML; values may hold credentials: 0600
        argv = [
            helm_binary,
            "template",
            release,
            str(chart_file),
            "--namespace",
            namespace,
            "--include-crds",
            "--skip-tests",
            "--values",
            str(values_file),
        ]
        if kube_version:
            argv += ["--kube-version", kube_version]
        env = {
            name: str(Path(scratch) / name.lower())
            for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
        }
        result = runner.run(argv, env=env, timeout=RENDER_SECONDS)
        return result.stdout
