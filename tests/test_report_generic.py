"""Generality: another territory (three parties, invented codes), an unknown event type,
and an empty day; the report and the API must not assume UA/RU or the real line."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from truceline.report import EventTable, MapContext, ReportSettings, build_daily_report, write_daily_report
from truceline.report.synthetic import synthetic_events, synthetic_sensors

DAY = "2031-06-02"


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("generic")
    # three parties on a 2 x 1 degree area near the equator: N | S split, and an enclave party Z
    polys = {
        "NA": [[[10.0, 0.5], [12.0, 0.5], [12.0, 1.0], [10.0, 1.0], [10.0, 0.5]]],
        "SO": [[[10.0, 0.0], [11.0, 0.0], [11.0, 0.5], [10.0, 0.5], [10.0, 0.0]]],
        "ZED": [[[11.0, 0.0], [12.0, 0.0], [12.0, 0.5], [11.0, 0.5], [11.0, 0.0]]],
    }
    terr = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"party": p}, "geometry": {"type": "Polygon", "coordinates": c}}
        for p, c in polys.items()]}
    tpath = tmp / "territory.geojson"
    tpath.write_bytes(orjson.dumps(terr))
    ctx = MapContext(tpath, ReportSettings(public_position_grid_m=500.0, sector_km=20.0))
    sensors = synthetic_sensors(ctx, 12, seed=2)
    feats = synthetic_events(ctx, DAY, n_per_day=40, days=2, seed=4, sensors=sensors)
    feats[-1]["properties"]["type"] = "drone_strike"  # a type added after version 1 (on DAY)
    return {"ctx": ctx, "sensors": sensors, "features": feats, "tmp": tmp}


def test_report_on_an_unseen_territory(generic):
    ctx = generic["ctx"]
    assert set(ctx.parties) == {"NA", "SO", "ZED"}
    assert not ctx.line.is_empty and ctx.line.length > 2.0  # the shared edges, not the outer ring
    out = write_daily_report(generic["tmp"] / "pub", DAY, "public", events=generic["features"], context=ctx,
                             sensors=generic["sensors"])  # the public output is scanned for leaks here
    html = out["html"].read_text()
    assert "drone_strike" in html
    table = EventTable.from_features(generic["features"])
    r = build_daily_report(table, ctx, DAY, "restricted")
    assert {x["party"] for x in r.by_party} <= {"NA", "SO", "ZED", "undetermined"}
    assert sum(x["events"] for x in r.by_sector) == r.n_events > 0


def test_empty_day_and_empty_input(generic, tmp_path):
    ctx = generic["ctx"]
    r = build_daily_report(EventTable.from_features(generic["features"]), ctx, "2031-07-01", "public")
    assert r.n_events == 0 and "no events" in r.summary_text()
    out = write_daily_report(tmp_path, DAY, "public", events=[], context=ctx, formats=("html",))
    assert "recorded no events" in out["html"].read_text()


def test_api_on_an_unseen_territory(generic):
    from truceline.web import create_app

    app = create_app(events=generic["features"], context=generic["ctx"])
    with TestClient(app) as c:
        meta = c.get("/api/meta").json()
        assert "drone_strike" in meta["types"] and set(meta["parties_territory"]) == {"NA", "SO", "ZED"}
        geo = c.get("/api/geometry").json()
        assert {t["party"] for t in geo["territories"]} == {"NA", "SO", "ZED"}
        ev = c.get("/api/events", params={"day": DAY}).json()
        assert ev["total"] == sum(1 for f in generic["features"] if f["properties"]["time"].startswith(DAY))
    empty = create_app(events=[], context=generic["ctx"])
    with TestClient(empty) as c:
        assert c.get("/api/events").json()["total"] == 0
        assert c.get("/api/meta").json()["days"] == []
        assert c.get("/api/events", params={"max_points": 1}).json()["total"] == 0
