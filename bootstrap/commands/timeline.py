"""`invoke report`: a run's stages and waves on one time axis, as a self-contained HTML page
(inline SVG, no script, nothing fetched), from the JSON report every `up` writes."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap import yaml_guard
from bootstrap.commands import preflight
from bootstrap.errors import InputError
from bootstrap.health.workloads import epoch_of

WIDTH = 900  # px for the time axis
LABEL = 190  # px for the row labels
ROW = 26
COLOURS = {
    "changed": "#3b82f6",
    "unchanged": "#9ca3af",
    "failed": "#dc2626",
    "not-run": "#e5e7eb",
    "wave": "#10b981",
}


@dataclass(frozen=True)
class Bar:
    label: str
    start: float  # seconds after the run started
    seconds: float
    colour: str
    note: str


MAX_REPORT = 64 << 20
"""Bytes a report may have: a run's report is kilobytes."""


def load(path: Path) -> dict[str, Any]:
    hint = "give the JSON report `invoke up` wrote (its summary names the file)"
    try:
        data = json.loads(yaml_guard.read_regular(path, limit=MAX_REPORT))
    except (yaml_guard.NotARegularFile, yaml_guard.TooLarge) as err:
        raise InputError(f"the report {err}", hint=hint) from err
    except OSError as err:
        raise InputError(f"cannot read the report {path}: {err.strerror or err}") from err
    except ValueError as err:
        raise InputError(f"{path} is not a JSON report: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        raise InputError(
            f"{path} is not a clusterboot report (no `stages` list)",
            hint="give the JSON report `invoke up` wrote (its summary names the file)",
        )
    return data


def bars(report: Mapping[str, Any]) -> list[Bar]:
    """One bar per stage that ran, then one per wave, offset from the run's start."""
    origin = epoch_of(report.get("started"))
    found = []
    for stage in report["stages"]:
        start = epoch_of(stage.get("started"))
        if start is None or origin is None:
            continue
        why = str(stage.get("why") or "").splitlines()[0] if stage.get("why") else ""
        found.append(
            Bar(
                stage["name"],
                start - origin,
                float(stage.get("seconds") or 0.0),
                COLOURS.get(str(stage.get("status")), COLOURS["not-run"]),
                f"{stage.get('status')}: {why}".rstrip(": "),
            )
        )
    for wave in report.get("waves") or []:
        start = epoch_of(wave.get("started"))
        if start is None or origin is None:
            continue
        apps = ", ".join(
            f"{a['name']} {a['sync']}/{a['health']} {float(a['seconds']):.1f}s"
            for a in wave.get("apps") or []
        )
        found.append(
            Bar(
                f"wave {wave['wave']}",
                start - origin,
                float(wave.get("seconds") or 0.0),
                COLOURS["wave"],
                apps,
            )
        )
    return found


def render(report: Mapping[str, Any]) -> str:
    shown = bars(report)
    total = max((b.start + b.seconds for b in shown), default=0.0) or 1.0
    scale = WIDTH / total
    height = ROW * (len(shown) + 2)
    rows = []
    for index, bar in enumerate(shown):
        y = ROW * (index + 1)
        x, w = LABEL + bar.start * scale, max(bar.seconds * scale, 2.0)
        tip = html.escape(f"{bar.label}: {bar.seconds:.1f}s from {bar.start:.1f}s; {bar.note}")
        rows.append(
            f'<text x="{LABEL - 8}" y="{y + 17}" text-anchor="end">{html.escape(bar.label)}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" '
            f'fill="{bar.colour}"><title>{tip}</title></rect>'
            f'<text x="{x + w + 4:.1f}" y="{y + 17}" class="s">{bar.seconds:.1f}s</text>'
        )
    ticks = []
    step = _step(total)
    t = 0.0
    while t <= total + 1e-9:
        x = LABEL + t * scale
        ticks.append(
            f'<line x1="{x:.1f}" y1="{ROW}" x2="{x:.1f}" y2="{height - ROW}" class="g"/>'
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" class="s">{t:g}s</text>'
        )
        t += step
    title = html.escape(
        f"clusterboot up — profile {report.get('profile', '?')}: {report.get('result', '?')}, "
        f"{total:.1f}s"
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title><style>body{{font:14px sans-serif}}"
        "text.s{font-size:11px;fill:#374151}line.g{stroke:#e5e7eb}</style></head><body>"
        f"<h1>{title}</h1>"
        f'<svg width="{LABEL + WIDTH + 60}" height="{height}" role="img">'
        f"{''.join(ticks)}{''.join(rows)}</svg>"
        "<p>Bars: stages (blue changed, grey unchanged, red failed) and waves (green). "
        "Hover a bar for its status and apps.</p></body></html>\n"
    )


def write(report_file: Path, out: Path) -> int:
    """Render ``report_file`` into ``out``; the number of bars drawn."""
    data = load(report_file)
    preflight.check_file(out, flag="--out")
    out.write_text(render(data))
    return len(bars(data))


def _step(total: float) -> float:
    """Seconds between ticks: at most about 12 ticks, however long the run says it took."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200):
        if total / step <= 12:
            return float(step)
    return total / 12
