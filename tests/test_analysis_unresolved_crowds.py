"""Events formed inside a crowd of arrivals the association could not untangle
(`acoustic_events.unexplained_crowding`, `pipeline.drop_unresolved_crowds`)."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from scenario_gen import make_scenario, score_acoustic
from truceline.analysis import analyze_reports
from truceline.analysis.events import Event
from truceline.analysis.pipeline import UNRESOLVED_CROWD, UNRESOLVED_MAX_P, drop_unresolved_crowds

T0 = 1_767_657_600.0


def _ev(eid, kind, crowd, p, kinds=("acoustic",), dof=6.0):
    q = {"chi2": float(chi2.isf(p, dof)), "dof": dof, "unexplained_nearby": crowd}
    reports = [f"{eid}-r{i}" for i in range(len(kinds))]
    return Event(id=eid, type=kind, time=T0, lon=37.0, lat=48.0, cov_en_m2=np.eye(2) * 100.0, reports=reports,
                 report_kinds=dict(zip(reports, kinds, strict=True)), quality=q)


def test_crowded_mediocre_fits_go_and_their_mates_lose_the_link():
    launch = _ev("L", "launch", 0.0, 0.6)
    blend = _ev("blend", "impact", 1.4, 0.2)
    launch.impact_event, blend.launch_event = "blend", "L"
    blend_l = _ev("blendL", "launch", 1.0, 0.1)
    impact = _ev("I", "impact", 0.1, 0.7)
    blend_l.impact_event, impact.launch_event = "I", "blendL"
    kept, n = drop_unresolved_crowds([launch, blend, blend_l, impact])
    assert n == 2 and [e.id for e in kept] == ["L", "I"]
    assert launch.impact_event is None and impact.launch_event is None


def test_what_stays():
    events = [
        _ev("clear", "impact", 0.1, 0.01),  # poor fit but heard in the clear
        _ev("good", "impact", 2.0, 0.8),  # in a crowd, but the fit is convincing
        _ev("radar", "launch", 2.0, 0.01, kinds=("acoustic", "radar")),  # a track confirms it
        _ev("edge", "impact", UNRESOLVED_CROWD * 0.99, UNRESOLVED_MAX_P * 0.5),  # just below the crowd limit
        _ev("edge_p", "impact", UNRESOLVED_CROWD * 1.01, UNRESOLVED_MAX_P * 1.01),  # just above the p limit
    ]
    kept, n = drop_unresolved_crowds(events)
    assert n == 0 and len(kept) == 5
    assert drop_unresolved_crowds([_ev("x", "impact", UNRESOLVED_CROWD, UNRESOLVED_MAX_P * 0.99)])[1] == 1


def test_crowding_measures_unresolved_salvos_not_clutter(monkeypatch):
    """Background clutter is subtracted: at 30 false detections per array-hour the events
    of single shots score ~0 (as in the clear); six-round salvos leave unresolved arrivals
    around some of their events."""
    clutter = make_scenario(seed=401, false_rate_per_array_h=30.0)
    ev = analyze_reports(clutter.reports, {s["id"]: s for s in clutter.sensors})
    crowd = np.array([e.quality["unexplained_nearby"] for e in ev if "unexplained_nearby" in e.quality])
    assert crowd.size > 30 and abs(np.median(crowd)) < 0.1 and np.mean(crowd >= UNRESOLVED_CROWD) < 0.05
    salvo = make_scenario(seed=300, salvo_rounds=6, n_arrays=20)
    stats: dict = {}
    ev = analyze_reports(salvo.reports, {s["id"]: s for s in salvo.sensors}, stats=stats)
    crowd = np.array([e.quality["unexplained_nearby"] for e in ev if "unexplained_nearby" in e.quality])
    assert np.mean(crowd >= UNRESOLVED_CROWD) > 0.1
    assert stats["acoustic_events_dropped_unresolved_crowd"] >= 1
    # what it removes is more often wrong than what it leaves: precision rises
    with_rule = score_acoustic(ev, salvo)["precision"]
    import truceline.analysis.pipeline as pl

    monkeypatch.setattr(pl, "drop_unresolved_crowds", lambda events: (events, 0))
    without = score_acoustic(analyze_reports(salvo.reports, {s["id"]: s for s in salvo.sensors}), salvo)["precision"]
    assert with_rule > without
