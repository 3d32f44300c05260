"""Localization against the Cramer-Rao bound and 95 % ellipse coverage on fixed geometries."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.analysis import geodesy
from truceline.analysis.acoustic import sound_speed
from truceline.analysis.localize import Problem, fisher_position_cov, solve

LON0, LAT0 = 35.9, 47.4


def _problem(n_trials, rng, *, azimuth=True, wind_measured=True, src_en=(3000.0, 9000.0), spread=0.0,
             true_wind=(4.0, -2.0)):
    """n_trials copies of one geometry: 6 arrays on a ring, a source at src_en, noisy data
    simulated with the model's own physics (exact geodesics, wind at each array)."""
    ang = np.radians([0, 55, 130, 190, 250, 310])
    rad = np.array([8000, 11000, 9000, 12000, 7000, 10000.0])
    ae, an = rad * np.sin(ang), rad * np.cos(ang)
    alon, alat = geodesy.from_local(LON0, LAT0, ae, an)
    slon, slat = geodesy.from_local(LON0, LAT0, *src_en)
    K = len(ae)
    sig_t = np.array([0.004, 0.006, 0.003, 0.008, 0.005, 0.004])
    sig_az = np.radians(np.array([3.0, 4.0, 2.5, 5.0, 3.0, 4.0]))
    temp = np.array([2.0, 3.0, 1.5, 2.5, 2.0, 3.5])
    c = sound_speed(temp)
    e, n, _ = geodesy.to_local(slon, slat, alon, alat)
    d = np.hypot(e, n)
    u = np.stack([e / d, n / d])
    _, az21, _ = geodesy.inverse(np.full(K, slon), np.full(K, slat), alon, alat)
    wsig_s, wsig_d = 0.5, np.radians(10.0)
    T = n_trials
    # true wind at each array in each trial: common + spread
    # the common wind: fixed, or (true_wind=None) drawn from the fit's prior N(0, 7^2) per trial
    common = rng.normal(0, 7.0, (T, 1, 2)) if true_wind is None else np.array(true_wind)[None, None, :]
    w_true = common + rng.normal(0, spread, (T, K, 2))
    # the true air temperature differs from the reported one by the assumed 0.3 C
    c_true = sound_speed(temp[None] + rng.normal(0, 0.3, (n_trials, K)))
    v = c_true + (w_true * u.T[None]).sum(-1)
    t0 = 1000.0
    t = t0 + d[None] / v + rng.normal(0, 1, (T, K)) * sig_t[None]
    has_w = np.full((T, K), wind_measured)
    spd = np.hypot(w_true[..., 0], w_true[..., 1]) + rng.normal(0, wsig_s, (T, K))
    dirn = np.arctan2(w_true[..., 0], w_true[..., 1]) + rng.normal(0, wsig_d, (T, K))
    wx, wy = spd * np.sin(dirn), spd * np.cos(dirn)
    az = np.radians(az21)[None] + rng.normal(0, 1, (T, K)) * sig_az[None] if azimuth else np.full((T, K), np.nan)
    P = Problem(
        m=np.ones((T, K), bool), a_lon=np.broadcast_to(alon, (T, K)).copy(), a_lat=np.broadcast_to(alat, (T, K)).copy(),
        t=t, sig_t=np.broadcast_to(sig_t, (T, K)).copy(), c=np.broadcast_to(c, (T, K)).copy(), has_w=has_w,
        wx=np.where(has_w, wx, 0.0), wy=np.where(has_w, wy, 0.0), wsig_s=np.full((T, K), wsig_s),
        wsig_d=np.full((T, K), wsig_d), az=az, sig_az=np.broadcast_to(sig_az, (T, K)).copy(),
        prior_w=np.zeros((T, 3)), prior_var=np.tile([49.0, 49.0, 1.0], (T, 1)), sig_sp=np.full(T, max(spread, 1e-3)),
        has_T=np.ones((T, K), bool),
    )
    return P, float(slon), float(slat), t0


def _start(P, slon, slat, t0, rng):
    T = P.m.shape[0]
    lo, la = geodesy.from_local(slon, slat, rng.normal(0, 400, T), rng.normal(0, 400, T))
    return lo, la, np.full(T, t0 + 0.7)


def test_noise_free_recovers_truth_exactly():
    rng = np.random.default_rng(1)
    P, slon, slat, t0 = _problem(3, rng, wind_measured=True)
    P.t[:] = P.t.mean(0)  # same noisy-free-ish realisation; now replace by exact arrivals
    e, n, _ = geodesy.to_local(slon, slat, P.a_lon[0], P.a_lat[0])
    d = np.hypot(e, n)
    wx, wy = 4.0, -2.0
    v = P.c[0] + (wx * e + wy * n) / d
    P.t[:] = t0 + d / v
    P.wx[:], P.wy[:] = wx, wy
    P.wsig_s[:] = 1e-6
    P.wsig_d[:] = 1e-9
    _, az21, _ = geodesy.inverse(np.full(6, slon), np.full(6, slat), P.a_lon[0], P.a_lat[0])
    P.az[:] = np.radians(az21)
    sol = solve(P, *_start(P, slon, slat, t0, rng))
    e, n, _ = geodesy.to_local(slon, slat, sol.lon, sol.lat)
    assert np.all(np.hypot(e, n) < 0.05)
    assert np.allclose(sol.t0, t0, atol=1e-5)


