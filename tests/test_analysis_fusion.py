"""Fusion: radar with acoustic, radar alone, drone sightings, satellite fires, monitors."""

from __future__ import annotations

import numpy as np
import pytest

from scenario_gen import make_scenario, score_acoustic
from truceline import formats
from truceline.analysis import analyze_reports, fusion, geodesy

T0 = 1767657600.0


def _rep(rid, sensor, kind, t, body, seq=1):
    return {"id": rid, "sensor": sensor, "kind": kind, "seq": seq, "time": formats.format_time(t), "body": body}


def test_radar_and_acoustic_become_one_launch_and_one_impact():
    sc = make_scenario(seed=41, n_arrays=30, extent_m=40000, detect_range_m=25000, n_shots=12, radar_fraction=1.0,
                       false_rate_per_array_h=0.0)
    reg = {s["id"]: s for s in sc.sensors}
    events = analyze_reports(sc.reports, reg)
    radar_ids = {sh["radar_report"] for sh in sc.shots if "radar_report" in sh}
    assert len(radar_ids) == 12
    for rid in radar_ids:
        holders = [e for e in events if rid in e.reports]
        assert sorted(e.type for e in holders) == ["impact", "launch"]  # exactly one of each
        launch = next(e for e in holders if e.type == "launch")
        impact = next(e for e in holders if e.type == "impact")
        assert launch.impact_event == impact.id and impact.launch_event == launch.id
    fused = [e for e in events if {"radar", "acoustic"} <= e.kinds]
    assert len(fused) >= 18  # most launches and impacts were also heard
    # fused covariance is tighter than the radar's own
    for e in fused:
        rid = next(r for r in e.reports if r in radar_ids)
        rep = next(r for r in sc.reports if r["id"] == rid)
        cov_r = np.array(rep["body"][e.type]["cov_en_m2"])
        assert np.trace(e.cov_en_m2) < np.trace(cov_r)
    s = score_acoustic(events, sc)
    assert s["precision"] >= 0.95 and s["recall"] >= 0.93


def test_radar_track_alone_gives_linked_pair_and_two_radars_one_pair():
    body = {"launch": {"lat": 48.1, "lon": 37.5, "cov_en_m2": [[900.0, 100.0], [100.0, 1600.0]]},
            "impact": {"lat": 48.2, "lon": 37.6, "cov_en_m2": [[2500.0, 0.0], [0.0, 2500.0]]},
            "launch_time": formats.format_time(T0 + 1.0), "impact_time": formats.format_time(T0 + 41.0),
            "projectile": "shell"}
    body2 = {"launch": {"lat": 48.1003, "lon": 37.5004, "cov_en_m2": [[1600.0, 0.0], [0.0, 900.0]]},
             "impact": {"lat": 48.2004, "lon": 37.5996, "cov_en_m2": [[3600.0, 0.0], [0.0, 3600.0]]},
             "launch_time": formats.format_time(T0 + 1.05), "impact_time": formats.format_time(T0 + 40.95),
             "projectile": "shell"}
    reg = {"r1": {"id": "r1", "kind": "radar"}, "r2": {"id": "r2", "kind": "radar"}}
    events = analyze_reports([_rep("a", "r1", "radar", T0 + 1, body)], reg)
    assert sorted(e.type for e in events) == ["impact", "launch"]
    L = next(e for e in events if e.type == "launch")
    assert L.impact_event and abs(L.time - (T0 + 1.0)) < 1e-6
    events = analyze_reports([_rep("a", "r1", "radar", T0 + 1, body), _rep("b", "r2", "radar", T0 + 1.05, body2)], reg)
    assert sorted(e.type for e in events) == ["impact", "launch"]
    L = next(e for e in events if e.type == "launch")
    assert sorted(L.reports) == ["a", "b"]
    assert np.linalg.det(L.cov_en_m2) < np.linalg.det(np.array([[900.0, 100.0], [100.0, 1600.0]]))


def _uav(rid, t, lon, lat, cep, obj, seq):
    return _rep(rid, "d1", "uav", t, {"lat": lat, "lon": lon, "cep_m": cep, "object": obj}, seq)


def test_drone_sightings_same_object_and_distinct_objects():
    lon, lat = 37.3, 47.9
    reps = []
    rng = np.random.default_rng(2)
    # one tank seen four times within an hour (CEP 30 m)
    for i in range(4):
        e, n = rng.normal(0, 30 / 1.1774, 2)
        lo, la = geodesy.from_local(lon, lat, e, n)
        reps.append(_uav(f"t{i}", T0 + 600 * i, float(lo), float(la), 30.0, "tank", i))
    # a truck 400 m away at the same time, a second tank 2 km away, and the first tank's
    # position seen again two hours later (beyond the hour: a new sighting)
    lo, la = geodesy.from_local(lon, lat, 400.0, 0.0)
    reps.append(_uav("truck", T0 + 60, float(lo), float(la), 20.0, "truck", 10))
    lo, la = geodesy.from_local(lon, lat, 0.0, 2000.0)
    reps.append(_uav("tank2", T0 + 120, float(lo), float(la), 20.0, "tank", 11))
    reps.append(_uav("late", T0 + 1800 + 7200, lon, lat, 30.0, "tank", 12))
    events = analyze_reports(reps, {"d1": {"id": "d1", "kind": "uav"}})
    groups = sorted(sorted(e.reports) for e in events)
    assert groups == [["late"], ["t0", "t1", "t2", "t3"], ["tank2"], ["truck"]]
    tank = next(e for e in events if "t0" in e.reports)
    assert tank.type == "weapon_sighting" and tank.object == "tank"
    sd = 30 / 1.1774
    extent = fusion.UAV_OBJECT_EXTENT_SIGMA_M ** 2  # where on the tank each look aimed
    assert np.allclose(np.diag(tank.cov_en_m2), (sd * sd + extent) / 4, rtol=1e-6)


