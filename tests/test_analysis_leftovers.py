"""Barely determined acoustic fits made of other sources' leftovers (`explained_by_others`), and
what it changes for attribution on scenarios of the independent generator."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from scenario_gen import make_scenario
from truceline.analysis import analyze_reports, geodesy
from truceline.analysis.acoustic_events import LEFTOVER_ABS_TOL_S, LEFTOVER_REL_TOL, explained_by_others
from truceline.geo import default_territory_path, load_territory
from truceline.profile import load_profile

LON0, LAT0 = 37.0, 48.2
C = 330.0


def _world(offsets_s):
    """Source A (row 0) at the origin, emitting at t=0, heard by arrays 0-3; source B (row 1)
    made of detections at arrays 4-7, at A's predicted arrivals there plus `offsets_s`; source
    C (row 2) far away in time (nothing predicts it)."""
    e = np.array([3000.0, -4000.0, 6000.0, 0.0, 9000.0, -8000.0, 2000.0, -12000.0])
    n = np.array([2000.0, 5000.0, -1000.0, -7000.0, 4000.0, -3000.0, 11000.0, 1000.0])
    alon, alat = geodesy.from_local(LON0, LAT0, e, n)
    arrays = SimpleNamespace(lon=np.asarray(alon), lat=np.asarray(alat))
    dist = geodesy.inverse(np.full(8, LON0), np.full(8, LAT0), arrays.lon, arrays.lat)[2]
    t = dist / C
    t[4:] += np.asarray(offsets_s, float)
    t_c = 5000.0 + np.arange(4.0)
    dets = SimpleNamespace(t=np.r_[t, t_c], c=np.full(12, C), arr=np.r_[np.arange(8), np.arange(4)])
    det = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    blon, blat = geodesy.from_local(LON0, LAT0, 20000.0, 20000.0)  # B's own (wrong) fit: elsewhere
    sol = SimpleNamespace(t0=np.array([0.0, -10.0, 4990.0]), lon=np.array([LON0, float(blon), LON0]),
                          lat=np.array([LAT0, float(blat), LAT0]))
    return arrays, dets, det, sol, dist[4:]


def test_leftovers_of_another_source_are_recognised():
    arrays, dets, det, sol, _ = _world([0.2, -0.3, 0.0, 0.4])
    share = explained_by_others(arrays, dets, det, sol, np.array([1, 2]), 30000.0)
    assert share.tolist() == [1.0, 0.0]


def test_tolerance_grows_with_the_travel_time():
    arrays, dets, det, sol, dist = _world(np.zeros(4))
    travel = dist / C
    inside = LEFTOVER_REL_TOL * travel + LEFTOVER_ABS_TOL_S
    offs = np.where(np.arange(4) < 2, 0.9 * inside, 1.2 * inside)  # two within, two beyond
    arrays, dets, det, sol, _ = _world(offs)
    assert explained_by_others(arrays, dets, det, sol, np.array([1]), 30000.0).tolist() == [0.5]
    # a source never explains itself, and beyond the range nothing is looked for
    assert explained_by_others(arrays, dets, det, sol, np.array([0]), 30000.0).tolist() == [0.0]
    assert explained_by_others(arrays, dets, det, sol, np.array([1]), 100.0).tolist() == [0.0]
    assert explained_by_others(arrays, dets, det, sol, np.array([], int), 30000.0).shape == (0,)


@pytest.fixture(scope="module")
def shipped():
    return load_territory(default_territory_path()), load_profile(None)


def test_isolated_launches_heard_by_few_arrays_are_named(shipped):
    """Launches heard by only 4-5 arrays without azimuths (the fit has < 2 redundant
    measurements) were all withheld; those whose arrivals no other source predicts are now
    named, and correctly (the truth party read from the territory polygons)."""
    terr, prof = shipped
    named = withheld = wrong = 0
    for seed in (200, 201, 202, 203):
        sc = make_scenario(seed=seed, azimuth_fraction=0.0, n_arrays=12, n_shots=40, false_rate_per_array_h=5.0)
        events = analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors}, territory=terr, profile=prof)
        owner = {r: i for i, t in enumerate(sc.truth) for r in t["report_ids"]}
        for e in events:
            q = e.quality
            if e.type != "launch" or "explained_by_others" not in q or set(e.report_kinds.values()) != {"acoustic"}:
                continue
            assert q["dof"] < 2.0 and 0.0 <= q["explained_by_others"] <= 1.0
            if e.responsible is None:
                withheld += 1
                continue
            named += 1
            ids = [owner[r] for r in e.reports if r in owner]
            j = max(set(ids), key=ids.count) if ids else None
            tr = sc.truth[j] if j is not None else None
            truth_party = str(terr.party_at(tr["lon"], tr["lat"])) if tr and tr["kind"] == "launch" else None
            wrong += e.responsible != truth_party
    assert named >= 8 and wrong == 0, (named, withheld, wrong)


def test_background_is_the_unexplained_rate_at_the_members():
    """Array 0 has 36 unexplained detections in an hour, array 1 none: a source heard at both
    sees 36 / 3600 s * 20 s = 0.2 at array 0 and 0 at array 1, mean 0.1."""
    from truceline.analysis.acoustic_events import background_rate

    t = np.r_[np.linspace(0.0, 3600.0, 36), 1000.0, 1000.5]
    arr = np.r_[np.zeros(36, int), 0, 1]
    class _Dets(SimpleNamespace):
        def __len__(self):
            return len(self.t)

    dets = _Dets(t=t, arr=arr)
    det = np.array([[36, 37]])
    assert background_rate(dets, det, np.array([0])) == pytest.approx([0.5 * 36 / 3600.0 * 20.0], rel=0.03)


def test_busy_arrays_keep_barely_determined_fits_undetermined(shipped):
    """With clutter at 30 detections per array-hour, four of them line up by chance: no barely
    determined acoustic-only launch is named."""
    terr, prof = shipped
    sc = make_scenario(seed=201, azimuth_fraction=0.0, n_arrays=12, n_shots=40, false_rate_per_array_h=30.0)
    events = analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors}, territory=terr, profile=prof)
    weak = [e for e in events if e.type == "launch" and "explained_by_others" in e.quality
            and set(e.report_kinds.values()) == {"acoustic"}]
    assert weak and all(e.quality["background"] > 0.05 and e.responsible is None for e in weak)
