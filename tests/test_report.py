"""Daily report: content, public/restricted editions, the sensor-leak test, a real PDF."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.errors import InputError, TrucelineError
from truceline.report import EventTable, MapContext, ReportSettings, build_daily_report, write_daily_report
from truceline.report.leaks import pdf_text, scan_paths, scan_text
from truceline.report.public import coarsen_positions, public_event_id, public_radius_m
from truceline.report.synthetic import feature_collection, synthetic_events, synthetic_sensors

TERRITORY = Path(__file__).resolve().parent.parent / "src/truceline/data/territory_2026-01-06.geojson"
if not TERRITORY.exists():
    TERRITORY = Path("/work/shared/data/territory_2026-01-06.geojson")
DAY = "2026-01-20"


@pytest.fixture(scope="module")
def ctx() -> MapContext:
    return MapContext(TERRITORY, ReportSettings(public_position_grid_m=1000.0))


@pytest.fixture(scope="module")
def world(ctx, tmp_path_factory):
    """Sensors, ten days of events, and both editions of the report written once."""
    out = tmp_path_factory.mktemp("report")
    sensors = synthetic_sensors(ctx, 30, seed=3)
    feats = synthetic_events(ctx, DAY, n_per_day=60, days=10, seed=5, sensors=sensors)
    ev_path = out / "events.geojson"
    ev_path.write_bytes(orjson.dumps(feature_collection(feats)))
    sens_path = out / "sensors.json"
    sens_path.write_bytes(orjson.dumps(sensors))
    findings = [{"id": "dec-0001", "case": "case-7", "time": f"{DAY}T18:00:00Z", "party": ctx.parties[0],
                 "rules": ["ceasefire_fire"], "decision": "violation established",
                 "events": [feats[-1]["properties"]["id"]], "reports": feats[-1]["properties"]["reports"],
                 "proof": {"leaf_index": 41, "tree_size": 99}}]
    pub = write_daily_report(out / "pub", DAY, "public", events=ev_path, context=ctx, findings=findings)
    res = write_daily_report(out / "res", DAY, "restricted", events=ev_path, context=ctx, sensors=sens_path,
                             findings=findings)
    return {"sensors": sensors, "features": feats, "pub": pub, "res": res, "events": ev_path, "out": out}


def test_public_edition_reveals_no_sensor(world):
    leaks = scan_paths(world["pub"].values(), world["sensors"])
    assert leaks == [], leaks[:3]
    # monitor reports sit exactly on their monitor: the raw positions must not show either
    html = world["pub"]["html"].read_text()
    for f in world["features"]:
        for rid in f["properties"]["reports"]:
            assert rid not in html


def test_scanner_sees_what_restricted_edition_shows(world):
    """The same scan finds ids, keys and positions in the restricted edition (scanner works)."""
    leaks = scan_paths(world["res"].values(), world["sensors"])
    kinds = {lk.what.split("=")[0] for lk in leaks}
    assert {"id", "lat", "lon"} <= kinds
    assert {lk.where for lk in leaks} == {str(p) for p in world["res"].values()}


def test_pdf_scan_works_without_pdftotext(world, monkeypatch):
    """The PDF text operators are decoded by the scanner itself (kerned, two-byte strings)."""
    import truceline.report.leaks as leaks_mod

    monkeypatch.setattr(leaks_mod.shutil, "which", lambda name: None)
    text = pdf_text(world["res"]["pdf"])
    assert "RESTRICTED EDITION" in text
    found = scan_paths([world["res"]["pdf"]], world["sensors"])
    assert {"id", "lat", "lon"} <= {lk.what.split("=")[0] for lk in found}
    assert scan_paths([world["pub"]["pdf"]], world["sensors"]) == []


def test_scanner_number_formats():
    s = [{"id": "ac-013", "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8=", "lat": 48.8151932,
          "lon": 37.6778009}]
    assert scan_text("pos 48.81519 x", s)[0].what == "lat=48.81519"
    assert scan_text("lon=37.6778,", s)[0].what.startswith("lon=")
    assert scan_text("<td>48.8151932</td>", s)
    assert scan_text("report ac-013-r000001-0", s)[0].what == "id"
    assert scan_text("key jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8=", s)[0].what == "public_key"
    assert scan_text("148.81519 and 48.815 and 37.678 and ac-0131 xac-013y", s) == []


def test_public_positions_are_coarse_and_radii_circular(world, ctx):
    table = EventTable.from_features(world["features"])
    r = build_daily_report(table, ctx, DAY, "public")
    assert r.events and all(set(e) >= {"lon", "lat", "radius_m"} for e in r.events)
    for e in r.events:
        assert "cov_en_m2" not in e and "reports" not in e and "ellipse95" not in e
        assert e["radius_m"] % 100 == 0
        assert round(e["lat"], 3) == e["lat"] and round(e["lon"], 3) == e["lon"]
    # every public radius covers the 95 % circle of the true error plus the cell
    r95 = math.sqrt(5.991) * table.sigma_max_m()
    assert np.all(public_radius_m(table, 1000.0) >= r95 + 700)


def test_counts_and_comparisons(world, ctx):
    table = EventTable.from_features(world["features"])
    r = build_daily_report(table, ctx, DAY, "restricted")
    t0 = np.datetime64(f"{DAY}T00:00:00").astype("datetime64[s]").astype(float)
    in_day = (table.time >= t0) & (table.time < t0 + 86400)
    assert r.n_events == int(in_day.sum()) > 0
    assert r.n_violations == int((in_day & table.violated).sum())
    assert sum(x["events"] for x in r.by_type) == r.n_events
    assert sum(x["events"] for x in r.by_party) == r.n_events
    assert sum(x["events"] for x in r.by_sector) == r.n_events
    prev = (table.time >= t0 - 7 * 86400) & (table.time < t0)
    assert r.prev7.covered_days == 7
    assert r.prev7.events_per_day == pytest.approx(prev.sum() / 7)
    assert r.prev30.covered_days == 9  # the input spans 10 days
    assert "9 of 30" in r.prev30.label
    # a single-day input has no data for the comparisons, and says so
    one = table.take(in_day)
    r1 = build_daily_report(one, ctx, DAY, "public")
    assert r1.prev7.events_per_day is None and r1.prev7.label == "no data"
    assert "No data for the previous 7 days" in r1.summary_text()
    assert sum(t["events"] is None for t in r1.trend) == 29


def test_pdf_is_real_and_readable(world):
    pdf = world["pub"]["pdf"]
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    assert "Daily report" in text and "PUBLIC EDITION" in text
    table = EventTable.from_features(world["features"])
    r_events = [x for x in text.splitlines() if x.startswith(DAY)]
    assert r_events  # the key-figures row of the day
    assert "Weapons in violation of withdrawal lines" in text
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
        assert pages >= 4
    assert len(table) > 0


def test_findings_and_proofs_by_edition(world):
    pub = world["pub"]["html"].read_text()
    res = world["res"]["html"].read_text()
    eid = world["features"][-1]["properties"]["id"]
    assert "dec-0001" in pub and "truceline log prove dec-0001" in pub
    assert public_event_id(eid) in pub and eid not in pub
    assert eid in res and world["features"][-1]["properties"]["reports"][0] in res


def test_public_report_refused_when_it_would_leak(ctx, tmp_path, world):
    # a "sensor" whose id is a sector name that the public report prints
    sensors = [{"id": "A-01", "kind": "monitor", "public_key": "x" * 44}]
    with pytest.raises(TrucelineError, match="refused"):
        write_daily_report(tmp_path, DAY, "public", events=world["events"], context=ctx, sensors=sensors,
                           formats=("html",))
    assert not list(tmp_path.glob("*.html"))


def test_bad_events_file_names_feature_and_field(tmp_path, world, ctx):
    feats = [dict(f) for f in world["features"][:3]]
    feats[2] = {**feats[2], "properties": {k: v for k, v in feats[2]["properties"].items() if k != "cov_en_m2"}}
    p = tmp_path / "bad.geojson"
    p.write_bytes(orjson.dumps(feature_collection(feats)))
    with pytest.raises(InputError, match=r"feature 2: missing property 'cov_en_m2'"):
        write_daily_report(tmp_path, DAY, "public", events=p, context=ctx)
    with pytest.raises(InputError, match="--edition"):
        write_daily_report(tmp_path, DAY, "secret", events=world["events"], context=ctx)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-80, 80, allow_nan=False),
    lon=st.floats(-179.9, 179.9, allow_nan=False),
    grid=st.sampled_from([250.0, 1000.0, 2000.0]),
)
def test_coarsening_stays_within_the_cell(lat, lon, grid):
    clon, clat = coarsen_positions(np.array([lon]), np.array([lat]), grid)
    dy = (clat[0] - lat) * 111_320.0
    dx = (clon[0] - lon) * 111_320.0 * math.cos(math.radians(clat[0]))
    assert math.hypot(dx, dy) <= grid * math.sqrt(2) / 2 + 120.0  # plus 3-decimal rounding
    # every point of the same cell maps to the same centre
    clon2, clat2 = coarsen_positions(clon, clat, grid)
    assert abs(clat2[0] - clat[0]) < 1e-9 and abs(clon2[0] - clon[0]) < 2e-3


def test_rasterized_map_png_metadata_is_scanned(ctx, world, tmp_path, monkeypatch):
    """Above a few thousand markers the map layer becomes an embedded PNG: its metadata is
    scanned too (and a planted sensor id in a PNG text chunk is found)."""
    import base64
    import struct
    import zlib

    import truceline.report.charts as charts
    from truceline.report.leaks import embedded_png_text

    monkeypatch.setattr(charts, "RASTER_ABOVE", 10)
    out = write_daily_report(tmp_path, DAY, "public", events=world["events"], context=ctx, formats=("html",),
                             sensors=world["sensors"])
    html = out["html"].read_text()
    assert "data:image/png;base64," in html
    assert scan_paths([out["html"]], world["sensors"]) == []
    sid = world["sensors"][0]["id"]
    chunk = b"Comment\0" + f"made near {sid}".encode()
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(chunk)) + b"tEXt" + chunk
           + struct.pack(">I", zlib.crc32(b"tEXt" + chunk)))
    planted = tmp_path / "planted.html"
    planted.write_text(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    assert any(sid in t for t in embedded_png_text(planted.read_text()))
    assert [lk.what for lk in scan_paths([planted], world["sensors"])] == ["id"]


def test_sightings_to_confirm_only_in_the_restricted_edition(world, ctx, tmp_path):
    """A doubtful sighting whose position breaks a rule (violations_to_confirm) is listed for
    analysts, with its confidence and rules, and never in the public edition."""
    feats = [dict(f, properties=dict(f["properties"])) for f in world["features"]]
    t0 = np.datetime64(f"{DAY}T00:00:00").astype("datetime64[s]").astype(float)
    table = EventTable.from_features(feats)
    k = int(np.flatnonzero((table.time >= t0) & (table.time < t0 + 86400))[0])
    p = feats[k]["properties"]
    p.update(type="weapon_sighting", object="tank", confidence=0.42, violations=[], responsible=None,
             violations_to_confirm=["withdrawal.tank"])
    res = build_daily_report(EventTable.from_features(feats), ctx, DAY, "restricted")
    expected = {f["properties"]["id"] for f in feats
                if f["properties"].get("violations_to_confirm") and f["properties"]["time"].startswith(DAY)}
    assert {e["id"] for e in res.to_confirm} == expected and len(expected) >= 2
    assert (p["id"], 0.42, ["withdrawal.tank"]) in [(e["id"], e["confidence"], e["violations_to_confirm"])
                                                    for e in res.to_confirm]
    assert [e["time"] for e in res.to_confirm] == sorted(e["time"] for e in res.to_confirm)
    assert build_daily_report(EventTable.from_features(feats), ctx, DAY, "public").to_confirm == []
    out = write_daily_report(tmp_path / "res", DAY, "restricted", events=feats, context=ctx)
    html = out["html"].read_text()
    assert "Sightings to confirm" in html and p["id"] in html and "0.42" in html
    pdf = pdf_text(out["pdf"])  # "fi" is one ligature glyph there
    assert "Sightings to con" in pdf and p["id"] in pdf and "withdrawal.tank" in pdf
    pub = write_daily_report(tmp_path / "pub", DAY, "public", events=feats, context=ctx, formats=("html",))
    assert "Sightings to confirm" not in pub["html"].read_text()
