"""Wind that changes across the network: measured from the events, carried into their covariance.

Each acoustic fit models the unmeasured wind as one vector W common to the event's arrays
plus a random spread about it (`localize`). A wind that changes *steadily* across the
network (a gradient G, m/s per km) is not random from array to array: it moves every
arrival by -(d/v^2) u.G(p - p_mean), a pattern the position and emission time largely
absorb. The residuals, and so the spread calibrated from them, barely show it, yet the
position is biased by it, and more so the farther apart the event's arrays are: on a
network 120 km across with 0.6 m/s per 20 km, 95 % ellipses held the truth only 87 % of
the time.

The gradient's size is visible elsewhere: in how the events' fitted winds W differ with
the distance between the events. `gradient_sigma` fits the variogram of W (pairs of events
in the same hour): E|W_i - W_j|^2 = a + 2 s^2 |p_i - p_j|^2 for a gradient whose four
components have standard deviation s, after removing each W's own estimation variance.
`widen_for_wind_gradient` then adds to every event the covariance a gradient of that size
would cause (a "consider" covariance, Schmidt): cov H'R^-1 dT/dG, times s^2, times its
transpose. With no gradient in the data, s is 0 and nothing changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import geodesy
from .localize import _linearize, _slots_local, _take

MAX_W_VAR = 1.0  # (m/s)^2: only events whose fitted wind the data pin down take part
MIN_SEP_KM, MAX_SEP_KM = 2.0, 150.0  # event pairs used in the variogram
PAIR_WINDOW_S = 3600.0  # pairs from the same hour (the field drifts)
MAX_PAIRS = 400_000
MIN_PAIRS = 200
N_BINS = 12
CHUNK = 2048  # events per block when adding the covariance (bounded memory)


def gradient_sigma(x_km: np.ndarray, y_km: np.ndarray, t_s: np.ndarray, w: np.ndarray, w_var: np.ndarray,
                   seed: int = 0) -> float:
    """Standard deviation (m/s per km) of each component of the wind gradient, from the
    variogram of the events' fitted winds `w` (E,2) with variances `w_var` (E,2) at plane
    positions (km) and times (s). 0 when the data show no growth with distance or are too
    few. Pairs are drawn at random (fixed seed: the result is reproducible)."""
    ok = np.isfinite(w).all(1) & np.isfinite(w_var).all(1) & (w_var.sum(1) <= 2 * MAX_W_VAR)
    idx = np.flatnonzero(ok)
    if idx.size < 20:
        return 0.0
    order = idx[np.argsort(t_s[idx], kind="stable")]
    t = t_s[order]
    rng = np.random.default_rng(seed)
    # random pairs within the same hour: i uniform, j uniform among the events within the window
    n_try = min(MAX_PAIRS, 50 * order.size)
    i = rng.integers(0, order.size, n_try)
    lo = np.searchsorted(t, t[i] - PAIR_WINDOW_S / 2)
    hi = np.searchsorted(t, t[i] + PAIR_WINDOW_S / 2)
    j = lo + (rng.random(n_try) * (hi - lo)).astype(np.int64)
    j = np.minimum(j, order.size - 1)
    a, b = order[i], order[j]
    sep2 = (x_km[a] - x_km[b]) ** 2 + (y_km[a] - y_km[b]) ** 2
    keep = (a != b) & (sep2 >= MIN_SEP_KM**2) & (sep2 <= MAX_SEP_KM**2)
    if int(keep.sum()) < MIN_PAIRS:
        return 0.0
    a, b, sep2 = a[keep], b[keep], sep2[keep]
    d2 = ((w[a] - w[b]) ** 2).sum(1) - w_var[a].sum(1) - w_var[b].sum(1)
    # robust binned means: the top 2 % of each bin (wrong fits) trimmed
    edges = np.quantile(sep2, np.linspace(0.0, 1.0, N_BINS + 1))
    which = np.clip(np.searchsorted(edges, sep2, side="right") - 1, 0, N_BINS - 1)
    xs, ys, ns = [], [], []
    for k in range(N_BINS):
        v = d2[which == k]
        if v.size < 20:
            continue
        cut = np.quantile(v, 0.98)
        v = v[v <= cut]
        xs.append(float(sep2[which == k].mean()))
        ys.append(float(v.mean()))
        ns.append(v.size)
    if len(xs) < 3:
        return 0.0
    X = np.c_[np.ones(len(xs)), xs]
    wts = np.sqrt(np.asarray(ns, float))
    coef, *_ = np.linalg.lstsq(X * wts[:, None], np.asarray(ys) * wts, rcond=None)
    slope = float(coef[1])
    return float(np.sqrt(slope / 2.0)) if slope > 0 else 0.0


def consider_cov(P, sol, sigma: float) -> np.ndarray:
    """Covariance (E,6,6) an unmodelled gradient of `sigma` per component adds to each fit
    of `sol` (problem rows `P`, same order)."""
    E, K = P.m.shape
    out = np.zeros((E, 6, 6))
    if sigma <= 0.0 or E == 0:
        return out
    width = np.where(sol.m.any(1), K - np.argmax(sol.m[:, ::-1], axis=1), 0)
    order = np.argsort(width, kind="stable")
    for s in range(0, E, CHUNK):
        idx = order[s:s + CHUNK]
        k = max(1, int(width[idx].max()))
        Pi = _take(P, idx, k)
        m, maz = sol.m[idx, :k], sol.maz[idx, :k]
        Pi.m = m
        lon, lat, t0 = sol.lon[idx], sol.lat[idx], sol.t0[idx]
        W = sol.wind[idx]
        ax, ay, conv = _slots_local(lon, lat, Pi)
        z = np.zeros(idx.size)
        # gg: (d/v^2)^2 on the slots whose wind is the nuisance W, 0 on those reporting wind
        _, H, var, _, _, gg = _linearize(z, z, t0, W, ax, ay, conv, Pi, m, maz)
        d = np.maximum(np.hypot(ax, ay), 1e-3)
        ux, uy = ax / d, ay / d
        kk = np.where(m, -np.sqrt(gg), 0.0)  # d arrival / d wind along u
        n_m = np.maximum(m.sum(1, keepdims=True), 1)
        px = (ax - np.where(m, ax, 0.0).sum(1, keepdims=True) / n_m) / 1000.0
        py = (ay - np.where(m, ay, 0.0).sum(1, keepdims=True) / n_m) / 1000.0
        dT = np.stack([kk * ux * px, kk * ux * py, kk * uy * px, kk * uy * py], -1)  # per (m/s per km)
        wt = np.where(m, 1.0 / var, 0.0)
        S = sol.cov[idx] @ (np.swapaxes(H * wt[..., None], 1, 2) @ dT)
        out[idx] = sigma**2 * (S @ np.swapaxes(S, 1, 2))
    return out


def widen_for_wind_gradient(src, t_ref: float = 0.0):
    """`src` (an `AcousticSources`) with the gradient's covariance added to every fit, and
    the gradient sigma (m/s per km) measured from its events."""
    sol = src.sol
    if len(sol.lon) == 0:
        return src, 0.0
    # W is the wind over the arrays that do not report it: place it at their centroid
    P = src.problem
    nw = sol.m & ~P.has_w
    K = nw.shape[1]
    ax, ay, _ = geodesy.project_region(P.a_lon[:, :K][nw], P.a_lat[:, :K][nw])
    rows = np.nonzero(nw)[0]
    cnt = np.maximum(np.bincount(rows, minlength=nw.shape[0]), 1)
    x = np.bincount(rows, ax, nw.shape[0]) / cnt
    y = np.bincount(rows, ay, nw.shape[0]) / cnt
    w = np.asarray(sol.wind, float)[:, :2]
    w_var = np.stack([sol.cov[:, 3, 3], sol.cov[:, 4, 4]], 1)
    sigma = gradient_sigma(x / 1000.0, y / 1000.0, sol.t0 + t_ref, w, w_var)
    if sigma <= 0.0:
        return src, 0.0
    extra = consider_cov(src.problem, sol, sigma)
    return replace(src, sol=replace(sol, cov=sol.cov + extra)), sigma
