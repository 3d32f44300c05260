"""Tests of the pure matching helpers of benchmarks/eval_attribution.py (the evaluation itself is a
benchmark script, run by hand on simulated days)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_attribution.py"
_spec = importlib.util.spec_from_file_location("eval_attribution", _PATH)
ev = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(ev)

TRUTH = {
    "launches": [
        {"id": "L1", "party": "RU", "lon": 37.0, "lat": 48.0, "impact": "I1", "reports": ["a1", "a2", "a3", "rad1"]},
        {"id": "L2", "party": "UA", "lon": 36.0, "lat": 48.0, "impact": "I2", "reports": ["b1", "b2"]},
    ],
    "impacts": [
        {"id": "I1", "launch": "L1", "fired_by": "RU", "territory": "UA", "reports": ["c1", "c2", "rad1", "mon1"]},
        {"id": "I2", "launch": "L2", "fired_by": "UA", "territory": "RU", "reports": ["d1"]},
    ],
    "weapon_objects": [
        {"id": "W1", "party": "UA", "stands_in": "UA", "class": "tank", "reports": ["u1", "u2"]},
    ],
    "buffer_presences": [
        {"id": "B1", "party": "RU", "stands_in": "UA", "class": "apc", "across_line": True, "reports": ["u3"]},
    ],
    "fires": [{"id": "F1", "reports": ["s1"]}],
    "false_alarms": [
        {"id": "RA1", "kind": "radar_false_track", "reports": ["rad9"]},
        {"id": "UA1", "kind": "uav_false_sighting", "reports": ["u9"]},
    ],
}


def test_truth_owners_lists_radar_tracks_under_launch_and_impact():
    own = ev.truth_owners(TRUTH)
    assert sorted(own["rad1"]) == [("impact", "I1"), ("launch", "L1")]
    assert own["a1"] == [("launch", "L1")]
    assert own["u3"] == [("presence", "B1")]
    assert own["rad9"] == [("false:radar_false_track", "RA1")]
    assert "zz" not in own


def test_match_event_uses_the_role_that_fits_the_event_type():
    own = ev.truth_owners(TRUTH)
    # a radar-only impact event goes to the impact, a radar-only launch event to the launch
    assert ev.match_event("impact", ["rad1"], own) == ("impact", "I1", 1.0)
    assert ev.match_event("launch", ["rad1"], own) == ("launch", "L1", 1.0)
    # majority of reports decides, share is of all the event's reports
    role, tid, share = ev.match_event("launch", ["a1", "a2", "b1", "unknown-id"], own)
    assert (role, tid) == ("launch", "L1") and share == pytest.approx(0.5)
    # a launch event made of an impact's acoustic reports matches the impact (type confusion)
    assert ev.match_event("launch", ["c1", "c2"], own)[:2] == ("impact", "I1")
    assert ev.match_event("launch", ["nothing"], own) is None
    assert ev.match_event("launch", [], own) is None


def test_match_event_tie_prefers_fitting_role_then_smallest_id():
    own = ev.truth_owners(TRUTH)
    assert ev.match_event("launch", ["c1", "a1"], own)[:2] == ("launch", "L1")
    assert ev.match_event("impact", ["c1", "a1"], own)[:2] == ("impact", "I1")
    assert ev.match_event("launch", ["b1", "a1"], own)[:2] == ("launch", "L1")


def test_expected_party_per_role():
    by_id = {x["id"]: x for k in ("launches", "impacts", "weapon_objects", "buffer_presences", "false_alarms")
             for x in TRUTH[k]}
    lp = {x["id"]: x["party"] for x in TRUTH["launches"]}
    assert ev.expected_party("launch", "L2", by_id, lp) == "UA"
    assert ev.expected_party("impact", "I1", by_id, lp) == "RU"  # the firer, not where it landed
    assert ev.expected_party("object", "W1", by_id, lp) == "UA"
    assert ev.expected_party("presence", "B1", by_id, lp) == "UA"  # where it stands
    assert ev.expected_party("false:radar_false_track", "RA1", by_id, lp) is None
    assert ev.expected_party("launch", "nope", by_id, lp) is None


def test_best_event_per_truth_takes_largest_overlap_of_fitting_type():
    matches = {"e1": ("launch", "L1", 0.5), "e2": ("launch", "L1", 1.0), "e3": ("launch", "L2", 1.0),
               "e4": ("launch", "L2", 1.0)}
    overlap = {"e1": 2, "e2": 3, "e3": 2, "e4": 2}
    types = {"e1": "launch", "e2": "launch", "e3": "launch", "e4": "impact"}
    assert ev.best_event_per_truth(matches, overlap, types, "launch") == {"L1": "e2", "L2": "e3"}


def test_naming_cause_categories():
    assert ev.naming_cause("launch", None, None) == "no_truth"
    assert ev.naming_cause("launch", ("false:radar_false_track", "RA1", 1.0), None) == "false:radar_false_track"
    assert ev.naming_cause("launch", ("impact", "I1", 1.0), 1.0) == "type:launch->impact"
    assert ev.naming_cause("impact", ("impact", "I1", 1.0), None, link_ok=False) == "wrong_link"
    assert ev.naming_cause("launch", ("launch", "L1", 0.4), 100.0) == "mixed_association"
    assert ev.naming_cause("launch", ("launch", "L1", 0.9), 100.0) == "outside_ellipse"
    assert ev.naming_cause("launch", ("launch", "L1", 0.4), 1.0) == "inside_ellipse"


def test_recall_precision():
    rec, prec = ev.recall_precision({"W1", "W9"}, {"W1", "W2"}, 3, 4)
    assert rec == pytest.approx(0.5) and prec == pytest.approx(0.75)
    rec, prec = ev.recall_precision(set(), set(), 0, 0)
    assert math.isnan(rec) and math.isnan(prec)


def test_evidence_class_and_coverage_breakdown():
    assert ev.evidence_class({"radar": 1}, None, None) == "radar only"
    assert ev.evidence_class({"acoustic": 3}, 3, 0.7) == "acoustic arrays=3 dof<2"
    assert ev.evidence_class({"acoustic": 9, "radar": 1}, 9, 7.0) == "radar+acoustic arrays=7+ dof>=2"
    rows = [{"d2": 1.0, "weapon": "mortar", "radar": False, "acoustic": True, "n_arrays": 5, "share": 1.0},
            {"d2": 50.0, "weapon": "mortar", "radar": False, "acoustic": True, "n_arrays": 5, "share": 0.5}]
    br = ev.coverage_breakdown(rows)
    assert br["weapon=mortar"]["n"] == 2 and br["weapon=mortar"]["coverage"] == 0.5
    assert br["clean=True"]["coverage"] == 1.0 and br["clean=False"]["coverage"] == 0.0
