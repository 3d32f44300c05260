"""`truceline explain`: the plain-language account of an event's attribution and rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from shapely.geometry import shape
from typer.testing import CliRunner

from truceline.analysis.explain import explain_event
from truceline.cli import explain_cmds
from truceline.errors import TrucelineError
from truceline.geo import Territory
from truceline.profile import load_profile

SHARED = Path(__file__).resolve().parents[2] / "shared"
TERRITORY_FILE = SHARED / "data" / "territory_2026-01-06.geojson"


@pytest.fixture(scope="module")
def territory():
    doc = json.loads(TERRITORY_FILE.read_text())
    return Territory({f["properties"]["party"]: shape(f["geometry"]) for f in doc["features"]})


def _feature(eid, etype, lonlat, cov, **extra):
    props = {
        "id": eid,
        "type": etype,
        "time": "2026-01-06T03:00:00Z",
        "cov_en_m2": cov,
        "reports": ["237f16f8d7a989d3", "6bc2d8c6be0b2694"],
    }
    props.update(extra)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(lonlat)},
        "properties": props,
    }


@pytest.fixture(scope="module")
def events(territory, tmp_path_factory):
    near = territory.offset_from_line(600.0, 300.0, "RU")
    deep = territory.offset_from_line(700.0, 8000.0, "UA")
    feats = [
        _feature("L1", "launch", near, [[40000.0, 15000.0], [15000.0, 20000.0]], impact_event="I1"),
        _feature("I1", "impact", deep, [[900.0, 0.0], [0.0, 900.0]], launch_event="L1"),
        _feature("S1", "weapon_sighting", deep, [[400.0, 0.0], [0.0, 400.0]], object="tank"),
        _feature("I2", "impact", deep, [[400.0, 0.0], [0.0, 400.0]]),
    ]
    path = tmp_path_factory.mktemp("ev") / "events.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path, feats


def _pct_of(text, party):
    m = re.search(rf"^\s+{party}: ([0-9.]+) %$", text, re.M)
    return float(m.group(1)) / 100.0


def test_explain_launch_states_the_numbers_and_the_decision(territory, events):
    _path, feats = events
    by_id = {f["properties"]["id"]: f for f in feats}
    registry = {s["id"]: s for s in json.loads((SHARED / "spec" / "examples_sensors.json").read_text())}
    reports = {"237f16f8d7a989d3": {"sensor": "ac-017"}, "6bc2d8c6be0b2694": {"sensor": "wlr-05"}}
    text = explain_event(by_id["L1"], by_id, territory, load_profile(), registry=registry, reports=reports)
    assert "sensor ac-017 (acoustic)" in text and "sensor wlr-05 (radar)" in text
    assert "95 % uncertainty ellipse: semi-axes" in text
    assert "Distance to the line of contact:" in text
    ua, ru = _pct_of(text, "UA"), _pct_of(text, "RU")
    assert 0.05 < ua < 0.95 and 0.05 < ru < 0.95 and ua + ru <= 1.0
    assert "Threshold to name a party (agreement profile): 95 %" in text
    assert "Decision: no party is named" in text
    assert "fire.launch" in text


def test_explain_impact_follows_launch_and_orphan_is_undetermined(territory, events):
    _path, feats = events
    by_id = {f["properties"]["id"]: f for f in feats}
    p = load_profile()
    linked = explain_event(by_id["I1"], by_id, territory, p)
    launch = explain_event(by_id["L1"], by_id, territory, p)
    assert "linked to launch L1" in linked
    assert _pct_of(linked, "RU") == _pct_of(launch, "RU")
    orphan = explain_event(by_id["I2"], by_id, territory, p)
    assert (
        "undetermined" in orphan and "Decision: no party is named (there is no evidence of origin)" in orphan
    )
    assert "fire.impact" in orphan


def test_explain_sighting_names_rules_with_evidence(territory, events):
    _path, feats = events
    by_id = {f["properties"]["id"]: f for f in feats}
    text = explain_event(by_id["S1"], by_id, territory, load_profile())
    assert "Decision: UA is named responsible" in text
    assert re.search(r"withdrawal\.tank: .*15 km", text)
    assert "P(within 15.000 km, the exclusion band) = 1.0000" in text


def _app():
    app = typer.Typer()
    explain_cmds.register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps Typer in multi-command mode
        pass

    return app


def test_cli_explain_and_unknown_id(events):
    path, _feats = events
    runner = CliRunner()
    ok = runner.invoke(_app(), ["explain", "S1", "--events", str(path), "--territory", str(TERRITORY_FILE)])
    assert ok.exit_code == 0, ok.output
    assert "withdrawal.tank" in ok.output
    bad = runner.invoke(_app(), ["explain", "NOPE", "--events", str(path)])
    assert isinstance(bad.exception, TrucelineError)
    assert "no event with id 'NOPE'" in str(bad.exception) and "\n" not in str(bad.exception)


def test_cli_rejects_a_non_event_file(tmp_path):
    p = tmp_path / "x.geojson"
    p.write_text('{"type": "Feature"}')
    res = CliRunner().invoke(_app(), ["explain", "A", "--events", str(p)])
    assert isinstance(res.exception, TrucelineError) and "FeatureCollection" in str(res.exception)


def test_explain_says_why_evidence_is_withheld(territory):
    deep = territory.offset_from_line(700.0, 8000.0, "UA")
    cov = [[400.0, 0.0], [0.0, 400.0]]
    radar = _feature("R1", "launch", deep, cov, sources={"radar": 1},
                     quality={"near_arrays": 7, "heard_arrays": 0, "silent_arrays": 7, "hearing_log10_lr": -4.9,
                              "uncorroborated": True})
    thin = _feature("A1", "launch", deep, cov, sources={"acoustic": 4}, quality={"dof": 1.0})
    doubt = _feature("S2", "weapon_sighting", deep, cov, object="tank", confidence=0.6)
    by_id = {f["properties"]["id"]: f for f in (radar, thin, doubt)}
    p = load_profile()
    t_radar = explain_event(radar, by_id, territory, p)
    assert "of the 7 acoustic arrays within 10 km, 0 had a detection" in t_radar
    assert "Decision: no party is named (the evidence is withheld from attribution" in t_radar
    t_thin = explain_event(thin, by_id, territory, p)
    assert "1.0 redundant measurements" in t_thin and "Decision: no party is named" in t_thin
    t_doubt = explain_event(doubt, by_id, territory, p)
    assert "combine to a confidence of 0.600" in t_doubt
    assert abs(_pct_of(t_doubt, "UA") - 0.6) < 1e-3  # the territorial probability (1.0) times the confidence
    assert "Decision: no party is named" in t_doubt and "is below the 0.8 a finding needs" in t_doubt
    assert "another look" in t_doubt
