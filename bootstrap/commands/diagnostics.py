"""A diagnostics bundle for a failed run: what someone reading a CI log later needs to see
why, in one ``.tar.gz``. The run's report, the nodes, every pod that is not Ready and why,
recent Warning events, the Argo CD Applications' sync/health/conditions, SealedSecrets'
status, the tail of the logs of every container of a pod that is not Ready or that runs in one
of the platform's namespaces (its last run's too when it restarted), and (local provider) the
tail of every component's log.

No Secret object is read, and every text goes through ``secrets.redact``. Collecting never
fails the run: what could not be read is listed in ``errors.txt``.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from bootstrap.components.sealed_secrets import sealing
from bootstrap.errors import ClusterbootError
from bootstrap.health import workloads
from bootstrap.kube.client import Kube
from bootstrap.secrets import redact
from bootstrap.waves import argo

LOG_LINES = 2000
EVENTS = 200
POD_LOG_LINES = 300
MAX_POD_LOGS = 60
"""Containers whose logs a bundle holds at most (a broken cluster may have hundreds)."""
MAX_LOG_FAILURES = 3
"""Log reads that may fail before the rest are not tried (kwok's simulated nodes serve none)."""
Obj = dict[str, Any]


def collect(
    out: Path,
    *,
    kube: Kube | None,
    report_file: Path | None = None,
    logs_dir: Path | None = None,
    log_namespaces: Iterable[str] = (),
) -> Path:
    """Write the bundle to ``out`` (a ``.tar.gz``, mode 0600) and return its path."""
    files: dict[str, str] = {}
    errors: list[str] = []
    if report_file is not None and report_file.is_file():
        files["report.json"] = report_file.read_text()
    if kube is not None:
        for name, gather in _GATHERERS.items():
            try:
                files[f"cluster/{name}"] = gather(kube)
            except ClusterbootError as err:
                errors.append(f"{name}: {err.message}")
        files.update(container_logs(kube, set(log_namespaces), errors))
    for log in sorted(logs_dir.glob("*.log")) if logs_dir and logs_dir.is_dir() else []:
        files[f"logs/{log.name}"] = _tail(log, LOG_LINES)
    if errors:
        files["errors.txt"] = "\n".join(errors) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        out.chmod(0o600)
        with tarfile.open(fileobj=raw, mode="w:gz") as bundle:
            for name, text in files.items():
                _add(bundle, f"{out.name.removesuffix('.tar.gz')}/{name}", redact(text))
    return out


def _add(bundle: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    bundle.addfile(info, io.BytesIO(data))


def _tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"


def nodes(kube: Kube) -> str:
    items, _ = kube.list("v1", "Node")
    rows = []
    for node in items:
        conds = workloads.conditions(node)
        ready = conds.get("Ready", {})
        rows.append(f"{node['metadata']['name']}: Ready={ready.get('status', 'Unknown')}")
    return "\n".join(rows) + "\n"


def pods_not_ready(kube: Kube) -> str:
    items, _ = kube.list("v1", "Pod")
    rows = []
    for pod in items:
        if workloads.ready(pod):
            continue
        meta, status = pod["metadata"], pod.get("status") or {}
        why = [
            f"{cs.get('name')}: {reason}"
            for cs in status.get("containerStatuses") or []
            for reason in [((cs.get("state") or {}).get("waiting") or {}).get("reason")]
            if reason
        ]
        where = f"{meta.get('namespace')}/{meta['name']}"
        rows.append(f"{where}: {status.get('phase', 'Unknown')} {'; '.join(why)}".rstrip())
    return "\n".join(rows) + "\n" if rows else "every pod is Ready\n"


def container_logs(kube: Kube, namespaces: set[str], errors: list[str]) -> dict[str, str]:
    """``pods/NS/POD/CONTAINER.log`` (and ``.previous.log``) for the containers of pods that
    are not Ready, then of the pods in ``namespaces``: at most MAX_POD_LOGS containers."""
    try:
        items, _ = kube.list("v1", "Pod")
    except ClusterbootError as err:
        errors.append(f"pod logs: {err.message}")
        return {}
    suspects = [p for p in items if not workloads.ready(p)]
    platform = [p for p in items if workloads.ready(p) and p["metadata"].get("namespace")
                in namespaces]
    files: dict[str, str] = {}
    errors_before = len(errors)
    for pod in [*suspects, *platform]:
        meta, status = pod["metadata"], pod.get("status") or {}
        for state in [*(status.get("initContainerStatuses") or []),
                      *(status.get("containerStatuses") or [])]:
            if len(files) >= MAX_POD_LOGS:
                errors.append(f"pod logs: only the first {MAX_POD_LOGS} containers kept")
                return files
            where = f"pods/{meta.get('namespace')}/{meta['name']}/{state.get('name')}"
            runs = [False, True] if state.get("restartCount") else [False]
            for previous in runs:
                name = f"{where}.previous.log" if previous else f"{where}.log"
                try:
                    files[name] = kube.pod_log(
                        meta["namespace"], meta["name"], str(state.get("name")),
                        tail_lines=POD_LOG_LINES, previous=previous,
                    )
                except ClusterbootError as err:
                    errors.append(f"{name}: {err.message}")
                    if len(errors) - errors_before >= MAX_LOG_FAILURES:
                        errors.append("pod logs: given up (the cluster does not serve them)")
                        return files
    return files


def warning_events(kube: Kube) -> str:
    items, _ = kube.list("v1", "Event")
    warnings = [e for e in items if e.get("type") == "Warning"]
    warnings.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    rows = [
        f"{e.get('lastTimestamp') or e.get('eventTime')} {_involved(e)}: {e.get('reason')}: "
        f"{e.get('message', '')}".rstrip()
        for e in warnings[-EVENTS:]
    ]
    return "\n".join(rows) + "\n" if rows else "no Warning events\n"


def applications(kube: Kube) -> str:
    return _statuses(kube, argo.API_VERSION, argo.KIND, _application)


def sealed_secrets(kube: Kube) -> str:
    return _statuses(kube, *sealing.SEALED_SECRET, lambda o: o.get("status") or {})


def _statuses(kube: Kube, api: str, kind: str, summary: Callable[[Obj], Obj]) -> str:
    try:
        items, _ = kube.list(api, kind)
    except ClusterbootError as err:
        if "no matches for kind" in err.message:
            return f"{kind} is not served by this cluster\n"
        raise
    found = {f"{o['metadata'].get('namespace')}/{o['metadata']['name']}": summary(o) for o in items}
    return yaml.safe_dump(found, sort_keys=True) if found else f"no {kind}\n"


def _application(app: Obj) -> Obj:
    status = app.get("status") or {}
    operation = status.get("operationState") or {}
    return {
        "wave": argo.wave_of(app),
        "sync": (status.get("sync") or {}).get("status"),
        "health": status.get("health"),
        "conditions": status.get("conditions") or [],
        "operation": {k: operation.get(k) for k in ("phase", "message") if operation.get(k)},
        "unhealthy": []
        if (status.get("health") or {}).get("status") == "Healthy"
        else argo.diagnosis(app),
    }


def _involved(event: Obj) -> str:
    obj = event.get("involvedObject") or {}
    return f"{obj.get('kind')} {obj.get('namespace', '')}/{obj.get('name')}"


_GATHERERS: dict[str, Callable[[Kube], str]] = {
    "nodes.txt": nodes,
    "pods-not-ready.txt": pods_not_ready,
    "warning-events.txt": warning_events,
    "applications.yaml": applications,
    "sealed-secrets.yaml": sealed_secrets,
}


def names(bundle: Path) -> Iterable[str]:
    """The files in a bundle (for messages and tests)."""
    with tarfile.open(bundle) as opened:
        return opened.getnames()
