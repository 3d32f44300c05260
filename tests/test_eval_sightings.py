"""Small end-to-end run of benchmarks/eval_sightings.py: its own generator on the real line of
contact, `truceline analyze` through the CLI (a subprocess), and its scorer (about 6 s)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_sightings.py"
_spec = importlib.util.spec_from_file_location("eval_sightings", _PATH)
ev = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(ev)


def test_look_clusters_chain_within_an_hour():
    # 0, 50 min, 100 min chain into one cluster; a gap of 61 min starts another
    t = [0.0, 3000.0, 6000.0, 6000.0 + 3660.0]
    assert ev.look_clusters(t) == [0, 0, 0, 1]
    assert ev.look_clusters([7200.0, 0.0]) == [1, 0]


def test_small_run_through_the_cli(tmp_path):
    res = ev.evaluate(seed=1, objects=30, workdir=tmp_path)
    assert not res.get("crash"), res["cli"]["stderr"]
    assert res["quarantined"] == 0 and res["looks_in_no_event"] == 0
    assert res["rules_evaluated_events"] == res["sighting_events"] > 0
    for rule in ("withdrawal", "buffer"):
        assert res[rule]["positives"] > 0
        assert res[rule]["recall"] >= 0.9, res[rule]
        assert res[rule]["precision"] >= 0.9, res[rule]
        assert res[rule]["replay_disagreements"] == 0, res[rule]["replay_disagreement_examples"]
    assert res["grouping"]["correct_share"] >= 0.9
    assert res["attribution"]["named"] > 0 and res["attribution"]["named_wrong"] == []
    assert res["distance_check"]["max_abs_diff_m"] < 1.0
