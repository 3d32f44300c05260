"""The association's time windows run in a process pool with results identical to serial."""

from __future__ import annotations

from scenario_gen import make_scenario
from truceline.analysis import analyze_reports, events_to_geojson
from truceline.analysis.associate import AssociationConfig, _windows


def test_parallel_windows_equal_serial():
    sc = make_scenario(seed=61, n_arrays=18, n_shots=30, duration_s=2 * 3600.0)
    reg = {s["id"]: s for s in sc.sensors}
    cfg = AssociationConfig(window_s=900.0)
    serial = events_to_geojson(analyze_reports(sc.reports, reg, config=cfg, workers=1))
    parallel = events_to_geojson(analyze_reports(sc.reports, reg, config=cfg, workers=2))
    assert len(serial["features"]) >= 20
    assert serial == parallel


def test_windows_cover_every_emission_time_once():
    """Cores tile the time axis without gaps or overlaps; each window's rows include the
    margin (longest travel time) on both sides of its core."""
    import numpy as np

    from truceline.analysis.acoustic import build_tables

    sc = make_scenario(seed=62, n_arrays=12, n_shots=20, duration_s=3 * 3600.0)
    reg = {s["id"]: s for s in sc.sensors}
    _, dets = build_tables([r for r in sc.reports if r["kind"] == "acoustic"], reg)
    cfg = AssociationConfig(window_s=1000.0)
    wins = _windows(dets, cfg)
    assert len(wins) >= 3
    for (_a0, a1, _), (b0, _b1, _) in zip(wins, wins[1:], strict=False):
        assert a1 == b0
    margin = cfg.r_max_m / 300.0
    for T0, T1, rows in wins:
        inside = (dets.t >= T0 - margin) & (dets.t < T1 + margin)
        assert np.isin(np.nonzero(inside)[0], rows).all()
    assert wins[0][0] <= dets.t.min() and wins[-1][1] > dets.t.max() - margin


def test_chunked_fit_equals_one_batch(monkeypatch):
    """The batched fit in chunks (bounded memory) gives the events of one batch (the same
    events and members; numbers equal to the fit's convergence tolerance, as a batch
    iterates until its slowest event converges)."""
    import numpy as np

    from truceline.analysis import localize

    sc = make_scenario(seed=63, n_arrays=16, n_shots=25)
    reg = {s["id"]: s for s in sc.sensors}
    whole = events_to_geojson(analyze_reports(sc.reports, reg, workers=1))
    monkeypatch.setattr(localize, "SOLVE_CHUNK", 7)
    chunked = events_to_geojson(analyze_reports(sc.reports, reg, workers=1))
    assert len(whole["features"]) >= 20
    fa, fb = whole["features"], chunked["features"]
    assert [f["properties"]["id"] for f in fa] == [f["properties"]["id"] for f in fb]
    assert [f["properties"]["reports"] for f in fa] == [f["properties"]["reports"] for f in fb]
    ca = np.array([f["geometry"]["coordinates"] for f in fa])
    cb = np.array([f["geometry"]["coordinates"] for f in fb])
    assert np.abs(ca - cb).max() < 1e-6  # degrees: 0.1 m
    va = np.array([f["properties"]["cov_en_m2"] for f in fa], float)
    vb = np.array([f["properties"]["cov_en_m2"] for f in fb], float)
    assert np.allclose(va, vb, rtol=1e-3, atol=1e-3)


def test_chunked_fit_in_a_pool_equals_serial(monkeypatch):
    """The fit's chunks fitted by a process pool give byte-identical events to the serial
    chunks (the chunks are independent and come back in order)."""
    from truceline.analysis import localize

    sc = make_scenario(seed=64, n_arrays=16, n_shots=25)
    reg = {s["id"]: s for s in sc.sensors}
    monkeypatch.setattr(localize, "SOLVE_CHUNK", 9)
    serial = events_to_geojson(analyze_reports(sc.reports, reg, workers=1))
    pooled = events_to_geojson(analyze_reports(sc.reports, reg, workers=2))
    assert len(serial["features"]) >= 20
    assert serial == pooled


def test_repeat_search_in_chunks_equals_one_batch(monkeypatch):
    """The repeat search in chunks of sources (bounded memory) finds the same groups."""
    import numpy as np

    from truceline.analysis import acoustic_events
    from truceline.analysis.acoustic import build_tables

    sc = make_scenario(seed=65, n_arrays=20, n_shots=40, duration_s=1800.0)
    reg = {s["id"]: s for s in sc.sensors}
    arrays, dets = build_tables([r for r in sc.reports if r["kind"] == "acoustic"], reg)
    src = acoustic_events.locate_sources(arrays, dets, rounds=1, repeat_rounds=0)
    assert src.det.shape[0] >= 20
    used = np.zeros(len(dets), bool)
    used[src.det[src.det >= 0]] = True
    # sources heard again by free detections: drop half of each source's members from `used`
    half = src.det[:, ::2]
    used[half[half >= 0]] = False
    whole = acoustic_events.repeat_search(arrays, dets, src.det, src.sol, used, min_arrays=3)
    monkeypatch.setattr(acoustic_events, "REPEAT_CHUNK_SLOTS", 3 * src.det.shape[1])
    chunked = acoustic_events.repeat_search(arrays, dets, src.det, src.sol, used, min_arrays=3)
    assert whole[0].shape[0] >= 5
    for a, b in zip(whole, chunked, strict=True):
        assert np.array_equal(a, b)
