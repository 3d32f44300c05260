"""From associated clusters to located acoustic sources: wind priors, the vectorized fit,
acceptance tests, launch/impact classification inputs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from . import chi2, geodesy, kernels
from .acoustic import Arrays, Detections
from .associate import AssociationConfig, Clusters, associate
from .localize import Problem, Solution, calibrate_wind_spread, solve

CLIMATE_WIND_SIGMA = 7.0  # m/s per component: prior when nothing nearby measures wind
SPATIAL_WIND_SIGMA = 2.5  # m/s: how far the wind at an array may differ from nearby measurements
WIND_RADIUS_M = 60000.0
# least spread (m/s) of the unmeasured wind about the fit's common wind. Calm, uniform air
# calibrates to ~0.1, and 0.3 then over-states the error (95 % coverage 0.977 on the 40
# foreign scenarios; 0.959 with 0.1). But where no array reports wind or azimuth, the
# gradient estimate is too noisy to carry what the residuals cannot show, and 0.1 gave
# coverage 0.71-0.99 (0.94-1.0 with 0.3) on such networks (docs/analysis.md, known limits)
MIN_WIND_SPREAD = 0.3
PRIOR_SPREAD_FLOOR = 0.5  # m/s: least spread of the true wind about the mean of nearby measurements
WIND_WINDOW_S = 3600.0


@dataclass(slots=True)
class AcousticSources:
    """Located sources (one row each) with their member detections."""

    det: np.ndarray  # (S,K) detection indices (-1 empty), outliers removed
    sol: Solution
    n_arrays: np.ndarray
    label_votes: np.ndarray  # (S,3) launch/impact/unknown vote counts
    accepted: np.ndarray  # bool
    problem: Problem  # the final fit's problem rows (same order), for bounds and diagnostics
    t_ref: float = 0.0
    wind_spread: list = None  # calibrated spread (m/s) of unmeasured wind per round
    hearing_share: float | None = None  # how reliably arrays hear a real source (`hearing_share`)


def wind_prior(arrays: Arrays, dets: Detections, lon, lat, t0, spread: float = SPATIAL_WIND_SIGMA
               ) -> tuple[np.ndarray, np.ndarray]:
    """Prior (mean, variance per component) of the wind near each event: the mean of the
    winds measured within `WIND_RADIUS_M` and `WIND_WINDOW_S`, widened by the spatial
    variability; climatology (0 +- 7 m/s) where nothing nearby measures wind."""
    E = len(lon)
    mean = np.zeros((E, 2))
    var = np.full(E, CLIMATE_WIND_SIGMA**2)
    has = np.isfinite(dets.wx)
    if not has.any() or E == 0:
        return mean, var
    X, Y, centre = geodesy.project_region(np.r_[arrays.lon, lon], np.r_[arrays.lat, lat])
    nA = len(arrays.ids)
    ax, ay = X[:nA], Y[:nA]
    ex, ey = X[nA:], Y[nA:]
    # time bins of one hour: mean measured wind per (array, hour)
    hb = np.floor(dets.t[has] / WIND_WINDOW_S).astype(np.int64)
    key = hb * nA + dets.arr[has]
    uk, inv = np.unique(key, return_inverse=True)
    n = np.bincount(inv)
    mx = np.bincount(inv, dets.wx[has]) / n
    my = np.bincount(inv, dets.wy[has]) / n
    k_hour, k_arr = uk // nA, uk % nA
    sx = arrays.wind_sigma_mps[k_arr]
    eh = np.floor(t0 / WIND_WINDOW_S).astype(np.int64)
    for h in np.unique(eh):
        sel_e = np.nonzero(eh == h)[0]
        sel_m = np.nonzero(np.abs(k_hour - h) <= 0)[0]
        if sel_m.size == 0:
            continue
        tree = cKDTree(np.c_[ax[k_arr[sel_m]], ay[k_arr[sel_m]]])
        lists = tree.query_ball_point(np.c_[ex[sel_e], ey[sel_e]], WIND_RADIUS_M)
        cnt = np.fromiter((len(x) for x in lists), np.int64, count=len(lists))
        if cnt.sum() == 0:
            continue
        idx = sel_m[np.fromiter(itertools.chain.from_iterable(lists), np.int64, count=int(cnt.sum()))]
        ev = np.repeat(np.arange(sel_e.size), cnt)
        has_n = cnt > 0
        n_ = np.maximum(cnt, 1)
        j = sel_e[has_n]
        mean[j, 0] = (np.bincount(ev, mx[idx], sel_e.size) / n_)[has_n]
        mean[j, 1] = (np.bincount(ev, my[idx], sel_e.size) / n_)[has_n]
        var[j] = spread**2 + (np.bincount(ev, sx[idx] ** 2, sel_e.size) / n_ / n_)[has_n]
    return mean, var


def _dc_var(dets: Detections, det: np.ndarray) -> np.ndarray:
    """Prior variance of the common speed-of-sound offset of an event's arrays without a
    thermometer: from the variance of their interpolated temperatures."""
    from .localize import DC_DT

    m = (det >= 0) & ~dets.has_T[np.maximum(det, 0)]
    tv = np.where(m, dets.temp_var[np.maximum(det, 0)], 0.0)
    n = m.sum(1)
    v = np.where(n > 0, tv.sum(1) / np.maximum(n, 1), 1.0)
    return np.maximum(DC_DT**2 * v, 1e-4)


def compact(det: np.ndarray) -> np.ndarray:
    """Valid slots first, columns trimmed to the largest cluster."""
    if det.size == 0:
        return det
    out, k = kernels.compact_rows(np.ascontiguousarray(det))
    return out[:, :k]


def build_problem(arrays: Arrays, dets: Detections, det: np.ndarray, prior_w, prior_var, sig_sp=1.0) -> Problem:
    m = det >= 0
    d = np.maximum(det, 0)
    a = dets.arr[d]
    has_w = m & np.isfinite(dets.wx[d])
    az = np.where(m, dets.az[d], np.nan)
    return Problem(
        m=m,
        a_lon=arrays.lon[a],
        a_lat=arrays.lat[a],
        t=np.where(m, dets.t[d], 0.0),
        sig_t=arrays.timing_sigma[a],
        c=dets.c[d],
        has_w=has_w,
        wx=np.where(has_w, dets.wx[d], 0.0),
        wy=np.where(has_w, dets.wy[d], 0.0),
        wsig_s=arrays.wind_sigma_mps[a],
        wsig_d=arrays.wind_sigma_rad[a],
        az=az,
        sig_az=arrays.az_sigma[a],
        prior_w=np.c_[np.asarray(prior_w, float), np.zeros(len(det))],
        prior_var=np.c_[np.asarray(prior_var, float), np.asarray(prior_var, float),
                        _dc_var(dets, det)],
        has_T=m & dets.has_T[d],
        sig_sp=np.broadcast_to(np.asarray(sig_sp, float), (det.shape[0],)).copy(),
    )


def fit_calibrated(arrays: Arrays, dets: Detections, det: np.ndarray, lon, lat, t0, rounds: int = 1,
                   spread: float | None = None, workers: int | None = 1):
    """Fit all sources, then calibrate the spread of unmeasured wind (see
    `localize.calibrate_wind_spread`) and refit with it, `rounds` times; a given `spread`
    is used as is."""
    if spread is not None:
        pw, pv = wind_prior(arrays, dets, lon, lat, t0, spread=max(spread, PRIOR_SPREAD_FLOOR))
        P = build_problem(arrays, dets, det, pw, pv, sig_sp=spread)
        sol = solve(P, lon, lat, t0, workers=workers)
        return P, sol, spread, np.where(sol.m, det, -1)
    spread = 1.0
    pw, pv = wind_prior(arrays, dets, lon, lat, t0, spread=max(spread, PRIOR_SPREAD_FLOOR))
    P = build_problem(arrays, dets, det, pw, pv, sig_sp=spread)
    sol = solve(P, lon, lat, t0, workers=workers)
    det = np.where(sol.m, det, -1)
    for _ in range(rounds):
        # floor: the residuals of one fit cannot see the smooth (gradient) part of the wind
        # field that the position absorbs, so the moment estimate is a lower bound
        new = max(calibrate_wind_spread(sol, sol.converged), MIN_WIND_SPREAD)
        if not np.isfinite(new) or abs(new - spread) < 0.05 * max(spread, 0.2):
            break
        spread = new
        pw, pv = wind_prior(arrays, dets, lon, lat, t0, spread=max(spread, PRIOR_SPREAD_FLOOR))
        P = build_problem(arrays, dets, det, pw, pv, sig_sp=spread)
        sol = solve(P, sol.lon, sol.lat, sol.t0, workers=workers)
        det = np.where(sol.m, det, -1)
    return P, sol, spread, det


def completeness(arrays: Arrays, det: np.ndarray, dets: Detections, lon, lat,
                 centre: tuple[float, float] | None = None) -> np.ndarray:
    """Share of the arrays within the members' 75th-percentile distance of the source that
    are members: near 1 for a real source (nearby arrays hear it), low for a chance
    coincidence of detections of different sources. `centre`: of the plane in which arrays
    are counted (default: that of the arrays and these sources, `geodesy.project_region`)."""
    E = det.shape[0]
    if E == 0:
        return np.zeros(0)
    m = det >= 0
    a = dets.arr[np.maximum(det, 0)]
    dist = np.full(m.shape, np.nan)
    rr, cc = np.nonzero(m)  # geodesics on the member slots only
    dist[rr, cc] = geodesy.inverse(np.asarray(lon, float)[rr], np.asarray(lat, float)[rr], arrays.lon[a[rr, cc]],
                                   arrays.lat[a[rr, cc]])[2]
    n = m.sum(1)
    srt = np.sort(np.where(m, dist, np.inf), axis=1)
    q = np.clip(np.ceil(0.75 * n).astype(int) - 1, 0, srt.shape[1] - 1)
    d75 = np.where(n > 0, srt[np.arange(E), q], 0.0)
    pts_lon, pts_lat = np.r_[arrays.lon, lon], np.r_[arrays.lat, lat]
    c_lon, c_lat = centre if centre is not None else geodesy.region_centre(pts_lon, pts_lat)
    X, Y, _ = geodesy.to_local(c_lon, c_lat, pts_lon, pts_lat)
    nA = len(arrays.ids)
    tree = cKDTree(np.c_[X[:nA], Y[:nA]])
    cnt = tree.query_ball_point(np.c_[X[nA:], Y[nA:]], d75 * 1.001 + 1.0, return_length=True)
    within = (np.where(m, dist, np.inf) <= d75[:, None] * 1.001 + 1.0).sum(1)
    return within / np.maximum(cnt, within).clip(1)


REACH_NEIGHBOURS = 4  # a source is located when this many arrays hear it
REACH_FACTOR = 1.2
REACH_MAX_M = 100_000.0  # ground arrays rarely hear a gun farther; the search cost grows with the square


def network_reach(arrays: Arrays) -> float:
    """The distance (m) arrays must hear to for a source anywhere in this network to reach
    `REACH_NEIGHBOURS` of them: `REACH_FACTOR` x the 90th percentile of the arrays' distance
    to their 4th-nearest neighbour (0 with fewer arrays). A sparse network (arrays 25-30 km
    apart) is only useful if its arrays hear that far, so the association must look that far
    (up to `REACH_MAX_M`: a network sparser than that cannot locate by sound)."""
    n = len(arrays.ids)
    if n <= REACH_NEIGHBOURS:
        return 0.0
    x, y, _ = geodesy.project_region(arrays.lon, arrays.lat)
    d, _ = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=REACH_NEIGHBOURS + 1)
    return float(min(REACH_FACTOR * np.percentile(d[:, REACH_NEIGHBOURS], 90), REACH_MAX_M))


def explained(dets: Detections, det: np.ndarray) -> np.ndarray:
    """Per detection, whether a source (rows of `det`) uses it."""
    used = np.zeros(len(dets), bool)
    used[det[det >= 0]] = True
    return used


CROWD_WINDOW_S = 10.0  # +- around each arrival: a salvo's rounds arrive within seconds


def unexplained_crowding(dets: Detections, det: np.ndarray, window_s: float = CROWD_WINDOW_S) -> np.ndarray:
    """Per source (rows of `det`), how many detections that no source explains lie within
    `window_s` of its arrivals, per member array, beyond what that array's own rate of
    unexplained detections would put there by chance. Near 0 for a source heard in the
    clear or among uniform clutter; 1-2 for one formed inside a crowd of arrivals the
    association could not untangle (a salvo whose rounds it did not resolve): there its
    detections could be combined several ways, and this combination is not established."""
    S = det.shape[0]
    if S == 0 or len(dets) == 0:
        return np.zeros(S)
    used = explained(dets, det)
    nA = int(dets.arr.max()) + 1
    span = float(dets.t.max() - dets.t.min()) + 2.0 * window_s
    free = np.flatnonzero(~used)
    rate = np.bincount(dets.arr[free], minlength=nA) / span  # unexplained detections per second per array
    scale = span + 4.0 * window_s + 1.0  # array-major keys: (array, time) in one sorted float axis
    key = np.sort(dets.arr[free] * scale + (dets.t[free] - dets.t.min()))
    m = det >= 0
    d = np.maximum(det, 0)
    k = dets.arr[d] * scale + (dets.t[d] - dets.t.min())
    n = np.searchsorted(key, k + window_s) - np.searchsorted(key, k - window_s)
    excess = np.where(m, n - rate[dets.arr[d]] * 2.0 * window_s, 0.0)
    return excess.sum(1) / np.maximum(m.sum(1), 1)


LEFTOVER_REL_TOL = 0.03  # of the travel time: wind and temperature the prediction does not model
LEFTOVER_ABS_TOL_S = 0.5  # plus the timing and position errors of the source that predicts


def explained_by_others(arrays: Arrays, dets: Detections, det: np.ndarray, sol: Solution,
                        test: np.ndarray, max_range_m: float) -> np.ndarray:
    """For each source in `test` (row indices of `det`/`sol`), the share of its member detections
    whose arrival another located source predicts (its emission time plus still-air travel time,
    within `LEFTOVER_REL_TOL` of the travel time + `LEFTOVER_ABS_TOL_S`).

    A barely determined fit (4-5 arrays) made of the leftovers of sources located elsewhere
    (far-array arrivals the association gates let go) has nearly all its arrivals predicted
    by them; an isolated real source has almost none (chance: the other sources' predicted
    arrivals per array and second, times the window). Measured on four simulated days:
    25 of 29 such fragments at share 1.0 and none below 0.7; 19 of 20 clean barely
    determined launches at 0.2 or less (docs/attribution.md)."""
    test = np.asarray(test, dtype=np.int64)
    out = np.zeros(len(test))
    if len(test) == 0 or len(sol.t0) < 2:
        return out
    order = np.argsort(sol.t0, kind="stable")
    t_sorted = sol.t0[order]
    m = det[test] >= 0
    src_of = np.repeat(test, m.sum(1))
    d = det[test][m]
    slot_of = np.repeat(np.arange(len(test)), m.sum(1))
    t_arr = dets.t[d]
    c = dets.c[d]
    max_travel = max_range_m / np.maximum(c, 1.0)
    lo = np.searchsorted(t_sorted, t_arr - max_travel - LEFTOVER_ABS_TOL_S)
    hi = np.searchsorted(t_sorted, t_arr + LEFTOVER_ABS_TOL_S, side="right")
    n = hi - lo
    pair_det = np.repeat(np.arange(len(d)), n)
    offs = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    other = order[np.repeat(lo, n) + offs]
    keep = other != src_of[pair_det]
    pair_det, other = pair_det[keep], other[keep]
    hit = np.zeros(len(d), bool)
    if len(other):
        a = dets.arr[d[pair_det]]
        dist = geodesy.inverse(sol.lon[other], sol.lat[other], arrays.lon[a], arrays.lat[a])[2]
        travel = dist / c[pair_det]
        ok = np.abs(t_arr[pair_det] - (sol.t0[other] + travel)) <= LEFTOVER_REL_TOL * travel + LEFTOVER_ABS_TOL_S
        hit[pair_det[ok]] = True
    out[:] = np.bincount(slot_of, weights=hit, minlength=len(test)) / np.maximum(m.sum(1), 1)
    return out


def background_rate(dets: Detections, det: np.ndarray, test: np.ndarray,
                    window_s: float = CROWD_WINDOW_S) -> np.ndarray:
    """For each source in `test`, the mean over its member arrays of the unexplained detections
    (clutter, other sources' leftovers) each array has per `2 * window_s`, at its average rate
    over the data. Four unrelated detections line up as a source by chance at a rate that grows
    with the fourth power of this rate, so a fit with few redundant measurements is only as
    good as its arrays are quiet."""
    test = np.asarray(test, dtype=np.int64)
    if len(test) == 0 or len(dets) == 0:
        return np.zeros(len(test))
    used = explained(dets, det)
    nA = int(dets.arr.max()) + 1
    span = max(float(dets.t.max() - dets.t.min()), 1.0)
    rate = np.bincount(dets.arr[~used], minlength=nA) / span
    m = det[test] >= 0
    per = np.where(m, rate[dets.arr[np.maximum(det[test], 0)]] * 2.0 * window_s, 0.0)
    return per.sum(1) / np.maximum(m.sum(1), 1)


HEARING_MIN_SOURCES = 20  # strong sources needed to measure how reliably arrays hear
HEARING_MIN_ARRAYS = 6  # a source this well heard is surely real: its completeness measures hearing
HEARING_MARGIN = 0.55  # a later round asks this share of what strong sources show


def hearing_share(arrays: Arrays, dets: Detections, det: np.ndarray, lon, lat) -> float | None:
    """How reliably this network's arrays hear a real source: the median `completeness` of
    the accepted sources heard by >= `HEARING_MIN_ARRAYS` arrays (None with fewer than
    `HEARING_MIN_SOURCES` of them). Near 1 where arrays rarely miss; ~0.6 where they miss
    every third source (a noisy site, a failing sensor, a conservative detector)."""
    strong = (det >= 0).sum(1) >= HEARING_MIN_ARRAYS
    if int(strong.sum()) < HEARING_MIN_SOURCES:
        return None
    return float(np.median(completeness(arrays, det[strong], dets, np.asarray(lon)[strong], np.asarray(lat)[strong])))


def later_min_completeness(base: float, share: float | None) -> float:
    """The completeness a later round asks of a source: `base`, lowered in proportion where
    the network's arrays hear less reliably than the gate assumes, so that a real source
    heard by a sparse, unreliable network is not taken for a chance coincidence."""
    if share is None:
        return base
    return float(min(base, HEARING_MARGIN * share))


def extend(arrays: Arrays, dets: Detections, det: np.ndarray, sol: Solution, ok: np.ndarray, spread: float,
           k_ext: int = 48, z_gate: float = 3.5, small: int = 6, used: np.ndarray | None = None) -> np.ndarray:
    """Give every accepted source the detections it explains at arrays it does not yet use:
    predict the arrival at its `k_ext` nearest arrays with the fitted wind and take the
    detection nearest the prediction within `z_gate` sigma, if that detection is free, or
    held by a rejected cluster, or by a small cluster (<= `small` arrays) while this source
    is larger: leftovers of a big source then no longer form chance clusters elsewhere."""
    S, K = det.shape
    acc = np.nonzero(ok)[0]
    if acc.size == 0:
        return det
    nA = len(arrays.ids)
    owner = np.full(len(dets), -1, dtype=np.int64)
    rows, cols = np.nonzero(det >= 0)
    owner[det[rows, cols]] = rows
    n_of = (det >= 0).sum(1)
    X, Y, _ = geodesy.project_region(np.r_[arrays.lon, sol.lon[acc]], np.r_[arrays.lat, sol.lat[acc]])
    tree = cKDTree(np.c_[X[:nA], Y[:nA]])
    k = min(k_ext, nA)
    # reach of each source: its farthest member, plus a margin
    a_mem = dets.arr[np.maximum(det[acc], 0)]
    dx = X[a_mem] - X[nA:][:, None]
    dy = Y[a_mem] - Y[nA:][:, None]
    reach = np.where(det[acc] >= 0, np.hypot(dx, dy), 0.0).max(1) * 1.25 + 2000.0
    dist, cand = tree.query(np.c_[X[nA:], Y[nA:]], k=k)
    dist, cand = dist.reshape(acc.size, k), cand.reshape(acc.size, k)
    valid = (cand < nA) & (dist <= reach[:, None])
    member = np.zeros((acc.size, k), bool)
    for j in range(det.shape[1]):
        member |= (dets.arr[np.maximum(det[acc, j], 0)][:, None] == cand) & (det[acc, j] >= 0)[:, None]
    valid &= ~member
    ca = np.where(valid, cand, 0)
    e, n = np.zeros(ca.shape), np.zeros(ca.shape)
    rr, cc = np.nonzero(valid)  # geodesics on the candidate slots only
    e[rr, cc], n[rr, cc], _ = geodesy.to_local(sol.lon[acc][rr], sol.lat[acc][rr], arrays.lon[ca[rr, cc]],
                                               arrays.lat[ca[rr, cc]])
    d = np.maximum(np.hypot(e, n), 1.0)
    ux, uy = e / d, n / d
    # per-array still-air speed and measured wind (mean of the array's reports)
    cnt = np.bincount(dets.arr, minlength=nA)
    c_arr = np.where(cnt > 0, np.bincount(dets.arr, dets.c, nA) / np.maximum(cnt, 1), 340.0)
    has = np.isfinite(dets.wx)
    hc = np.bincount(dets.arr[has], minlength=nA)
    mwx = np.where(hc > 0, np.bincount(dets.arr[has], dets.wx[has], nA) / np.maximum(hc, 1), np.nan)
    mwy = np.where(hc > 0, np.bincount(dets.arr[has], dets.wy[has], nA) / np.maximum(hc, 1), np.nan)
    meas = hc[ca] > 0
    wx = np.where(meas, mwx[ca], sol.wind[acc, 0][:, None])
    wy = np.where(meas, mwy[ca], sol.wind[acc, 1][:, None])
    tc = np.bincount(dets.arr[dets.has_T], minlength=nA) > 0
    v = c_arr[ca] + np.where(tc[ca], 0.0, sol.wind[acc, 2][:, None]) + wx * ux + wy * uy
    tpred = sol.t0[acc][:, None] + d / v
    g = d / (v * v)
    wvar = np.where(meas, arrays.wind_sigma_mps[ca] ** 2 + (np.hypot(wx, wy) * arrays.wind_sigma_rad[ca]) ** 2,
                    spread**2 + sol.cov[acc, 3, 3][:, None] + 0.25)
    var = arrays.timing_sigma[ca] ** 2 + g * g * wvar + sol.cov[acc, 2, 2][:, None]
    from .associate import detection_index

    idx = detection_index(dets, nA)
    di, dt = idx.nearest(ca.ravel(), tpred.ravel(), np.zeros(len(dets), bool) if used is None else used)
    di, dt = di.reshape(acc.size, k), dt.reshape(acc.size, k)
    z = dt / np.sqrt(var)
    take = valid & (di >= 0) & (z <= z_gate)
    si, sk = np.nonzero(take)
    if si.size == 0:
        return det
    dd = di[si, sk]
    zz = z[si, sk]
    src = acc[si]
    own = owner[dd]
    allowed = (own < 0) | ~ok[np.maximum(own, 0)] | ((n_of[np.maximum(own, 0)] <= small) & (n_of[src] > n_of[np.maximum(own, 0)]))
    allowed &= own != src
    src, dd, zz, own = src[allowed], dd[allowed], zz[allowed], own[allowed]
    # each detection to the candidate source that explains it best
    o = np.lexsort((zz, dd))
    first = np.ones(o.size, bool)
    first[1:] = dd[o][1:] != dd[o][:-1]
    o = o[first]
    src, dd, own = src[o], dd[o], own[o]
    # one new detection per (source, array)
    aa = dets.arr[dd]
    o2 = np.lexsort((aa, src))
    keep = np.ones(o2.size, bool)
    keep[1:] = (src[o2][1:] != src[o2][:-1]) | (aa[o2][1:] != aa[o2][:-1])
    o2 = o2[keep]
    src, dd, own = src[o2], dd[o2], own[o2]
    new = det.copy()
    stolen = own >= 0
    if stolen.any():
        for s_, d_ in zip(own[stolen], dd[stolen], strict=True):
            new[s_][new[s_] == d_] = -1
    add = np.bincount(src, minlength=S)
    width = int((new >= 0).sum(1).max() + add.max()) if S else K
    out = np.full((S, max(width, K)), -1, dtype=np.int64)
    out[:, :K] = new
    out = compact(out) if out.size else out
    pos = (out >= 0).sum(1)
    out = np.concatenate([out, np.full((S, int(add.max())), -1, dtype=np.int64)], 1)
    order = np.argsort(src, kind="stable")
    src, dd = src[order], dd[order]
    rank = np.arange(src.size) - np.searchsorted(src, src)
    out[src, pos[src] + rank] = dd
    return compact(out)


def fit_passes(sol: Solution, p_accept: float) -> np.ndarray:
    """The tests of `_accept` that look at the fit alone: converged, finite, a chi-square
    consistent with the noise model, enough measurements (4 arrays, or 3 and an azimuth)."""
    n = sol.m.sum(1)
    n_az = sol.maz.sum(1)
    limit = np.where(sol.dof > 0, chi2.isf(p_accept, np.maximum(sol.dof, 1)), np.inf)
    ok = sol.converged & (sol.chi2 <= limit) & ((n >= 4) | ((n >= 3) & (n_az >= 1)))
    return ok & np.isfinite(sol.lon) & np.isfinite(sol.cov[:, 0, 0])


def _accept(arrays, dets, det, sol, p_accept, cfg):
    """`fit_passes`, and heard by most arrays nearer than its members (`completeness`)."""
    ok = fit_passes(sol, p_accept)
    # completeness (geodesics, a tree query) only for the rows that passed the fit's tests
    # (in the plane the whole batch would give, so the outcome does not depend on the others)
    rows = np.flatnonzero(ok)
    if rows.size:
        centre = geodesy.region_centre(np.r_[arrays.lon, sol.lon], np.r_[arrays.lat, sol.lat])
        ok[rows] = completeness(arrays, det[rows], dets, sol.lon[rows], sol.lat[rows], centre) >= cfg.min_completeness
    return ok


def _round(arrays, dets, cfg, p_accept, used, spread=None, workers: int | None = 1):
    """One association + fit + extension round on the detections not yet `used`; the wind
    spread is calibrated in the first round and kept for later ones (whose leftovers are
    the least clean)."""
    cl: Clusters = associate(arrays, dets, cfg, used=used, workers=workers)
    cl.det = compact(cl.det)
    P, sol, spread, det_fit = fit_calibrated(arrays, dets, cl.det, cl.lon, cl.lat, cl.t0, spread=spread,
                                             workers=workers)
    det = np.where(sol.m, det_fit, -1)
    ok = _accept(arrays, dets, det, sol, p_accept, cfg)
    if ok.any():
        det, sol, ok, P = extend_and_refit(arrays, dets, det, sol, ok, spread, used, p_accept, cfg, workers)
    return det, sol, ok, P, spread


def extend_and_refit(arrays: Arrays, dets: Detections, det: np.ndarray, sol: Solution, ok: np.ndarray,
                     spread: float, used: np.ndarray | None, p_accept: float, cfg: AssociationConfig,
                     workers: int | None = 1) -> tuple[np.ndarray, Solution, np.ndarray, Problem]:
    """`extend` the accepted sources to the arrays they explain, fit them again and re-test
    them: (detection rows, solution, accepted, problem)."""
    det2 = extend(arrays, dets, det, sol, ok, spread, used=used)
    pw, pv = wind_prior(arrays, dets, sol.lon, sol.lat, sol.t0, spread=max(spread, PRIOR_SPREAD_FLOOR))
    P = build_problem(arrays, dets, det2, pw, pv, sig_sp=spread)
    sol = solve(P, sol.lon, sol.lat, sol.t0, workers=workers)
    det = np.where(sol.m, det2, -1)
    return det, sol, _accept(arrays, dets, det, sol, p_accept, cfg), P


def repeat_search(arrays: Arrays, dets: Detections, det: np.ndarray, sol: Solution, used: np.ndarray,
                  window_s: float = 300.0, gate_s: float = 0.12, min_arrays: int = 4
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """More rounds from the same firing position (a mission or salvo: rounds seconds apart
    from one emplacement). For each located source, every unused detection at its member
    arrays within `window_s` maps to an emission time tau = t - (that array's observed
    travel time); rounds from the same spot agree in tau to a few hundredths of a second and
    separate by the 0.6 s or more between rounds. Groups of >= `min_arrays` arrays agreeing
    within `gate_s` are new source hypotheses (rows of detection indices, start times)."""
    from .associate import detection_index

    S, K = det.shape
    empty = (np.zeros((0, 1), np.int64), np.zeros(0), np.zeros(0, np.int64))
    if S == 0:
        return empty
    idx = detection_index(dets, len(arrays.ids))
    # in chunks of sources (groups never span sources): bounded memory at any scale
    step = max(1, REPEAT_CHUNK_SLOTS // max(K, 1))
    parts = [_repeat_groups(dets, idx, det[a:a + step], sol.t0[a:a + step], used, window_s, gate_s, min_arrays, a)
             for a in range(0, S, step)]
    parts = [p for p in parts if p[0].shape[0]]
    if not parts:
        return empty
    width = max(p[0].shape[1] for p in parts)
    rows = np.concatenate([np.pad(p[0], ((0, 0), (0, width - p[0].shape[1])), constant_values=-1) for p in parts])
    t0 = np.concatenate([p[1] for p in parts])
    src_of_group = np.concatenate([p[2] for p in parts])
    # a detection can fall in groups of several neighbouring sources: keep its first group
    flat = rows.ravel()
    ok = flat >= 0
    _, firsts = np.unique(flat[ok], return_index=True)
    keepmask = np.zeros(ok.sum(), bool)
    keepmask[firsts] = True
    flat2 = flat.copy()
    flat2[np.nonzero(ok)[0][~keepmask]] = -1
    rows = flat2.reshape(rows.shape)
    good = (rows >= 0).sum(1) >= min_arrays
    return compact(rows[good]), t0[good], src_of_group[good]


REPEAT_CHUNK_SLOTS = 200_000  # source slots per chunk of the repeat search (memory bound)


def _repeat_groups(dets: Detections, idx, det: np.ndarray, t0s: np.ndarray, used: np.ndarray, window_s: float,
                   gate_s: float, min_arrays: int, src_offset: int):
    """`repeat_search` for one chunk of sources: groups of >= `min_arrays` arrays agreeing in
    emission time (rows of detection indices, mean emission time, source index)."""
    S, K = det.shape
    m = det >= 0
    dd = np.maximum(det, 0)
    arr = dets.arr[dd]
    travel = dets.t[dd] - t0s[:, None]
    lo_t = t0s[:, None] + travel - window_s
    hi_t = t0s[:, None] + travel + window_s
    lo = np.searchsorted(idx.key, lo_t + arr * idx.span)
    hi = np.searchsorted(idx.key, hi_t + arr * idx.span)
    n = np.where(m, hi - lo, 0).ravel()
    rep = np.repeat(np.arange(n.size), n)
    within = np.arange(rep.size) - np.repeat(np.cumsum(n) - n, n)
    pos = lo.ravel()[rep] + within
    di = idx.order[pos]
    src = rep // K
    slot = rep % K
    keep = ~used[di]
    # a detection already in this source's own row is not another round
    keep &= di != det.ravel()[rep]
    src, slot, di = src[keep], slot[keep], di[keep]
    empty = (np.zeros((0, 1), np.int64), np.zeros(0), np.zeros(0, np.int64))
    if di.size == 0:
        return empty
    tau = dets.t[di] - travel.ravel()[src * K + slot]
    o = np.lexsort((tau, src))
    src, di, tau = src[o], di[o], tau[o]
    brk = np.ones(src.size, bool)
    brk[1:] = (src[1:] != src[:-1]) | (np.diff(tau) > gate_s)
    grp = np.cumsum(brk) - 1
    a = dets.arr[di]
    # one detection per (group, array): the first in tau order; count arrays per group
    o2 = np.lexsort((a, grp))
    g2, a2, d2, t2 = grp[o2], a[o2], di[o2], tau[o2]
    first = np.ones(g2.size, bool)
    first[1:] = (g2[1:] != g2[:-1]) | (a2[1:] != a2[:-1])
    g2, d2, t2 = g2[first], d2[first], t2[first]
    cnt = np.bincount(g2)
    big = np.nonzero(cnt >= min_arrays)[0]
    if big.size == 0:
        return empty
    sel = np.isin(g2, big)
    g2, d2, t2 = g2[sel], d2[sel], t2[sel]
    gi = np.searchsorted(big, g2)
    rank = np.arange(gi.size) - np.searchsorted(gi, gi)
    rows = np.full((big.size, int(cnt[big].max())), -1, dtype=np.int64)
    rows[gi, rank] = d2
    t0 = np.bincount(gi, t2) / np.bincount(gi)
    return rows, t0, src[np.searchsorted(grp, big)] + src_offset


def locate_sources(arrays: Arrays, dets: Detections, cfg: AssociationConfig | None = None,
                   p_accept: float = 1e-2, rounds: int = 2, repeat_rounds: int = 3,
                   workers: int | None = 1) -> AcousticSources:
    """Associate detections, fit every source, and decide which are credible events:
    at least 4 arrays, or 3 arrays plus an azimuth (so the fit has a degree of freedom),
    with a chi-square consistent with the noise model, heard by most arrays nearer than its
    members. A second round re-associates what the first left over with gates twice as
    wide (sources whose arrivals the first round's tight gates fragmented), takes a single
    triangle solution as a hypothesis when its fit is over-determined (a source heard by
    arrays too scattered to form two triangles), and asks for completeness in proportion to
    how reliably this network's arrays hear (`hearing_share` of the first round's strong
    sources), so a network whose arrays often miss still yields its sources. `workers`:
    processes for the association's time windows (results do not depend on it)."""
    from dataclasses import replace

    cfg = cfg or AssociationConfig()
    cfg = replace(cfg, r_max_m=max(cfg.r_max_m, network_reach(arrays)))
    used = np.zeros(len(dets), bool)
    parts = []
    spreads: list[float] = []
    share = None
    for r in range(rounds):
        c = cfg if r == 0 else replace(cfg, rel_wind_sigma=cfg.rel_wind_sigma * 2.5, min_support=cfg.later_min_support,
                                       min_completeness=later_min_completeness(
                                           cfg.min_completeness, share if cfg.adapt_completeness else None))
        det, sol, ok, P, spread = _round(arrays, dets, c, p_accept, used, spreads[0] if spreads else None,
                                         workers=workers)
        if not ok.any():
            break
        keep = np.nonzero(ok)[0]
        if r == 0:
            share = hearing_share(arrays, dets, det[keep], sol.lon[keep], sol.lat[keep])
        # only the accepted rows live on (the round's fits of every hypothesis are large)
        parts.append((det[keep], _rows(sol, keep), np.arange(keep.size), _rows(P, keep)))
        spreads.append(float(spread))
        used[det[keep][det[keep] >= 0]] = True
        # further rounds fired from the positions just found
        base_det, base_sol = det[keep], _cat_solutions([(sol, keep)], det.shape[1])
        for _rep in range(repeat_rounds):
            rows, t0s, srcs = repeat_search(arrays, dets, base_det, base_sol, used)
            if rows.shape[0] == 0:
                break
            pw, pv = wind_prior(arrays, dets, base_sol.lon[srcs], base_sol.lat[srcs], t0s, spread=max(spreads[0], PRIOR_SPREAD_FLOOR))
            P2 = build_problem(arrays, dets, rows, pw, pv, sig_sp=spreads[0])
            sol2 = solve(P2, base_sol.lon[srcs], base_sol.lat[srcs], t0s, workers=workers)
            det2 = np.where(sol2.m, rows, -1)
            ok2 = _accept(arrays, dets, det2, sol2, p_accept, cfg)
            # greedy: no detection twice
            k2 = []
            for i in np.nonzero(ok2)[0]:
                r_ = det2[i][det2[i] >= 0]
                if not used[r_].any():
                    used[r_] = True
                    k2.append(i)
            if not k2:
                break
            k2 = np.array(k2)
            parts.append((det2[k2], _rows(sol2, k2), np.arange(k2.size), _rows(P2, k2)))
            base_det, base_sol = det2[k2], _cat_solutions([(sol2, k2)], det2.shape[1])
    if not parts:
        det, sol, ok, P, _ = _round(arrays, dets, cfg, p_accept, used, workers=workers)
        parts = [(det[ok], sol, np.nonzero(ok)[0], P)]
    K = max(p[0].shape[1] for p in parts)
    det = np.concatenate([np.pad(p[0], ((0, 0), (0, K - p[0].shape[1])), constant_values=-1) for p in parts])
    sol = _cat_solutions([(p[1], p[2]) for p in parts], K)
    P = _cat_problems([(p[3], p[2]) for p in parts], K)
    n = (det >= 0).sum(1)
    labels = np.where(det >= 0, dets.label[np.maximum(det, 0)], -1)
    votes = np.stack([(labels == k).sum(1) for k in range(3)], -1)
    return AcousticSources(det=det, sol=sol, n_arrays=n, label_votes=votes, accepted=np.ones(len(det), bool), problem=P,
                          t_ref=dets.t_ref, wind_spread=spreads, hearing_share=share)


def _rows(obj, keep: np.ndarray):
    """A `Problem` or `Solution` reduced to the given source rows (every field is per source)."""
    return type(obj)(**{f: getattr(obj, f)[keep] for f in obj.__dataclass_fields__})


def _cat_problems(parts, K) -> Problem:
    out = {}
    for f in Problem.__dataclass_fields__:
        vals = []
        for P, keep in parts:
            v = getattr(P, f)[keep]
            if v.ndim == 2 and f not in ("prior_w", "prior_var"):
                pad = K - v.shape[1]
                fill = False if v.dtype == bool else (np.nan if f == "az" else 0.0)
                if f in ("sig_t", "sig_az", "c", "wsig_s", "wsig_d"):
                    fill = 1.0 if f != "c" else 340.0
                v = np.pad(v, ((0, 0), (0, pad)), constant_values=fill)
            vals.append(v)
        out[f] = np.concatenate(vals)
    return Problem(**out)


def _cat_solutions(parts, K) -> Solution:
    """Concatenate the selected rows of several solutions (slot arrays padded to K)."""
    out = {}
    for f in Solution.__dataclass_fields__:
        vals = []
        for sol, keep in parts:
            v = getattr(sol, f)[keep]
            if v.ndim == 2 and f in ("m", "maz", "res", "base_var", "gg"):
                pad = K - v.shape[1]
                v = np.pad(v, ((0, 0), (0, pad)), constant_values=(False if v.dtype == bool else 0.0))
            vals.append(v)
        out[f] = np.concatenate(vals)
    return Solution(**out)
