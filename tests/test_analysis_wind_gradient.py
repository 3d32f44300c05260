"""Wind that changes across the network (`analysis.wind_gradient`): the gradient's size is
measured from the events' fitted winds, and its effect is carried into their covariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_gen import make_scenario, score_acoustic
from truceline.analysis import analyze_reports
from truceline.analysis.wind_gradient import gradient_sigma


def _events_in_a_field(G, n=3000, noise=0.4, seed=1, extent_km=300.0):
    """Fitted winds of `n` events over a day in a field w = w0(t) + G p, with estimation noise."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-extent_km / 2, extent_km / 2, (2, n))
    t = rng.uniform(0, 86400.0, n)
    w0 = np.c_[3 + 2 * np.sin(2 * np.pi * t / 86400), -1 + 2 * np.cos(2 * np.pi * t / 86400)]
    w = w0 + np.c_[x, y] @ np.asarray(G).T + rng.normal(0, noise, (n, 2))
    return x, y, t, w, np.full((n, 2), noise**2)


@pytest.mark.parametrize("G", [[[0.03, 0.0], [0.0, 0.015]], [[0.0, -0.02], [0.01, 0.02]]])
def test_gradient_sigma_measures_a_known_gradient(G):
    """E|W_i - W_j|^2 grows as (sum of G_ij^2) |dp|^2 / 2 for a random direction; the
    estimate is the per-component sigma of a gradient with that energy, sqrt(sum G^2 / 4)."""
    x, y, t, w, v = _events_in_a_field(G)
    want = float(np.sqrt(np.sum(np.square(G)) / 4.0))
    assert gradient_sigma(x, y, t, w, v) == pytest.approx(want, rel=0.2)


def test_gradient_sigma_is_zero_without_a_gradient_and_with_too_few_events():
    x, y, t, w, v = _events_in_a_field(np.zeros((2, 2)))
    assert gradient_sigma(x, y, t, w, v) < 0.003  # noise only: at most a trace
    assert gradient_sigma(x[:10], y[:10], t[:10], w[:10], v[:10]) == 0.0
    # winds the data do not pin down (variance above the limit) take no part
    assert gradient_sigma(x, y, t, w, np.full_like(v, 25.0)) == 0.0


@settings(max_examples=30, deadline=None)
@given(g=st.floats(0.005, 0.05), noise=st.floats(0.1, 1.0), seed=st.integers(0, 10_000))
def test_gradient_sigma_grows_with_the_gradient(g, noise, seed):
    x, y, t, w, v = _events_in_a_field([[g, 0.0], [0.0, g]], n=1500, noise=noise, seed=seed)
    x2, y2, t2, w2, v2 = _events_in_a_field([[2 * g, 0.0], [0.0, 2 * g]], n=1500, noise=noise, seed=seed)
    a, b = gradient_sigma(x, y, t, w, v), gradient_sigma(x2, y2, t2, w2, v2)
    assert b > a
    assert a == pytest.approx(g / np.sqrt(2.0), rel=0.35)


def test_wide_network_ellipses_hold_the_truth_and_compact_ones_are_unchanged():
    """20 arrays over 120 x 120 km heard to 60 km in a wind that changes by 0.6 m/s per
    20 km (tests/scenario_gen.py): with the gradient carried into the covariance the 95 %
    ellipses hold the truth ~95 % of the time (without: 0.87); a compact network measures
    no gradient and keeps its ellipses exactly."""
    import truceline.analysis.pipeline as pl

    cover, cover_off = [], []
    for seed in (400, 402, 403):
        sc = make_scenario(seed=seed, extent_m=120000, detect_range_m=60000, n_arrays=20)
        reg = {s["id"]: s for s in sc.sensors}
        stats: dict = {}
        cover.append(score_acoustic(analyze_reports(sc.reports, reg, stats=stats), sc)["coverage"])
        assert 0.004 < stats["wind_gradient_sigma_mps_per_km"] < 0.04
        orig = pl.widen_for_wind_gradient
        pl.widen_for_wind_gradient = lambda src, t_ref=0.0: (src, 0.0)
        try:
            cover_off.append(score_acoustic(analyze_reports(sc.reports, reg), sc)["coverage"])
        finally:
            pl.widen_for_wind_gradient = orig
    assert np.mean(cover) >= 0.92, cover
    assert np.mean(cover) >= np.mean(cover_off) + 0.03, (cover, cover_off)
    sc = make_scenario(seed=401)
    stats = {}
    analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors}, stats=stats)
    assert stats["wind_gradient_sigma_mps_per_km"] == 0.0


def test_consider_covariance_is_a_covariance_scaling_with_the_gradient():
    from truceline.analysis.wind_gradient import consider_cov

    sc = make_scenario(seed=400, extent_m=120000, detect_range_m=60000, n_arrays=20)
    stats: dict = {}
    analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors}, stats=stats)
    src = stats["_acoustic"][0]
    a = consider_cov(src.problem, src.sol, 0.02)
    b = consider_cov(src.problem, src.sol, 0.04)
    assert not consider_cov(src.problem, src.sol, 0.0).any()
    assert np.allclose(b, 4.0 * a)
    assert np.allclose(a, np.swapaxes(a, 1, 2))
    assert np.linalg.eigvalsh(a[:, :2, :2]).min() >= -1e-9
    # the position part grows with how far apart the event's arrays are: a compact network
    # (40 km across, heard to 30 km) gets far less from the same gradient
    sc2 = make_scenario(seed=400, n_arrays=20)
    stats2: dict = {}
    analyze_reports(sc2.reports, {s["id"]: s for s in sc2.sensors}, stats=stats2)
    src2 = stats2["_acoustic"][0]
    c = consider_cov(src2.problem, src2.sol, 0.02)
    wide = np.median(np.sqrt(np.trace(a[:, :2, :2], axis1=1, axis2=2)))
    compact = np.median(np.sqrt(np.trace(c[:, :2, :2], axis1=1, axis2=2)))
    assert wide > 2.0 * compact, (wide, compact)
