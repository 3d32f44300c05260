"""`truceline analyze` contract: spec examples, signed foreign scenarios, quarantine,
determinism, territory properties, one-line errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from scenario_gen import make_scenario
from truceline.analysis.run import quarantine_path, run_analysis
from truceline.ingest import load_registry, validate_lines

SPEC = Path("/work/shared/spec")
CLI = (sys.executable, "-c", "from truceline.cli import main; main()")
REQUIRED = ("id", "type", "time", "cov_en_m2", "attribution", "responsible", "violations", "reports")


def _check_geojson(doc):
    assert doc["type"] == "FeatureCollection"
    ids = set()
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        p = f["properties"]
        for k in REQUIRED:
            assert k in p, k
        assert p["id"] not in ids
        ids.add(p["id"])
        c = p["cov_en_m2"]
        assert c[0][1] == c[1][0] and c[0][0] > 0 and c[1][1] > 0 and c[0][0] * c[1][1] > c[0][1] ** 2
        # filled by the issue-6 hook (attribution/rules) when present; shape per spec either way
        assert isinstance(p["attribution"], dict) and sum(p["attribution"].values()) <= 1.0 + 1e-9
        assert all(0.0 <= v <= 1.0 for v in p["attribution"].values())
        assert p["responsible"] is None or p["responsible"] in p["attribution"]
        assert isinstance(p["violations"], list)
        assert p["reports"] and p["time"].endswith("Z")
    return ids


def _write_scenario(tmp: Path, sc, extra_lines=()):
    (tmp / "sensors.json").write_text(json.dumps(sc.sensors))
    lines = [json.dumps(r) for r in sc.reports] + list(extra_lines)
    (tmp / "reports.jsonl").write_text("\n".join(lines) + "\n")


def _territory(tmp: Path, lon0=36.2, lat0=47.6):
    """Two parties split by the meridian lon0 (a straight line of contact)."""
    def poly(a, b):
        return {"type": "Polygon", "coordinates": [[[a, lat0 - 1], [b, lat0 - 1], [b, lat0 + 1], [a, lat0 + 1], [a, lat0 - 1]]]}

    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"party": "AA"}, "geometry": poly(lon0 - 1, lon0)},
        {"type": "Feature", "properties": {"party": "BB"}, "geometry": poly(lon0, lon0 + 1)}]}
    p = tmp / "territory.geojson"
    p.write_text(json.dumps(doc))
    return p


def test_spec_examples(tmp_path):
    out = tmp_path / "events.geojson"
    summary = run_analysis(SPEC / "examples_reports.jsonl", SPEC / "examples_sensors.json", None, out)
    doc = json.loads(out.read_text())
    _check_geojson(doc)
    assert summary["quarantined"] == 0
    n_lines = sum(1 for line in (SPEC / "examples_reports.jsonl").read_text().splitlines() if line.strip())
    assert summary["accepted"] == n_lines  # counted although handed to the analysis in columns
    assert quarantine_path(out).read_text() == ""
    types = sorted(f["properties"]["type"] for f in doc["features"])
    # one launch heard by six arrays and tracked by radar; two radar tracks; drone; satellite; monitor
    assert types == ["impact", "impact", "launch", "launch", "monitor_report", "thermal", "weapon_sighting"]
    fused = [f for f in doc["features"] if f["properties"].get("n_arrays") == 6]
    assert len(fused) == 1 and len(fused[0]["properties"]["reports"]) == 7


def test_signed_foreign_scenario_with_bad_lines(tmp_path):
    sc = make_scenario(seed=8, n_arrays=16, n_shots=10, sign=True, radar_fraction=0.5, uav_objects=3)
    good = sc.reports[0]
    tampered = dict(good, body=dict(good["body"]))
    tampered["id"] = "tampered-1"
    unknown = dict(good, id="ghost", sensor="nobody")
    acoustic = next(r for r in sc.reports if r["kind"] == "acoustic")
    forged = json.loads(json.dumps(acoustic))
    forged["id"] = "forged"
    forged["seq"] = 10**9
    forged["time"] = acoustic["time"]
    extra = ["{not json", json.dumps(tampered), json.dumps(unknown), json.dumps(forged), json.dumps(good), ""]
    _write_scenario(tmp_path, sc, extra)
    _territory(tmp_path)
    out = tmp_path / "ev.geojson"
    summary = run_analysis(tmp_path / "reports.jsonl", tmp_path / "sensors.json", tmp_path / "territory.geojson", out)
    doc = json.loads(out.read_text())
    _check_geojson(doc)
    q = [json.loads(x) for x in quarantine_path(out).read_text().splitlines()]
    reasons = {x["reason"] for x in q}
    assert {"malformed", "bad_signature", "unknown_sensor"} <= reasons
    assert all(set(x) >= {"line", "id", "reason", "detail"} for x in q)
    assert summary["duplicates"] == 1
    in_events = {r for f in doc["features"] for r in f["properties"]["reports"]}
    assert not in_events & {"tampered-1", "ghost", "forged"}
    # what validation accepted is exactly what may appear in events
    reg = load_registry(tmp_path / "sensors.json")
    accepted = {r["id"] for r in validate_lines((tmp_path / "reports.jsonl").read_bytes().splitlines(), reg).accepted}
    assert in_events <= accepted
    zones = {f["properties"].get("zone") for f in doc["features"]}
    assert zones & {"AA", "BB"}
    assert all("distance_to_line_m" in f["properties"] for f in doc["features"])


def _attributed_by_side(tmp: Path, lon0: float, lat0: float, territory: list[dict]) -> dict:
    """Run a signed scenario centred on (lon0, lat0) with the given territory features; count
    launches and sightings by (type, true side of the meridian lon0, responsible party)."""
    sc = make_scenario(seed=8, n_arrays=16, n_shots=20, lon0=lon0, lat0=lat0, radar_fraction=0.5,
                       uav_objects=3, sign=True)
    _write_scenario(tmp, sc)
    (tmp / "territory.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": territory}))
    out = tmp / "ev.geojson"
    run_analysis(tmp / "reports.jsonl", tmp / "sensors.json", tmp / "territory.geojson", out)
    counts: dict = {}
    for f in json.loads(out.read_text())["features"]:
        p = f["properties"]
        if p["type"] in ("launch", "weapon_sighting"):
            west = (f["geometry"]["coordinates"][0] - lon0 + 180.0) % 360.0 - 180.0 < 0
            key = (p["type"], "AA" if west else "BB", p["responsible"])
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("lat0", [0.0, -45.0])
def test_line_of_contact_on_the_antimeridian(tmp_path, lat0):
    """Territories split at +-180 (as RFC 7946 asks) with arrays on both sides: the same
    events, sides and named parties as the same scenario anywhere else."""
    def box(a, b, lat0):
        return {"type": "Polygon", "coordinates": [[[a, lat0 - 1], [b, lat0 - 1], [b, lat0 + 1], [a, lat0 + 1],
                                                    [a, lat0 - 1]]]}

    def feat(party, geom):
        return {"type": "Feature", "properties": {"party": party}, "geometry": geom}

    (tmp_path / "ref").mkdir()
    (tmp_path / "am").mkdir()
    ref = _attributed_by_side(tmp_path / "ref", 36.2, lat0,
                              [feat("AA", box(35.2, 36.2, lat0)), feat("BB", box(36.2, 37.2, lat0))])
    am = _attributed_by_side(tmp_path / "am", 180.0, lat0,
                             [feat("AA", box(179.0, 180.0, lat0)), feat("BB", box(-180.0, -179.0, lat0))])
    assert am == ref
    named = {k: v for k, v in am.items() if k[2] is not None}
    assert sum(named.values()) >= 15 and all(side == party for (_t, side, party) in named)


def test_deterministic_and_order_free(tmp_path):
    sc = make_scenario(seed=9, n_arrays=14, n_shots=8, sign=True)
    _write_scenario(tmp_path, sc)
    a, b = tmp_path / "a.geojson", tmp_path / "b.geojson"
    run_analysis(tmp_path / "reports.jsonl", tmp_path / "sensors.json", None, a)
    run_analysis(tmp_path / "reports.jsonl", tmp_path / "sensors.json", None, b)
    assert a.read_bytes() == b.read_bytes()
    lines = (tmp_path / "reports.jsonl").read_text().splitlines()
    random.Random(3).shuffle(lines)
    (tmp_path / "shuf.jsonl").write_text("\n".join(lines) + "\n")
    c = tmp_path / "c.geojson"
    run_analysis(tmp_path / "shuf.jsonl", tmp_path / "sensors.json", None, c)
    assert json.loads(a.read_text()) == json.loads(c.read_text())


@pytest.mark.parametrize("what", ["reports", "sensors", "territory"])
def test_cli_errors_are_one_line(tmp_path, what):
    sc = make_scenario(seed=10, n_arrays=6, n_shots=1, sign=True)
    _write_scenario(tmp_path, sc)
    terr = _territory(tmp_path)
    args = [str(tmp_path / "reports.jsonl"), "--sensors", str(tmp_path / "sensors.json"), "--territory", str(terr)]
    if what == "reports":
        args[0] = str(tmp_path / "missing.jsonl")
    elif what == "sensors":
        (tmp_path / "sensors.json").write_text("[{\"id\": 3}]")
    else:
        terr.write_text("{\"type\": \"nope\"}")
    r = subprocess.run([*CLI, "analyze", *args, "--out", str(tmp_path / "o.geojson"),
                        "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error:"), r.stderr


def test_cli_runs(tmp_path):
    out = tmp_path / "e.geojson"
    r = subprocess.run([*CLI, "analyze", str(SPEC / "examples_reports.jsonl"),
                        "--sensors", str(SPEC / "examples_sensors.json"), "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] == 7
    _check_geojson(json.loads(out.read_text()))


def test_cli_without_territory_uses_the_shipped_line(tmp_path):
    """No --territory: the shipped line and the default profile still attribute and check, so an
    empty `violations` never means "not checked"."""
    sc = make_scenario(seed=4, n_arrays=14, n_shots=12, sign=True)
    _write_scenario(tmp_path, sc)
    out = tmp_path / "e.geojson"
    r = subprocess.run([*CLI, "analyze", str(tmp_path / "reports.jsonl"), "--sensors", str(tmp_path / "sensors.json"),
                        "--out", str(out), "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    launches = [f["properties"] for f in json.loads(out.read_text())["features"] if f["properties"]["type"] == "launch"]
    assert sum(set(p["attribution"]) == {"UA", "RU"} for p in launches) >= len(launches) // 2 > 0
    assert all("distance_to_line_m" in p for p in launches)
    assert any(p["responsible"] is not None and "fire.launch" in p["violations"] for p in launches)


def test_lines_end_at_newline_only_as_in_ingest(tmp_path):
    """A raw carriage return between JSON tokens is whitespace inside one line: the report is
    accepted and the quarantine's line numbers count newlines only, as `truceline ingest` does."""
    sc = make_scenario(seed=4, n_arrays=8, n_shots=3, sign=True)
    lines = [json.dumps(r) for r in sc.reports]
    lines[1] = lines[1].replace(', "kind"', ',\r "kind"', 1)
    assert "\r" in lines[1]
    lines.append("{not json")
    (tmp_path / "sensors.json").write_text(json.dumps(sc.sensors))
    (tmp_path / "reports.jsonl").write_bytes(("\n".join(lines) + "\n").encode())
    out = tmp_path / "ev.geojson"
    summary = run_analysis(tmp_path / "reports.jsonl", tmp_path / "sensors.json", None, out)
    q = [json.loads(x) for x in quarantine_path(out).read_text().splitlines()]
    assert [(x["line"], x["reason"]) for x in q] == [(len(lines), "malformed")]
    assert summary["quarantined"] == 1 and summary["lines"] == len(lines)
