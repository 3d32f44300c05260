"""`truceline demo` end to end on a short simulated period: every stage leaves its output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from truceline.cli import app


def test_demo_runs_the_whole_pipeline(tmp_path: Path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--hours", "2", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert (out / "line_map.png").stat().st_size > 10_000
    for name in ("sensors.json", "reports.jsonl", "truth.json"):
        assert (out / "scenario" / name).stat().st_size > 0
    events = json.loads((out / "events.geojson").read_text())
    types = {f["properties"]["type"] for f in events["features"]}
    assert {"launch", "impact"} <= types
    assert any(f["properties"]["responsible"] for f in events["features"])
    day = json.loads((out / "scenario" / "truth.json").read_text())["scenario"]["start"][:10]
    for edition in ("public", "restricted"):
        for ext in ("html", "pdf"):
            assert (out / "reports" / f"daily-{day}-{edition}.{ext}").stat().st_size > 1_000
    assert "finding verifies offline: PASS" in " ".join(result.output.split())
    assert (out / "truceline.sqlite").exists()