@pytest.mark.parametrize(("azimuth", "wind_measured"), [(True, True), (False, True), (False, False), (True, False)])
def test_rmse_near_cramer_rao_and_coverage(azimuth, wind_measured):
    """Over 600 trials (the common wind drawn from the fit's prior): RMSE within 1.2x the CRB
    of the same model; 95 % ellipse coverage within 0.92..0.975 (binomial sd at n=600 is 0.009)."""
    rng = np.random.default_rng(7 + 2 * azimuth + wind_measured)
    P, slon, slat, t0 = _problem(600, rng, azimuth=azimuth, wind_measured=wind_measured, true_wind=None)
    sol = solve(P, *_start(P, slon, slat, t0, rng), outlier_rounds=0)
    e, n, _ = geodesy.to_local(sol.lon, sol.lat, slon, slat)
    err = np.stack([e, n], -1)
    d2 = np.einsum("ei,eij,ej->e", err, np.linalg.inv(sol.cov[:, :2, :2]), err)
    coverage = float(np.mean(d2 <= 5.991))
    crb = fisher_position_cov(P, np.full(600, slon), np.full(600, slat), np.full(600, t0))
    ratio = float(np.sqrt(np.mean(e**2 + n**2) / np.mean(np.trace(crb, axis1=1, axis2=2))))
    assert 0.92 <= coverage <= 0.975, coverage
    assert 0.8 <= ratio <= 1.2, ratio


def test_unmeasured_wind_is_estimated_not_ignored():
    """With no wind sensor and a 7 m/s wind, the nuisance wind absorbs the bias: the error is
    far below the several-percent-of-range bias of ignoring it, and the covariance is honest."""
    rng = np.random.default_rng(3)
    P, slon, slat, t0 = _problem(300, rng, azimuth=False, wind_measured=False, true_wind=(6.0, -4.0))
    sol = solve(P, *_start(P, slon, slat, t0, rng), outlier_rounds=0)
    e, n, _ = geodesy.to_local(sol.lon, sol.lat, slon, slat)
    rmse = float(np.sqrt(np.mean(e**2 + n**2)))
    assert rmse < 60.0  # ignoring 7 m/s would bias ~2 % of 10 km = 200 m
    err = np.stack([e, n], -1)
    d2 = np.einsum("ei,eij,ej->e", err, np.linalg.inv(sol.cov[:, :2, :2]), err)
    assert 0.92 <= np.mean(d2 <= 5.991) <= 0.98


def test_gross_outlier_is_dropped():
    rng = np.random.default_rng(5)
    P, slon, slat, t0 = _problem(50, rng, azimuth=False)
    # a wrong association: one arrival 2 s off in every trial
    P.t[:, 2] += 2.0
    sol = solve(P, *_start(P, slon, slat, t0, rng))
    assert not sol.m[:, 2].any()
    assert sol.m[:, [0, 1, 3, 4, 5]].all(1).mean() >= 0.9  # good arrivals kept (chance drops are rare)
    e, n, _ = geodesy.to_local(sol.lon, sol.lat, slon, slat)
    err = np.stack([e, n], -1)
    d2 = np.einsum("ei,eij,ej->e", err, np.linalg.inv(sol.cov[:, :2, :2]), err)
    assert np.mean(d2 <= 5.991) >= 0.86  # the remaining five arrays' honest ellipse


def _mixed_width_problem(rng):
    """Events of 4 to 6 arrays (the ring of `_problem`), some slots dropped (gaps, padding)."""
    P, slon, slat, t0 = _problem(40, rng, azimuth=True, wind_measured=False)
    keep = np.ones(P.m.shape, bool)
    for i in range(40):
        keep[i, rng.choice(6, i % 3, replace=False)] = False  # 0, 1 or 2 slots missing
    P.m &= keep
    return P, slon, slat, t0


