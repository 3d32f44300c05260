"""`pipeline.drop_doubtful_impacts`: acoustic-only impacts that land among other impacts must
fit their arrivals at p >= 0.1 (blends of salvo rounds pass the association's p >= 0.01)."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from truceline.analysis.events import Event
from truceline.analysis.pipeline import ACOUSTIC_IMPACT_MIN_P, drop_doubtful_impacts

T0 = 1_767_657_600.0


def _ev(eid: str, kind: str, lon: float, lat: float, t: float, p: float | None, kinds=("acoustic",), dof: float = 8.0):
    quality = {} if p is None else {"chi2": float(chi2.isf(p, dof)), "dof": dof}
    reports = [f"{eid}-r{i}" for i in range(len(kinds))]
    return Event(id=eid, type=kind, time=T0 + t, lon=lon, lat=lat, cov_en_m2=np.eye(2) * 100.0, reports=reports,
                 report_kinds=dict(zip(reports, kinds, strict=True)), quality=quality)


def test_poor_fit_in_a_crowd_is_dropped_and_its_launch_unlinked():
    launch = _ev("L", "launch", 37.00, 48.00, 0.0, 0.5)
    blend = _ev("blend", "impact", 37.20, 48.00, 40.0, 0.02)  # fails p >= 0.1
    neighbour = _ev("round", "impact", 37.21, 48.00, 41.0, 0.6)  # ~740 m east, 1 s later
    launch.impact_event, blend.launch_event = "blend", "L"
    kept, n = drop_doubtful_impacts([launch, blend, neighbour])
    assert n == 1 and [e.id for e in kept] == ["L", "round"]
    assert launch.impact_event is None


def test_what_stays():
    events = [
        _ev("isolated", "impact", 37.00, 48.00, 0.0, 0.02),  # poor fit, but no impact near it
        _ev("far", "impact", 37.20, 48.00, 10.0, 0.02),  # 15 km from the others
        _ev("late", "impact", 37.00, 48.00, 100.0, 0.02),  # same place, 100 s later
        _ev("radar", "impact", 37.001, 48.0, 50.0, 0.001, kinds=("acoustic", "radar")),  # a track speaks for it
        _ev("good", "impact", 37.20, 48.001, 11.0, 0.3),  # near "far", fits well
        _ev("nofit", "impact", 37.20, 48.0015, 12.0, None),  # no chi-square to test
    ]
    kept, n = drop_doubtful_impacts(events)
    # "far" has "good" 110 m away and 1 s apart: it goes; everything else stays
    assert n == 1 and sorted(e.id for e in kept) == ["good", "isolated", "late", "nofit", "radar"]


def test_threshold_is_the_p_value():
    pair = [_ev("a", "impact", 37.0, 48.0, 0.0, ACOUSTIC_IMPACT_MIN_P * 1.05),
            _ev("b", "impact", 37.0, 48.001, 1.0, ACOUSTIC_IMPACT_MIN_P * 0.95)]
    kept, n = drop_doubtful_impacts(pair)
    assert n == 1 and [e.id for e in kept] == ["a"]
    assert drop_doubtful_impacts(pair, p_min=0.01)[1] == 0
