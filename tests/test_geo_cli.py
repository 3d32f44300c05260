"""`truceline line info` / `line map` / `demo` through the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from truceline.cli import app

runner = CliRunner()


def _two_boxes(tmp_path):
    def box(x0, x1):
        return {"type": "Polygon", "coordinates": [[[x0, 48], [x1, 48], [x1, 49], [x0, 49], [x0, 48]]]}

    fc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"party": "UA"}, "geometry": box(30, 31)},
            {"type": "Feature", "properties": {"party": "RU"}, "geometry": box(31, 32)},
        ],
    }
    p = tmp_path / "boxes.geojson"
    p.write_text(json.dumps(fc))
    return p


def test_line_info_json_default_territory():
    res = runner.invoke(app, ["line", "info", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["parties"] == ["UA", "RU"]
    assert 1_100 < data["main_length_km"] < 1_300
    assert data["n_parts"] == len(data["parts"]) >= 2
    assert abs(sum(p["length_km"] for p in data["parts"]) - data["total_length_km"]) < 0.01
    assert data["n_sectors"] == len(data["sectors"]) and data["sectors"][0]["name"] == "A-01"


def test_line_info_table(tmp_path):
    res = runner.invoke(app, ["line", "info", "--territory", str(_two_boxes(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "111.2" in res.output and "A-01..A-03" in res.output


def test_line_map_svg(tmp_path):
    out = tmp_path / "m.svg"
    res = runner.invoke(app, ["line", "map", "--territory", str(_two_boxes(tmp_path)), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert text.startswith("<?xml") and "line of contact" in text and "A-02" in text


def test_line_map_bad_suffix(tmp_path):
    res = runner.invoke(app, ["line", "map", "--out", str(tmp_path / "m.txt")])
    assert res.exit_code != 0


def test_bad_territory_is_one_line_error(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.geojson"
    bad.write_text("[1, 2")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from truceline.cli import main; main()",
            "line",
            "info",
            "--territory",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