def test_solve_by_width_chunks_equals_each_event_alone(monkeypatch):
    """Events fitted in chunks ordered by width (slots cut after the chunk's widest event)
    give each event's own fit (to the fit's convergence tolerance), padding slots empty."""
    from truceline.analysis import localize

    rng = np.random.default_rng(11)
    P, slon, slat, t0 = _mixed_width_problem(rng)
    lo, la, tt = _start(P, slon, slat, t0, rng)
    monkeypatch.setattr(localize, "SOLVE_CHUNK", 16)
    sol = solve(P, lo, la, tt)
    for i in range(0, 40, 3):
        one = localize._solve(localize._take(P, np.array([i])), lo[i:i + 1], la[i:i + 1], tt[i:i + 1])
        e, n, _ = geodesy.to_local(one.lon[0], one.lat[0], sol.lon[i], sol.lat[i])
        # (a batch iterates until its slowest event's step is below 1 cm)
        assert np.hypot(e, n) < 0.01 and abs(sol.t0[i] - one.t0[0]) < 1e-5
        assert np.allclose(sol.cov[i], one.cov[0], rtol=1e-4, atol=1e-9)
        assert (sol.m[i] == one.m[0]).all() and sol.chi2[i] == pytest.approx(one.chi2[0], rel=1e-4, abs=1e-6)
    assert not sol.m[~P.m].any() and not sol.gg[~P.m].any()


def test_slot_geodesics_equal_full_grid():
    """The local plane on the measurement slots only equals the full-grid geodesics there."""
    from truceline.analysis import localize

    rng = np.random.default_rng(12)
    P, slon, slat, _ = _mixed_width_problem(rng)
    lon = slon + rng.normal(0, 0.01, 40)
    lat = slat + rng.normal(0, 0.01, 40)
    ax, ay, conv = localize._slots_local(lon, lat, P)
    e, n, c = geodesy.to_local(lon[:, None], lat[:, None], P.a_lon, P.a_lat)
    assert np.array_equal(ax[P.m], e[P.m]) and np.array_equal(ay[P.m], n[P.m])
    assert np.array_equal(conv[P.m], np.radians(c)[P.m])
    assert not ax[~P.m].any() and not ay[~P.m].any()


def _ref_gn(x, y, t0, W, ax, ay, conv, P, m, maz, iters=8):
    """The NumPy form of `localize._gn` that the compiled `kernels.gauss_newton` replaced:
    all events step together until every step is under 1 cm."""
    from truceline.analysis.localize import _linearize, _normal, _safe_inv

    for _ in range(iters):
        res, H, var, ares, Ha, _ = _linearize(x, y, t0, W, ax, ay, conv, P, m, maz)
        J, g, _ = _normal(res, H, var, ares, Ha, m, maz, W, P)
        step = (_safe_inv(J) @ g[..., None])[..., 0]
        sn = np.hypot(step[:, 0], step[:, 1])
        f = np.minimum(1.0, 3000.0 / np.maximum(sn, 1e-9))
        step[:, :3] *= f[:, None]
        step[:, 3:] = np.clip(step[:, 3:], -10.0, 10.0)
        x, y, t0 = x + step[:, 0], y + step[:, 1], t0 + step[:, 2]
        W = W + step[:, 3:]
        if np.all(sn < 0.01):
            break
    return x, y, t0, W, sn < 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_gauss_newton_matches_the_numpy_form(seed):
    """Mixed slots (wind measured or not, thermometer or not, azimuth or not, padding) and
    starts up to kilometres off, some beyond the 3 km step cap: the compiled iterations
    land where the NumPy ones do (to the millimetre: they differ only in that converged
    events stop early)."""
    from truceline.analysis.localize import _gn, _slots_local

    rng = np.random.default_rng(seed)
    P, slon, slat, t0 = _problem(60, rng, spread=1.5)
    T, K = P.m.shape
    P.has_w[:] = rng.random((T, K)) < 0.5
    P.has_T[:] = rng.random((T, K)) < 0.7
    P.az[rng.random((T, K)) < 0.4] = np.nan
    P.m[:, -1] = rng.random(T) < 0.6  # some events with a padding slot
    P.prior_w[:] = rng.normal(0, 2, (T, 3))
    m = P.m.copy()
    maz = m & np.isfinite(P.az)
    lo, la = geodesy.from_local(slon, slat, rng.normal(0, 1500, T), rng.normal(0, 1500, T))
    lo[:3], la[:3] = geodesy.from_local(slon, slat, np.full(3, 6000.0), np.full(3, -5000.0))
    ax, ay, conv = _slots_local(lo, la, P)
    start = (np.zeros(T), np.zeros(T), np.full(T, t0 + 0.7), P.prior_w.copy())
    x, y, t, W, ok = _gn(*start, ax, ay, conv, P, m, maz)
    rx, ry, rt, rW, rok = _ref_gn(*(np.array(v) for v in start), ax, ay, conv, P, m, maz)
    assert ok.sum() >= T - 3 and np.array_equal(ok, rok)
    assert np.max(np.hypot(x - rx, y - ry)[ok]) < 0.005
    assert np.max(np.abs(t - rt)[ok]) < 1e-5
    assert np.max(np.abs(W - rW)[ok]) < 1e-3
    # from starts up to 8 km off, the fit reached the source: (x, y) is the source in each
    # start's plane, within the noise of a 6-array fit whose slots were scrambled above
    e, n, _ = geodesy.to_local(lo, la, slon, slat)
    assert np.median(np.hypot(x - e, y - n)) < 150.0