@pytest.mark.parametrize("cep", [8.0, 12.0])
def test_two_guns_of_a_battery_stay_two_sightings(cep):
    """Precise looks alternating between two guns 80 m apart for 75 minutes: two sightings,
    each holding its own gun inside its 95 % ellipse (one fused point between them, with a
    tight ellipse, would hold neither)."""
    lon, lat = 37.3, 47.9
    guns = [geodesy.from_local(lon, lat, e, 0.0) for e in (-40.0, 40.0)]
    rng = np.random.default_rng(5)
    reps = []
    for i in range(10):
        glon, glat = guns[i % 2]
        e, n = rng.normal(0, cep / 1.1774, 2)
        lo, la = geodesy.from_local(float(glon), float(glat), e, n)
        reps.append(_uav(f"g{i}", T0 + 450 * i, float(lo), float(la), cep, "artillery", i))
    events = analyze_reports(reps, {"d1": {"id": "d1", "kind": "uav"}})
    assert sorted(sorted(e.reports) for e in events) == [[f"g{i}" for i in range(0, 10, 2)],
                                                        [f"g{i}" for i in range(1, 10, 2)]]
    for e in events:
        glon, glat = guns[int(e.reports[0][1:]) % 2]
        de, dn, _ = geodesy.to_local(e.lon, e.lat, float(glon), float(glat))
        v = np.array([float(de), float(dn)])
        assert v @ np.linalg.solve(e.cov_en_m2, v) <= 5.991


def test_satellite_fire_within_1km_and_12h():
    base = {"radius_m": 200.0, "frp_mw": 3.0, "confidence": "nominal"}
    lo, la = geodesy.from_local(38.0, 47.6, 500.0, 300.0)
    reps = [
        _rep("s1", "v", "satellite", T0, {"lat": 47.6, "lon": 38.0, **base}, 1),
        _rep("s2", "v", "satellite", T0 + 6 * 3600, {"lat": float(la), "lon": float(lo), **base}, 2),
        _rep("s3", "v", "satellite", T0 + 14 * 3600, {"lat": 47.6, "lon": 38.0, **base}, 3),
        _rep("s4", "v", "satellite", T0 + 60, {"lat": 47.7, "lon": 38.0, **base}, 4),
    ]
    events = analyze_reports(reps, {"v": {"id": "v", "kind": "satellite"}})
    groups = sorted(sorted(e.reports) for e in events)
    assert groups == [["s1", "s2"], ["s3"], ["s4"]]
    assert all(e.type == "thermal" for e in events)


def test_monitor_reports_become_monitor_events():
    reps = [_rep("m1", "mon", "monitor", T0, {"lat": 48.0, "lon": 37.4, "category": "crater", "text": "x"}, 1)]
    (e,) = analyze_reports(reps, {"mon": {"id": "mon", "kind": "monitor"}})
    assert e.type == "monitor_report" and e.category == "crater" and e.reports == ["m1"]


def test_looks_combine_as_independent_evidence():
    from truceline.analysis.fusion import combined_confidence

    assert combined_confidence([]) is None
    assert combined_confidence([0.8]) == pytest.approx(0.8)
    assert combined_confidence([0.8, 0.8]) == pytest.approx(16 / 17)  # odds 4 * 4
    assert combined_confidence([0.8, 0.2]) == pytest.approx(0.5)  # a doubtful look cancels a sure one
    assert combined_confidence([1.0]) == pytest.approx(0.99)  # one look never proves an object outright
    assert combined_confidence([0.0] * 200) == pytest.approx(0.0, abs=1e-300)


def test_sighting_confidence_is_its_looks_combined():
    lon, lat = 37.6, 48.4
    reps = []
    for i, c in enumerate((0.7, 0.75, 0.8)):
        rep = _uav(f"l{i}", T0 + 300 * i, lon, lat, 20.0, "tank", i)
        rep["body"]["confidence"] = c
        reps.append(rep)
    events = analyze_reports(reps, {"d1": {"id": "d1", "kind": "uav"}})
    assert len(events) == 1
    odds = (0.7 / 0.3) * (0.75 / 0.25) * (0.8 / 0.2)
    assert events[0].extra["confidence"] == pytest.approx(odds / (1 + odds))
