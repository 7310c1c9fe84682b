"""`invoke report`: the run's stages and waves as bars on one time axis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootstrap.commands import timeline
from bootstrap.errors import InputError


def sample() -> dict[str, object]:
    return {
        "profile": "local",
        "result": "failed",
        "started": "2026-01-01T10:00:00.000Z",
        "stages": [
            {
                "name": "cluster_local",
                "status": "changed",
                "started": "2026-01-01T10:00:00.500Z",
                "seconds": 10.0,
                "why": "2 nodes Ready",
            },
            {
                "name": "argocd",
                "status": "failed",
                "started": "2026-01-01T10:00:10.500Z",
                "seconds": 5.0,
                "why": "gate failed\n  - Deployment argocd/x",
            },
            {
                "name": "root_app",
                "status": "not-run",
                "started": None,
                "seconds": 0.0,
                "why": "needs argocd",
            },
        ],
        "waves": [
            {
                "wave": -1,
                "started": "2026-01-01T10:00:15.500Z",
                "seconds": 2.0,
                "apps": [{"name": "<ns>", "sync": "Synced", "health": "Healthy", "seconds": 2.0}],
            },
        ],
    }


def test_stages_that_ran_and_waves_become_bars_offset_from_the_run_start() -> None:
    found = timeline.bars(sample())
    assert [(b.label, b.start, b.seconds) for b in found] == [
        ("cluster_local", 0.5, 10.0),
        ("argocd", 10.5, 5.0),
        ("wave -1", 15.5, 2.0),
    ]
    assert found[1].colour == timeline.COLOURS["failed"]
    assert found[1].note == "failed: gate failed"
    assert found[2].note == "<ns> Synced/Healthy 2.0s"


def test_the_page_is_self_contained_and_escapes_what_it_shows(tmp_path: Path) -> None:
    report, out = tmp_path / "r.json", tmp_path / "t.html"
    report.write_text(json.dumps(sample()))
    assert timeline.write(report, out) == 3
    page = out.read_text()
    assert "&lt;ns&gt;" in page
    assert "<ns>" not in page
    assert "<script" not in page
    assert "http" not in page.replace('xmlns="http', "")  # nothing fetched
    assert page.count("<rect") == 3
    # The longest run (17.5 s) spans the whole axis: the last bar ends at its right edge.
    assert f'x="{timeline.LABEL + 15.5 * timeline.WIDTH / 17.5:.1f}"' in page


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "is not a JSON report"), ('{"profile": "x"}', "is not a clusterboot report")],
)
def test_a_file_that_is_not_a_report_is_bad_input(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        timeline.load(path)
