"""Weighted nonlinear least-squares localization of acoustic sources, vectorized across events.

Each event is a set of arrival times (and optionally azimuths) at distinct arrays. The
unknowns are the source position (x, y) in the event's own azimuthal-equidistant plane,
the emission time t0 and a nuisance wind W = (Wx, Wy) used for the arrays that did not
report wind (with a Gaussian prior: a regional estimate or climatology). Arrays that
report wind use their measurement, and its error (registry `wind_sigma_*`) is propagated
into the arrival-time variance. The model for array k:

    T_k = t0 + d_k / (c_k + w_k . u_k),   u_k = unit vector source -> array, d_k = |a_k - s|
    az_k = bearing array -> source (+ meridian convergence)

Gauss-Newton event by event in compiled code (`kernels.gauss_newton`) over padded (E, K)
arrays; the final linearization and the covariance are batched NumPy. The
reported covariance is the inverse Fisher information at the solution (the Cramer-Rao
bound of the same model), so the estimator, its covariance and the bound are consistent
by construction; `fisher_position_cov` evaluates the same information at any position
(e.g. the truth) for the CRB comparison. Outliers (a wrong association) are detected by
a chi-square test and the worst-normalised measurement is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import chi2, geodesy, kernels

NPARAM = 6  # x, y, t0, Wx, Wy, dc (speed-of-sound offset for arrays without a thermometer)
DC_DT = 0.6  # m/s per deg C: d c / d T near 0 C
TEMP_REPORT_SIGMA_C = 0.3  # assumed error of a reported air temperature (the registry gives none)


@dataclass(slots=True)
class Problem:
    """Padded per-event measurement arrays (E events x K slots); `m` marks valid slots."""

    m: np.ndarray  # bool (E,K) TOA present
    a_lon: np.ndarray  # array positions (deg)
    a_lat: np.ndarray
    t: np.ndarray  # arrival times (s, relative)
    sig_t: np.ndarray  # timing sigma (s)
    c: np.ndarray  # still-air sound speed (m/s)
    has_w: np.ndarray  # bool: array reported wind
    wx: np.ndarray  # measured wind (m/s), 0 where absent
    wy: np.ndarray
    wsig_s: np.ndarray  # wind speed sigma (m/s)
    wsig_d: np.ndarray  # wind direction sigma (rad)
    az: np.ndarray  # measured azimuth (rad), nan when absent
    sig_az: np.ndarray  # azimuth sigma (rad)
    prior_w: np.ndarray  # (E,3) prior mean of the nuisances (wind east, north; speed offset)
    prior_var: np.ndarray  # (E,3) their prior variances (m/s)^2
    has_T: np.ndarray  # bool (E,K): the array reported its air temperature
    sig_sp: np.ndarray  # (E,) spread (m/s, per component) of the wind at a non-reporting array about W


@dataclass(slots=True)
class Solution:
    lon: np.ndarray
    lat: np.ndarray
    t0: np.ndarray
    wind: np.ndarray  # (E,2)
    cov: np.ndarray  # (E,5,5) parameter covariance
    chi2: np.ndarray
    dof: np.ndarray
    m: np.ndarray  # final TOA slot mask (outliers removed)
    maz: np.ndarray  # final azimuth slot mask
    converged: np.ndarray
    res: np.ndarray  # (E,K) final TOA residuals (0 on unused slots)
    base_var: np.ndarray  # (E,K) TOA variance without the wind-spread term
    gg: np.ndarray  # (E,K) (d/v^2)^2 on slots whose wind is the nuisance W (0 elsewhere)
    chi_az: np.ndarray  # (E,) chi-square of azimuths and the wind prior


def _linearize(x, y, t0, W, ax, ay, conv, P: Problem, m, maz):
    """Residuals, Jacobians and variances for TOA and azimuth slots."""
    rx = ax - x[:, None]
    ry = ay - y[:, None]
    d = np.maximum(np.hypot(rx, ry), 1e-3)
    ux, uy = rx / d, ry / d
    wx = np.where(P.has_w, P.wx, W[:, 0:1])
    wy = np.where(P.has_w, P.wy, W[:, 1:2])
    wu = wx * ux + wy * uy
    v = P.c + np.where(P.has_T, 0.0, W[:, 2:3]) + wu
    pred = t0[:, None] + d / v
    res = P.t - pred
    H = np.zeros(m.shape + (NPARAM,))
    inv_v2 = 1.0 / (v * v)
    H[..., 0] = -ux / v + (wx - wu * ux) * inv_v2
    H[..., 1] = -uy / v + (wy - wu * uy) * inv_v2
    H[..., 2] = 1.0
    nw = ~P.has_w
    H[..., 3] = np.where(nw, -d * inv_v2 * ux, 0.0)
    H[..., 4] = np.where(nw, -d * inv_v2 * uy, 0.0)
    H[..., 5] = np.where(P.has_T, 0.0, -d * inv_v2)
    # measured wind: its error dw moves the arrival by -(d/v^2) dw.u
    ws = np.hypot(P.wx, P.wy)
    safe = np.maximum(ws, 1e-9)
    cosw = np.where(ws > 1e-6, (P.wx * ux + P.wy * uy) / safe, 1.0)
    sinw2 = np.clip(1.0 - cosw * cosw, 0.0, 1.0)
    var_wu = P.wsig_s**2 * cosw**2 + (ws * P.wsig_d) ** 2 * sinw2
    gg = (d * inv_v2) ** 2
    var = P.sig_t**2 + np.where(P.has_w, gg * var_wu, gg * P.sig_sp[:, None] ** 2)
    var = var + np.where(P.has_T, gg * (DC_DT * TEMP_REPORT_SIGMA_C) ** 2, 0.0)
    # azimuth: bearing from the array to the source in the plane, corrected by convergence
    qx, qy = -rx, -ry
    beta = np.arctan2(qx, qy) + conv
    ares = np.angle(np.exp(1j * (P.az - beta))) if maz.any() else np.zeros_like(beta)
    Ha = np.zeros(m.shape + (NPARAM,))
    d2 = d * d
    Ha[..., 0] = qy / d2
    Ha[..., 1] = -qx / d2
    return res, H, var, ares, Ha, np.where(P.has_w, 0.0, gg)


def _normal(res, H, var, ares, Ha, m, maz, W, P: Problem):
    wt = np.where(m, 1.0 / var, 0.0)
    wa = np.where(maz, 1.0 / P.sig_az**2, 0.0)
    res = np.where(m, res, 0.0)
    ares = np.where(maz, ares, 0.0)
    HtW = np.swapaxes(H * wt[..., None], 1, 2)
    HaW = np.swapaxes(Ha * wa[..., None], 1, 2)
    J = HtW @ H + HaW @ Ha
    g = (HtW @ res[..., None])[..., 0] + (HaW @ ares[..., None])[..., 0]
    pinv = 1.0 / P.prior_var
    for i in range(3):
        J[:, 3 + i, 3 + i] += pinv[:, i]
        g[:, 3 + i] += (P.prior_w[:, i] - W[:, i]) * pinv[:, i]
    chi = (wt * res**2).sum(1) + (wa * ares**2).sum(1)
    chi += ((P.prior_w - W) ** 2 * pinv).sum(1)
    return J, g, chi


def _safe_inv(J):
    eye = np.eye(J.shape[-1])
    scale = np.sqrt(np.clip(np.einsum("eii->ei", J), 1e-30, None))
    Js = J / scale[:, :, None] / scale[:, None, :] + 1e-12 * eye
    return np.linalg.inv(Js) / scale[:, :, None] / scale[:, None, :]


def _gn(x, y, t0, W, ax, ay, conv, P, m, maz, iters=8):
    """Gauss-Newton from (x, y, t0, W) in each event's plane, at most `iters` steps, each
    step's position change capped at 3 km and wind change at 10 m/s (bad starts). Compiled
    event by event (`kernels.gauss_newton`; as NumPy expressions over (E, K, 6) arrays it was
    most of the fit's time). Returns the new estimates and whether the last step was < 1 m."""
    x, y, t0 = (np.array(v, dtype=float) for v in (x, y, t0))
    W = np.array(W, dtype=float)
    f = {k: np.ascontiguousarray(getattr(P, k)) for k in ("t", "c", "has_w", "wx", "wy", "has_T", "wsig_s", "wsig_d",
                                                           "sig_t", "az", "sig_az", "sig_sp", "prior_w", "prior_var")}
    ok = kernels.gauss_newton(x, y, t0, W, np.ascontiguousarray(ax, float), np.ascontiguousarray(ay, float),
                              np.ascontiguousarray(conv, float), f["t"], f["c"], f["has_w"], f["wx"], f["wy"],
                              f["has_T"], f["wsig_s"], f["wsig_d"], f["sig_t"], f["az"], f["sig_az"], f["sig_sp"],
                              f["prior_w"], f["prior_var"], np.ascontiguousarray(m), np.ascontiguousarray(maz),
                              iters, (DC_DT * TEMP_REPORT_SIGMA_C) ** 2)
    return x, y, t0, W, ok


def _take(P: Problem, idx: np.ndarray, k: int | None = None) -> Problem:
    """The sub-problem of events `idx` (with their first `k` slots only, when given)."""
    if k is None:
        return Problem(**{f: getattr(P, f)[idx] for f in P.__dataclass_fields__})
    return Problem(**{f: getattr(P, f)[idx, :k] if f in _SLOT_FIELDS else getattr(P, f)[idx]
                      for f in P.__dataclass_fields__})


def _slots_local(lon, lat, P: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuthal-equidistant east/north (m) of each event's arrays about (lon, lat) and the
    meridian convergence (rad), computed on the measurement slots only (the geodesics are
    the costly part); padding slots sit at the centre (finite, and masked out everywhere)."""
    E, K = P.m.shape
    ax, ay, conv = np.zeros((E, K)), np.zeros((E, K)), np.zeros((E, K))
    rr, cc = np.nonzero(P.m)
    if rr.size:
        e, n, c = geodesy.to_local(np.asarray(lon, float)[rr], np.asarray(lat, float)[rr], P.a_lon[rr, cc],
                                   P.a_lat[rr, cc])
        ax[rr, cc], ay[rr, cc], conv[rr, cc] = e, n, np.radians(c)
    return ax, ay, conv


def _final(P: Problem, lon, lat, t0, W, m, maz):
    """Linearize at the (re-centred) estimate: chi-square, dof, covariance, residuals."""
    E = len(lon)
    ax, ay, conv = _slots_local(lon, lat, P)
    z = np.zeros(E)
    res, H, var, ares, Ha, gg = _linearize(z, z, t0, W, ax, ay, conv, P, m, maz)
    J, g, chi = _normal(res, H, var, ares, Ha, m, maz, W, P)
    cov = _safe_inv(J)
    # effective number of fitted parameters: 3 + what the data (not the prior) fix of W
    p_eff = NPARAM - (np.einsum("eii->ei", cov[:, 3:, 3:]) / P.prior_var).sum(1)
    dof = np.maximum(m.sum(1) + maz.sum(1) - p_eff, 0.0)
    return res, var, ares, gg, chi, dof, cov


SOLVE_CHUNK = 2048  # events fitted together: bounds the memory of the batched fit
_SLOT_FIELDS = ("m", "a_lon", "a_lat", "t", "sig_t", "c", "has_w", "wx", "wy", "wsig_s", "wsig_d", "az",
                "sig_az", "has_T")  # the (E, K) fields of a Problem
_SOL_SLOT_FIELDS = ("m", "maz", "res", "base_var", "gg")  # ... and of a Solution


def solve(P: Problem, lon0, lat0, t00, outlier_rounds: int = 6, p_outlier: float = 1e-2,
          workers: int | None = 1) -> Solution:
    """`_solve` in chunks of `SOLVE_CHUNK` events of similar width (events ordered by their
    last measurement slot, each chunk's slots cut after its widest event): each event's fit
    is independent, the working memory stays bounded whatever the number of events, and
    the many small events no longer pay for the padding of the few heard by dozens of
    arrays. The chunks depend on `P` only; with `workers` > 1 they are fitted in a process
    pool (`parallel.pmap`: results identical to the serial path). Slots past a chunk's
    width come back empty (mask False, zeros)."""
    E, K = P.m.shape
    lon0, lat0, t00 = (np.broadcast_to(np.asarray(v, float), (E,)) for v in (lon0, lat0, t00))
    if E == 0:
        return _solve(P, lon0, lat0, t00, outlier_rounds, p_outlier)
    width = np.where(P.m.any(1), K - np.argmax(P.m[:, ::-1], axis=1), 0)
    order = np.argsort(width, kind="stable")
    jobs, chunks = [], []
    for a in range(0, E, SOLVE_CHUNK):
        idx = order[a:a + SOLVE_CHUNK]
        k = max(1, int(width[idx].max()))
        chunks.append((idx, k))
        jobs.append((_take(P, idx, k), lon0[idx].copy(), lat0[idx].copy(), t00[idx].copy(), outlier_rounds,
                     p_outlier))
    if len(jobs) == 1:
        parts = [_solve(*jobs[0])]
    else:
        from .parallel import pmap

        parts = pmap(_solve, jobs, workers)
    out = {}
    for f in Solution.__dataclass_fields__:
        v0 = getattr(parts[0], f)
        if f in _SOL_SLOT_FIELDS:
            full = np.full((E, K), 1.0 if f == "base_var" else 0, v0.dtype)
            for (idx, k), x in zip(chunks, parts, strict=True):
                full[idx, :k] = getattr(x, f)
        else:
            full = np.empty((E,) + v0.shape[1:], v0.dtype)
            for (idx, _k), x in zip(chunks, parts, strict=True):
                full[idx] = getattr(x, f)
        out[f] = full
    return Solution(**out)


def _solve(P: Problem, lon0, lat0, t00, outlier_rounds: int = 6, p_outlier: float = 1e-2) -> Solution:
    """Fit every event from the start (lon0, lat0, t00). The plane is centred on the start
    (the association's estimate, within a few hundred metres), the fit re-centred on the
    result and linearized there, so ranges are exact geodesics. Events failing the
    chi-square test lose their worst measurements (all with |z| > 5, at least the worst)
    and are refitted, up to `outlier_rounds` times; only those are refitted."""
    E, K = P.m.shape
    m = P.m.copy()
    maz = m & np.isfinite(P.az)
    lon = np.asarray(lon0, float).copy()
    lat = np.asarray(lat0, float).copy()
    t0 = np.asarray(t00, float).copy()
    W = P.prior_w.copy()
    conv_ok = np.ones(E, bool)
    ax, ay, conv = _slots_local(lon, lat, P)
    x = np.zeros(E)
    y = np.zeros(E)
    idx = np.arange(E)
    for rnd in range(outlier_rounds + 1):
        Pi = _take(P, idx)
        xi, yi, ti, Wi, ci = _gn(x[idx], y[idx], t0[idx], W[idx], ax[idx], ay[idx], conv[idx], Pi, m[idx], maz[idx])
        x[idx], y[idx], t0[idx], W[idx], conv_ok[idx] = xi, yi, ti, Wi, ci
        if rnd == outlier_rounds:
            break
        res, H, var, ares, Ha, _ = _linearize(xi, yi, ti, Wi, ax[idx], ay[idx], conv[idx], Pi, m[idx], maz[idx])
        J, _, chi = _normal(res, H, var, ares, Ha, m[idx], maz[idx], Wi, Pi)
        cov = _safe_inv(J)
        p_eff = NPARAM - (np.einsum("eii->ei", cov[:, 3:, 3:]) / Pi.prior_var).sum(1)
        mi, mazi = m[idx], maz[idx]
        dof = np.maximum(mi.sum(1) + mazi.sum(1) - p_eff, 0.0)
        limit = np.where(dof > 0.5, chi2.isf(p_outlier, np.maximum(dof, 0.5)), np.inf)
        bad = (chi > limit) & (mi.sum(1) >= 5)
        if not bad.any():
            break
        zt = np.where(mi, np.abs(res) / np.sqrt(var), -1.0)
        za = np.where(mazi, np.abs(ares) / Pi.sig_az, -1.0)
        zz = np.maximum(zt, za)
        worst = np.argmax(zz, axis=1)
        rows = np.nonzero(bad)[0]
        # drop every gross outlier at once (z > 5), and at least the worst measurement,
        # but never below 4 arrival times
        # the worst only: a gross error distorts the fit enough to push good residuals past
        # any fixed threshold; several errors take several rounds
        gross = np.zeros_like(zz, dtype=bool)
        gross[rows, worst[rows]] = True
        too_many = (mi.sum(1) - (gross & mi).sum(1)) < 4
        if too_many.any():
            g2 = np.zeros_like(gross)
            r2 = np.nonzero(too_many & bad)[0]
            g2[r2, worst[r2]] = True
            gross = np.where(too_many[:, None], g2, gross)
        mi &= ~gross
        mazi &= ~gross
        m[idx], maz[idx] = mi, mazi
        idx = idx[bad]
    lon, lat = geodesy.from_local(lon, lat, x, y)
    res, var, ares, gg, chi, dof, cov = _final(P, lon, lat, t0, W, m, maz)
    gg = np.where(P.m, gg, 0.0)  # padding slots: no wind term (and unit variance, never used)
    base_var = np.where(P.m, var - gg * P.sig_sp[:, None] ** 2, 1.0)
    chi_az = np.where(maz, (ares / P.sig_az) ** 2, 0.0).sum(1) + ((P.prior_w - W) ** 2 / P.prior_var).sum(1)
    return Solution(lon=lon, lat=lat, t0=t0, wind=W, cov=cov, chi2=chi, dof=dof, m=m, maz=maz, converged=conv_ok,
                    res=np.where(m, res, 0.0), base_var=base_var, gg=gg, chi_az=chi_az)


def calibrate_wind_spread(sol: Solution, use: np.ndarray, lo: float = 0.0, hi: float = 12.0) -> float:
    """Spread (m/s) of the wind at non-reporting arrays about the event's common wind that
    makes the fits' chi-square match their degrees of freedom (method of moments over the
    events in `use`; gross misfits are trimmed). Events whose arrays all report wind do not
    depend on the spread but stay in the sums: their chi-square matches their degrees of
    freedom when the rest of the noise model holds, so they add no bias. The model widens
    the uncertainty honestly by what the data say the unmodelled wind costs."""
    sel = use & (sol.dof > 0.5)
    if sel.sum() < 5:
        return float("nan")
    r2 = sol.res[sel] ** 2
    bv, gg = sol.base_var[sel], sol.gg[sel]
    m = sol.m[sel]
    dof = sol.dof[sel]
    caz = sol.chi_az[sel]

    def per_event(s):
        return np.where(m, r2 / (bv + gg * s * s), 0.0).sum(1) + caz

    # robust: events that misfit grossly at the current estimate (wrong associations) are
    # trimmed, the spread re-estimated on the rest, three times
    est = 0.5
    for _ in range(3):
        keep = per_event(est) <= chi2.isf(1e-5, np.maximum(dof, 0.5))
        if keep.sum() < 5:
            keep = np.ones_like(keep)
        target = dof[keep].sum()
        a, b = lo, hi
        if per_event(a)[keep].sum() <= target:
            est = a
            continue
        for _ in range(26):  # bisection to (hi - lo) / 2^26: under a micrometre per second
            mid = 0.5 * (a + b)
            if per_event(mid)[keep].sum() > target:
                a = mid
            else:
                b = mid
        est = 0.5 * (a + b)
    return est


def fisher_position_cov(P: Problem, lon, lat, t0=None, wind=None) -> np.ndarray:
    """Cramer-Rao bound (E,2,2) on the position for the measurement model above, evaluated
    at the given positions (e.g. the truth) with the slots in `P.m` and the registry sigmas,
    the nuisance wind with its prior included."""
    E = P.m.shape[0]
    ax, ay, conv = _slots_local(lon, lat, P)
    W = P.prior_w if wind is None else np.asarray(wind, float)
    z = np.zeros(E)
    t0 = z if t0 is None else np.asarray(t0, float)
    maz = P.m & np.isfinite(P.az)
    res, H, var, ares, Ha, _ = _linearize(z, z, t0, W, ax, ay, conv, P, P.m, maz)
    J, _, _ = _normal(res, H, var, ares, Ha, P.m, maz, W, P)
    return _safe_inv(J)[:, :2, :2]
