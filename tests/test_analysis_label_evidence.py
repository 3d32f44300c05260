"""Chance coincidences of false detections told from real sources by their labels
(`analysis.label_evidence`, `pipeline.drop_label_chance`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_gen import make_scenario, score_acoustic
from truceline.analysis import analyze_reports, pipeline
from truceline.analysis import label_evidence as le


def _votes(rng, n_events, n_arrays, shares):
    """(n_events, 3) launch/impact/unknown votes, each member's label drawn from `shares`."""
    return np.stack([np.bincount(rng.choice(3, size=n_arrays, p=shares), minlength=3) for _ in range(n_events)])


def test_model_needs_enough_strong_events_and_unexplained_detections():
    strong = np.tile([7, 1, 0], (le.MIN_STRONG, 1))
    assert le.fit_label_model(strong[:-1], [20, 20, 20]) is None
    assert le.fit_label_model(strong, [10, 10, 5]) is None
    m = le.fit_label_model(strong, [20, 20, 20])
    assert m is not None and m.real[0] > 0.8 and abs(sum(m.real) - 1) < 1e-12
    assert np.allclose(m.chance, 1 / 3)


def test_agreeing_labels_speak_for_a_source_and_mixed_ones_against():
    m = le.LabelModel(real=(0.9, 0.05, 0.05), chance=(1 / 3, 1 / 3, 1 / 3))
    votes = np.array([[4, 0, 0], [0, 4, 0], [3, 0, 1], [2, 2, 0], [1, 1, 2]])
    lr = le.likelihood_ratio(votes, m, foreign=0.0)
    assert lr[0] > 3 and lr[1] == pytest.approx(lr[0]) and lr[2] > 0  # launch share 0.5: symmetric
    assert lr[3] < 0 and lr[4] < 0
    # allowing for other sources' onsets among the members: full agreement counts for a
    # little less, disagreement against a lot less, and no verdict flips
    soft = le.likelihood_ratio(votes, m)
    assert np.all(soft[:2] < lr[:2]) and np.all(soft[2:] > lr[2:]) and np.all(np.sign(soft) == np.sign(lr))


def test_a_network_that_does_not_label_drops_nothing():
    strong = np.tile([0, 0, 8], (40, 1))  # every detector says "unknown"
    m = le.fit_label_model(strong, [0, 0, 500])
    lr = le.likelihood_ratio(np.tile([0, 0, 4], (30, 1)), m)
    assert np.all(np.abs(lr) < 0.05)
    assert np.all(le.real_posterior(lr) >= le.MIN_POSTERIOR)


def test_mixture_share_and_classification_are_recovered():
    rng = np.random.default_rng(3)
    real, chance = np.array([0.85, 0.05, 0.10]), np.array([0.4, 0.35, 0.25])
    for share in (0.3, 0.7, 0.95):
        n_real = int(400 * share)
        v = np.r_[_votes(rng, n_real, 4, real), _votes(rng, 400 - n_real, 4, chance)]
        truth = np.r_[np.ones(n_real, bool), np.zeros(400 - n_real, bool)]
        post = le.real_posterior(le.likelihood_ratio(v, le.LabelModel(tuple(real), tuple(chance)), foreign=0.0))
        assert abs(post.mean() - share) < 0.06
        # four labels cannot separate every chance event whose clutter happens to agree
        assert np.mean((post >= le.MIN_POSTERIOR) == truth) > 0.8
        if share >= 0.7:  # where most weak events are real, real ones are rarely lost
            assert np.mean(post[truth] >= le.MIN_POSTERIOR) > 0.9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=50))
def test_posterior_is_a_probability_monotone_in_the_likelihood_ratio(log_lr):
    x = np.array(log_lr)
    p = le.real_posterior(x)
    assert np.all((p >= 0) & (p <= 1))
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(p[order]) >= -1e-12)


def _score(rate, seeds, monkeypatch, off):
    if off:
        monkeypatch.setattr(le, "MIN_POSTERIOR", 0.0)
    rec, prec, dropped = [], [], 0
    for seed in seeds:
        sc = make_scenario(seed=seed, false_rate_per_array_h=rate)
        stats: dict = {}
        s = score_acoustic(analyze_reports(sc.reports, {x["id"]: x for x in sc.sensors}, workers=1, stats=stats), sc)
        rec.append(s["recall"])
        prec.append(s["precision"])
        dropped += stats["acoustic_events_dropped_label_chance"]
    monkeypatch.undo()
    return float(np.mean(rec)), float(np.mean(prec)), dropped


def test_heavy_clutter_precision_rises_without_losing_sources(monkeypatch):
    seeds = (401, 403)  # 60 false detections per array-hour, independent generator
    r0, p0, d0 = _score(60.0, seeds, monkeypatch, off=True)
    r1, p1, d1 = _score(60.0, seeds, monkeypatch, off=False)
    assert d0 == 0 and d1 >= 5
    assert p1 > p0 + 0.05
    assert r1 >= r0 - 0.02


def test_clean_scene_keeps_its_sources(monkeypatch):
    r0, p0, _ = _score(0.0, (402,), monkeypatch, off=True)
    r1, p1, _ = _score(0.0, (402,), monkeypatch, off=False)
    assert r1 == r0 and p1 >= p0


def test_drop_label_chance_leaves_radar_confirmed_events_alone():
    def ev(i, votes, n, kinds):
        e = pipeline.Event(id=f"e{i}", type="launch", time=0.0, lon=36.0, lat=47.0, cov_en_m2=np.eye(2),
                           reports=[f"r{i}"], report_kinds={f"r{i}": k for k in kinds}, n_arrays=n,
                           quality={"chi2": 1.0, "dof": 1.0})
        e.extra["label_votes"] = dict(zip(("launch", "impact", "unknown"), votes, strict=True))
        return e

    strong = [ev(i, (8, 0, 0), 8, ["acoustic"]) for i in range(30)]
    weak_bad = [ev(100 + i, (1, 1, 2), 4, ["acoustic"]) for i in range(10)]
    weak_radar = ev(200, (1, 1, 2), 4, ["acoustic", "radar"])
    weak_radar.report_kinds = {"r200": "acoustic", "t200": "radar"}
    kept, n = pipeline.drop_label_chance(strong + weak_bad + [weak_radar], [100, 100, 100])
    ids = {e.id for e in kept}
    assert n == 10 and "e200" in ids and all(e.id in ids for e in strong)
