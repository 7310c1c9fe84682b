"""How the wave walk scales: 10, 100, 500 and 1,000 child apps across 10 waves, with the Argo
CD simulator, one fresh process (and local cluster) per size.

    .venv/bin/python bench/scaling.py [--sizes 10,100,500,1000] [--svg bench/scaling.svg]

Per size: the walk's CPU seconds and wall time (bench/sync_waves.py, one round), its API
requests, and the peak resident memory of the process that ran the walk (``wait4``'s
``ru_maxrss``: the walk, its watch and the bench's client; the simulator runs in a process of
its own). Writes an SVG plot of CPU seconds and requests against the number of apps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")


def measure(apps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        proc = subprocess.Popen(
            [
                PYTHON,
                str(REPO / "bench" / "sync_waves.py"),
                "--apps",
                str(apps),
                "--waves",
                "10",
                "--rounds",
                "1",
                "--json",
                str(out),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        shown = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{apps} apps: the bench failed:\n{shown}")
        [figures] = json.loads(out.read_text())
    figures["peak_rss_mib"] = usage.ru_maxrss / 1024
    return dict(figures)


def svg(rows: list[dict[str, Any]]) -> str:
    """CPU seconds and API requests against apps, each on its own scale, as a plain SVG."""
    width, height, pad = 640, 360, 60
    top = max(r["apps"] for r in rows)

    def x(apps: float) -> float:
        return float(pad + (width - 2 * pad) * apps / top)

    def line(key: str, colour: str) -> str:
        peak = max(r[key] for r in rows) or 1
        points = " ".join(
            f"{x(r['apps']):.1f},{height - pad - (height - 2 * pad) * r[key] / peak:.1f}"
            for r in rows
        )
        dots = "".join(
            f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{colour}"/>'
            for p in points.split()
        )
        return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>{dots}'

    labels = "".join(
        f'<text x="{x(r["apps"]):.1f}" y="{height - pad + 18}" font-size="11" '
        f'text-anchor="middle">{r["apps"]}</text>'
        for r in rows
    )
    cpu_top = max(r["cpu"] for r in rows)
    requests_top = max(r["requests"] for r in rows)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{width / 2}" y="24" font-size="14" text-anchor="middle">'
        f"The wave walk, 10 waves: cost against child apps</text>"
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="black"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>'
        f"{labels}"
        f'<text x="{width / 2}" y="{height - 18}" font-size="12" text-anchor="middle">'
        "child apps</text>"
        f"{line('cpu', '#c0392b')}{line('requests', '#2471a3')}"
        f'<text x="{pad + 10}" y="{pad - 10}" font-size="12" fill="#c0392b">walk CPU seconds '
        f"(top: {cpu_top:.2f} s)</text>"
        f'<text x="{width - pad}" y="{pad - 10}" font-size="12" fill="#2471a3" text-anchor="end">'
        f"API requests (top: {requests_top})</text>"
        "</svg>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,500,1000")
    parser.add_argument("--svg", default=str(REPO / "bench" / "scaling.svg"))
    args = parser.parse_args()
    rows = []
    for apps in (int(n) for n in args.sizes.split(",")):
        row = measure(apps)
        rows.append(row)
        print(
            f"{apps:>5} apps: walk cpu {row['cpu']:.3f} s, wall {row['wall']:.1f} s, "
            f"{row['requests']} API requests, {row['events']} watch events, "
            f"latency p99 {row['latency_p99_ms']:.0f} ms, peak RSS {row['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    Path(args.svg).write_text(svg(rows))
    per_app = [r["cpu"] / r["apps"] * 1000 for r in rows]
    print("walk CPU per app: " + ", ".join(f"{v:.2f} ms" for v in per_app))
    print(f"plot: {args.svg}")


if __name__ == "__main__":
    main()
