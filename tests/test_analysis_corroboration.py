"""Radar-only launches contradicted by silent nearby arrays are not attributed."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.analysis import attribution as att
from truceline.analysis.corroboration import mark_uncorroborated, silent_array_counts
from truceline.analysis.events import Event, event_to_feature
from truceline.geo.local import geodesic_forward
from truceline.ingest.registry import Sensor


def test_counts_match_brute_force_geodesic():
    rng = np.random.default_rng(3)
    alon, alat = 37.0 + rng.uniform(0, 0.6, 200), 48.0 + rng.uniform(0, 0.4, 200)
    plon, plat = 37.0 + rng.uniform(0, 0.6, 50), 48.0 + rng.uniform(0, 0.4, 50)
    from truceline.geo.local import geodesic_inverse

    _, d = geodesic_inverse(plon[:, None], plat[:, None], alon[None, :], alat[None, :])
    assert np.array_equal(silent_array_counts(plon, plat, alon, alat, 10_000.0), (d <= 10_000.0).sum(axis=1))


def _event(eid, lon, lat, kinds, **kw):
    return Event(id=eid, type="launch", time=0.0, lon=lon, lat=lat, cov_en_m2=np.eye(2) * 400.0,
                 reports=list(kinds), report_kinds=kinds, **kw)


def test_radar_only_launch_among_silent_arrays_is_withheld():
    lon0, lat0 = 37.5, 48.5
    ring = [geodesic_forward(lon0, lat0, az, 4_000.0) for az in (0.0, 120.0, 240.0)]
    registry = {f"a{i}": Sensor(id=f"a{i}", kind="acoustic", public_key=b"\0" * 32, lat=float(la), lon=float(lo))
                for i, (lo, la) in enumerate(ring)}
    near = _event("near", lon0, lat0, {"r1": "radar"})
    far_lon, far_lat = geodesic_forward(lon0, lat0, 90.0, 40_000.0)
    far = _event("far", float(far_lon), float(far_lat), {"r2": "radar"})
    heard = _event("heard", lon0, lat0, {"r3": "radar", "x1": "acoustic"})
    mark_uncorroborated([near, far, heard], registry)
    assert near.quality == {"silent_arrays": 3, "uncorroborated": True}
    assert far.quality == {"silent_arrays": 0}
    assert heard.quality == {}

    from shapely.geometry import box

    terr = {"EAST": box(36.0, 47.0, 39.0, 50.0), "WEST": box(30.0, 47.0, 36.0, 50.0)}
    feats = [event_to_feature(e) for e in (near, far)]
    att.apply_attribution(feats, terr, None)
    assert feats[0]["properties"]["responsible"] is None and feats[0]["properties"]["attribution"] == {}
    assert feats[1]["properties"]["responsible"] == "EAST"


def _ring(lon0, lat0, radii_m, n=6):
    pts = [geodesic_forward(lon0, lat0, 360.0 * k / n, r) for k in range(n) for r in radii_m]
    return {f"a{i}": Sensor(id=f"a{i}", kind="acoustic", public_key=b"\0" * 32, lat=float(la), lon=float(lo))
            for i, (lo, la) in enumerate(pts)}


def _detections(registry, lon0, lat0, t_emit, which, jitter_s=0.0, rng=None):
    """One detection per chosen array at the true arrival time (+ jitter), spec report shape."""
    from truceline.formats import format_time
    from truceline.geo.local import geodesic_inverse

    out = []
    for k, (sid, s) in enumerate(registry.items()):
        if k not in which:
            continue
        _, d = geodesic_inverse(lon0, lat0, s.lon, s.lat)
        j = rng.normal(0.0, jitter_s) if rng is not None else 0.0
        out.append({"id": f"d{k}-{t_emit}", "sensor": sid, "kind": "acoustic",
                    "time": format_time(t_emit + float(d) / 343.0 + j), "body": {"class": "launch"}})
    return out


def test_radar_track_heard_at_the_predicted_times_is_corroborated():
    """Arrays that heard the launch when the track says they should make it credible; a false track
    at the same place, another time, meets silence and is withheld; arrays far off say nothing."""
    lon0, lat0, t0 = 37.5, 48.5, 1767657600.0 + 3600.0
    registry = _ring(lon0, lat0, (3_000.0, 7_000.0))  # 12 arrays within 10 km
    rng = np.random.default_rng(1)
    acoustic = _detections(registry, lon0, lat0, t0, set(range(10)), jitter_s=0.3, rng=rng)  # 10 of 12 heard it
    real = _event("real", lon0, lat0, {"r1": "radar"}, time_sigma_s=0.1)
    real.time = t0
    false = _event("false", lon0, lat0, {"r2": "radar"}, time_sigma_s=0.1)
    false.time = t0 + 900.0
    mark_uncorroborated([real, false], registry, acoustic)
    assert real.quality["near_arrays"] == 12 and real.quality["heard_arrays"] == 10
    assert "uncorroborated" not in real.quality and real.quality["hearing_log10_lr"] > 5
    assert false.quality["heard_arrays"] == 0 and false.quality["uncorroborated"] is True
    # the impact of the same (false) track is as doubtful as its launch; the real one's is not
    false.impact_event, real.impact_event = "false-impact", "real-impact"
    imp_false = Event(id="false-impact", type="impact", time=t0 + 960.0, lon=lon0, lat=lat0,
                      cov_en_m2=np.eye(2) * 900.0, reports=["r2"], report_kinds={"r2": "radar"})
    imp_real = Event(id="real-impact", type="impact", time=t0 + 60.0, lon=lon0, lat=lat0,
                     cov_en_m2=np.eye(2) * 900.0, reports=["r1"], report_kinds={"r1": "radar"})
    for e in (real, false):
        e.quality.clear()
    mark_uncorroborated([real, false, imp_false, imp_real], registry, acoustic)
    assert imp_false.quality == {"uncorroborated": True} and imp_real.quality == {}
    lone_lon, lone_lat = geodesic_forward(lon0, lat0, 90.0, 60_000.0)
    lone = _event("lone", float(lone_lon), float(lone_lat), {"r3": "radar"})
    mark_uncorroborated([lone], registry, acoustic)
    assert lone.quality == {"near_arrays": 0, "heard_arrays": 0, "silent_arrays": 0}


def test_busy_arrays_do_not_corroborate_a_false_track_by_chance():
    """During a barrage every array detects something every few seconds: a window hit is then weak
    evidence (the chance rate is estimated per array), so half the arrays 'hearing' a track whose
    other half is silent does not make it credible."""
    lon0, lat0, t0 = 37.5, 48.5, 1767657600.0 + 3600.0
    registry = _ring(lon0, lat0, (3_000.0, 7_000.0))
    from truceline.formats import format_time

    busy = [{"id": f"b{k}-{i}", "sensor": sid, "kind": "acoustic", "time": format_time(t0 - 1800.0 + 4.0 * i + k),
             "body": {"class": "unknown"}} for k, sid in enumerate(registry) if k % 2 == 0 for i in range(900)]
    track = _event("track", lon0, lat0, {"r": "radar"}, time_sigma_s=0.1)
    track.time = t0
    mark_uncorroborated([track], registry, busy)
    assert track.quality["heard_arrays"] == 6 and track.quality["uncorroborated"] is True


def test_hearing_evidence_chance_rate():
    from truceline.analysis.corroboration import CHANCE_WINDOW_S, hearing_evidence

    arrivals = np.sort(np.linspace(0.0, 2 * CHANCE_WINDOW_S, 361))  # one detection every 10 s
    heard, p = hearing_evidence(np.array([CHANCE_WINDOW_S + 5.0, CHANCE_WINDOW_S + 0.2]), np.array([1.0, 1.0]),
                                arrivals)
    assert heard.tolist() == [False, True]
    assert p == pytest.approx(-np.expm1(-0.1 * 2.0), rel=0.02)  # rate 0.1/s over a 2 s window


def test_radar_tracks_with_arrays_that_heard_nothing():
    """Arrays in the registry but not one acoustic report (all out of earshot): radar-only
    launches are still tested (silent arrays) and nothing fails on the empty columns."""
    from scenario_gen import make_scenario
    from truceline.analysis import analyze_reports
    from truceline.analysis.acoustic import AcousticColumns
    from truceline.analysis.corroboration import _arrival_times

    assert _arrival_times(AcousticColumns.from_reports([])) == {}
    sc = make_scenario(seed=3743, n_arrays=12, n_shots=21, extent_m=400000.0, detect_range_m=2000.0,
                       p_detect=0.5, false_rate_per_array_h=0.0, radar_fraction=0.5)
    reports = [r for r in sc.reports if r["kind"] != "acoustic"]
    assert reports and any(r["kind"] == "radar" for r in reports)
    events = analyze_reports(reports, {s["id"]: s for s in sc.sensors})
    launches = [e for e in events if e.type == "launch"]
    assert launches and all("silent_arrays" in e.quality for e in launches)
