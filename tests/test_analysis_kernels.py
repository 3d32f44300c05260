"""Compiled association kernels (`truceline.analysis.kernels`) against the NumPy forms they
replaced, kept here as references: the same computations, so the same results up to the
order of floating-point sums."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scenario_gen import make_scenario
from truceline.analysis import associate as asc
from truceline.analysis import kernels, salvo
from truceline.analysis.acoustic import build_tables
from truceline.analysis.salvo import MIN_MATCHES

# ---- NumPy references (the pre-compiled implementations) ---------------------------------


def _ref_cap(lo: np.ndarray, hi: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink windows holding more than k candidates to their k middle ones: a safety bound
    on the triple count in very dense scenes (salvos overlapping salvos); the true partner of
    a detection near the window's middle is kept, and the source is still seeded from other
    triangles."""
    n = hi - lo
    over = n > k
    mid = (lo + hi) // 2
    lo2 = np.where(over, mid - k // 2, lo)
    return lo2, np.where(over, lo2 + k, hi)


def _ref_fit_rows(x, y, t0, sel, ax, ay, t, c, wx, wy, sig, iters=6, robust=True):
    """`_fit` on all slots as given."""
    w0 = np.where(sel, 1.0 / sig**2, 0.0)  # the same every iteration
    H = x.shape[0]
    A = np.empty((H, 3, 3))
    b = np.empty((H, 3))
    for it in range(iters):
        rx, ry = ax - x[:, None], ay - y[:, None]
        d = np.maximum(np.hypot(rx, ry), 1.0)
        ux, uy = rx / d, ry / d
        v = c + wx * ux + wy * uy
        r = np.where(sel, t - (t0[:, None] + d / v), 0.0)
        w = w0
        if robust and it < iters - 1:
            z = np.abs(r) / sig
            w = w / np.maximum(1.0, z / 3.0) ** 2  # downweight gross outliers (Cauchy-like)
        h0, h1 = -ux / v, -uy / v
        wh0, wh1 = w * h0, w * h1
        A[:, 0, 0] = (wh0 * h0).sum(1)
        A[:, 0, 1] = A[:, 1, 0] = (wh0 * h1).sum(1)
        A[:, 0, 2] = A[:, 2, 0] = wh0.sum(1)
        A[:, 1, 1] = (wh1 * h1).sum(1)
        A[:, 1, 2] = A[:, 2, 1] = wh1.sum(1)
        A[:, 2, 2] = a22 = w.sum(1)
        b[:, 0], b[:, 1], b[:, 2] = (wh0 * r).sum(1), (wh1 * r).sum(1), (w * r).sum(1)
        A += np.eye(3) * 1e-9 * (a22[:, None, None] + 1.0)
        try:
            step = np.linalg.solve(A, b[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.zeros((H, 3))
        sn = np.hypot(step[:, 0], step[:, 1])
        f = np.minimum(1.0, 5000.0 / np.maximum(sn, 1e-9))
        x, y, t0 = x + step[:, 0] * f, y + step[:, 1] * f, t0 + step[:, 2] * f
    rx, ry = ax - x[:, None], ay - y[:, None]
    d = np.maximum(np.hypot(rx, ry), 1.0)
    v = c + (wx * rx + wy * ry) / d
    r = np.where(sel, t - (t0[:, None] + d / v), 0.0)
    return x, y, t0, r, d


def _ref_triangle_chunk(self, tris, c_lo):
    """Closed-form solutions of one chunk of triangles. The triangle geometry (sides,
    the 2x2 inverse, the mean sound speed) is computed once per triangle and gathered
    per triple; triples on degenerate triangles or without a real root are dropped
    before the roots are evaluated."""
    cfg = self.cfg
    idx = self.index
    A, B, C = tris[:, 0], tris[:, 1], tris[:, 2]
    span = idx.span
    XA, YA = self.X[A], self.Y[A]
    dab = np.hypot(XA - self.X[B], YA - self.Y[B]) / c_lo + 0.5
    dac = np.hypot(XA - self.X[C], YA - self.Y[C]) / c_lo + 0.5
    dbc = np.hypot(self.X[B] - self.X[C], self.Y[B] - self.Y[C]) / c_lo + 0.5
    # per-triangle geometry relative to the first array (numerically safe)
    x2t, y2t = self.X[B] - XA, self.Y[B] - YA
    x3t, y3t = self.X[C] - XA, self.Y[C] - YA
    dett = 4.0 * (x2t * y3t - x3t * y2t)
    cct = self.c_arr[tris].mean(1)
    okt = np.abs(dett) > 1e3

    def expand(counts):
        rep = np.repeat(np.arange(counts.size), counts)
        within = np.arange(rep.size) - np.repeat(np.cumsum(counts) - counts, counts)
        return rep, within

    # every detection at each (non-degenerate) triangle's first array
    na = np.where(okt, idx.end[A] - idx.start[A], 0)
    tri, w = expand(na)
    pa = idx.start[A][tri] + w
    ta = idx.t[pa]
    # partners at the second array within the travel-time window
    lo = np.searchsorted(idx.key, B[tri] * span + ta - dab[tri])
    hi = np.searchsorted(idx.key, B[tri] * span + ta + dab[tri])
    lo, hi = _ref_cap(lo, hi, cfg.max_partners)
    j, w = expand(hi - lo)
    tri, pa, ta = tri[j], pa[j], ta[j]
    pb = lo[j] + w
    tb = idx.t[pb]
    # partners at the third array consistent with both
    lo = np.searchsorted(idx.key, C[tri] * span + np.maximum(ta - dac[tri], tb - dbc[tri]))
    hi = np.searchsorted(idx.key, C[tri] * span + np.minimum(ta + dac[tri], tb + dbc[tri]))
    lo, hi = _ref_cap(lo, np.maximum(hi, lo), cfg.max_partners)
    j, w = expand(np.maximum(hi - lo, 0))
    tri, pa, pb = tri[j], pa[j], pb[j]
    pc = lo[j] + w
    empty = (np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    if pa.size == 0:
        return empty
    ta, tb, tc = idx.t[pa], idx.t[pb], idx.t[pc]
    cc = cct[tri]
    x2, y2, x3, y3, det = x2t[tri], y2t[tri], x3t[tri], y3t[tri], dett[tri]
    r2, r3 = cc * (tb - ta), cc * (tc - ta)
    b2, b3 = r2**2 - x2**2 - y2**2, r3**2 - x3**2 - y3**2
    d2, d3 = -2.0 * r2, -2.0 * r3
    # A = -2 [[x2, y2], [x3, y3]]; inverse = 1/det_A [[-2y3, 2y2], [2x3, -2x2]], det_A = 4(x2y3 - x3y2)
    px = (-2.0 * y3 * b2 + 2.0 * y2 * b3) / det
    py = (2.0 * x3 * b2 - 2.0 * x2 * b3) / det
    qx = (-2.0 * y3 * d2 + 2.0 * y2 * d3) / det
    qy = (2.0 * x3 * d2 - 2.0 * x2 * d3) / det
    # s = p + q tau (from A s = b + d tau), then |s|^2 = tau^2
    qa = qx**2 + qy**2 - 1.0
    qb = 2.0 * (px * qx + py * qy)
    qc = px**2 + py**2
    disc = qb * qb - 4.0 * qa * qc
    real = np.nonzero(disc >= 0)[0]
    if real.size == 0:
        return empty
    tri, pa, pb, pc, ta, cc = tri[real], pa[real], pb[real], pc[real], ta[real], cc[real]
    r2, r3, px, py, qx, qy, qa, qb = r2[real], r3[real], px[real], py[real], qx[real], qy[real], qa[real], qb[real]
    sq = np.sqrt(disc[real])
    qa_s = np.where(np.abs(qa) < 1e-12, 1e-12, qa)
    ox, oy = XA[tri], YA[tri]
    side_t = _ref_longest_side(self, tris) if cfg.az_gate_sigma > 0 else None
    keep_x, keep_y, keep_t, keep_i = [], [], [], []
    for sign in (-1.0, 1.0):
        tau = (-qb + sign * sq) / (2.0 * qa_s)
        g = np.nonzero((tau <= 0.0) & (r2 - tau >= 0.0) & (r3 - tau >= 0.0) & (-tau <= cfg.r_max_m))[0]
        tg = tau[g]
        sx, sy = px[g] + qx[g] * tg + ox[g], py[g] + qy[g] * tg + oy[g]
        trip = np.stack([idx.order[pa[g]], idx.order[pb[g]], idx.order[pc[g]]], 1)
        side = side_t[tri[g]] if side_t is not None else None
        az_ok = _ref_azimuth_ok(self, trip, tris[tri[g]], sx, sy, side)
        keep_x.append(sx[az_ok])
        keep_y.append(sy[az_ok])
        keep_t.append((ta[g] + tg / cc[g])[az_ok])
        keep_i.append(trip[az_ok])
    xyz = np.stack([np.concatenate(keep_x), np.concatenate(keep_y), np.concatenate(keep_t)], 1)
    return xyz, np.concatenate(keep_i)

def _ref_longest_side(self, arr):
    """Longest side (m) of each array triangle (rows of `arr`)."""
    X, Y = self.X[arr], self.Y[arr]
    return np.maximum.reduce([np.hypot(X[:, 0] - X[:, 1], Y[:, 0] - Y[:, 1]),
                              np.hypot(X[:, 0] - X[:, 2], Y[:, 0] - Y[:, 2]),
                              np.hypot(X[:, 1] - X[:, 2], Y[:, 1] - Y[:, 2])])

def _ref_azimuth_ok(self, trip, arr, sx, sy, side=None):
    """Triangle solutions consistent with the azimuths their detections report (where
    they report one; the field is optional): the bearing from each such array to the
    solution within `az_gate_sigma` registry sigmas, plus the angle a position error of
    `az_gate_pos_m` subtends, plus the direction error of a 3-array TDOA solution made
    without wind (relative speed error wind_max / c, amplified by range / triangle size).
    Most chance triples (detections of different sources) fail it; real triples keep
    theirs, and a source needs only two triangles to be proposed. No azimuths: no gate."""
    cfg = self.cfg
    ok = np.ones(trip.shape[0], bool)
    if cfg.az_gate_sigma <= 0:
        return ok
    az = self.dets.az[trip]
    has = np.isfinite(az)
    if not has.any():
        return ok
    if side is None:
        side = _ref_longest_side(self, arr)
    rel = cfg.wind_max_mps / max(float(self.c_arr.min()), 300.0)
    for k in range(3):
        h = np.nonzero(has[:, k] & ok)[0]  # rows already rejected need no more tests
        if h.size == 0:
            continue
        a = arr[h, k]
        ex, ny = sx[h] - self.X[a], sy[h] - self.Y[a]
        d = np.hypot(ex, ny)
        pred = np.arctan2(ex, ny) + self.conv[a]
        dev = np.abs((az[h, k] - pred + np.pi) % (2.0 * np.pi) - np.pi)
        tol = (cfg.az_gate_sigma * self.arrays.az_sigma[a] + np.arctan2(cfg.az_gate_pos_m, d)
               + rel * d / np.maximum(side[h], 1.0))
        ok[h] &= dev <= tol
    return ok


def _ref_tau_vote(tau, dsel, n_cand_slots, g):
    H, K, n_off = tau.shape
    kc = min(n_cand_slots, K)
    cands = tau[:, :kc, :].reshape(H, kc * n_off)
    close = np.zeros((H, cands.shape[1], K), bool)
    for j in range(n_off):
        close |= np.abs(tau[:, None, :, j] - cands[:, :, None]) <= g
    count = np.count_nonzero(close, axis=-1).astype(float)
    count[np.isnan(cands)] = -1.0
    best = np.argmax(count, axis=1)
    tau_star = cands[np.arange(H), best]
    nbest = count[np.arange(H), best]
    dev = np.abs(tau - tau_star[:, None, None])
    dev = np.where(np.isnan(dev), np.inf, dev)
    j = np.argmin(dev, axis=2)
    dmin = np.take_along_axis(dev, j[..., None], 2)[..., 0]
    seed = np.take_along_axis(dsel, j[..., None], 2)[..., 0]
    return tau_star, nbest, seed, dmin


def _ref_seeds(self, inv, trip, H):
    K = min(self.cfg.refine_near, self.nA)
    nD1 = len(self.dets) + 1
    dd = trip.ravel().astype(np.int64)
    hh = np.repeat(inv.astype(np.int64), 3)
    uhd, c_hd = np.unique(hh * nD1 + dd, return_counts=True)
    hh, dd = uhd // nD1, uhd % nD1
    aa = self.dets.arr[dd].astype(np.int64)
    o = np.lexsort((-c_hd, aa, hh))
    hh, dd, aa = hh[o], dd[o], aa[o]
    first = np.ones(hh.size, bool)
    first[1:] = (hh[1:] != hh[:-1]) | (aa[1:] != aa[:-1])
    hh, dd = hh[first], dd[first]
    rank = np.arange(hh.size) - np.searchsorted(hh, hh)
    ok = rank < K
    seed = np.full((H, K), -1, dtype=np.int64)
    seed[hh[ok], rank[ok]] = dd[ok]
    return seed


def _ref_free_buckets(ids, trip, used, n_buckets, min_support):
    free = ~used[trip].any(1)
    sel = np.nonzero(free)[0]
    i0, i1 = ids[0, sel], ids[1, sel]
    c0 = np.bincount(i0, minlength=n_buckets)[i0] + np.bincount(i1, minlength=n_buckets)[i0]
    c1 = np.bincount(i0, minlength=n_buckets)[i1] + np.bincount(i1, minlength=n_buckets)[i1]
    better = c1 > c0
    key, cnt = np.where(better, i1, i0), np.where(better, c1, c0)
    keep = cnt >= min_support
    return sel[keep], key[keep]


def _ref_nearest(idx, arr, tpred, used):
    key = tpred + arr.astype(float) * idx.span
    pos = np.searchsorted(idx.key, key)
    s, e = idx.start[arr], idx.end[arr]
    best = np.full(arr.shape, -1, dtype=np.int64)
    bestd = np.full(arr.shape, np.inf)
    for off in (-2, -1, 0, 1):
        p = pos + off
        ok = (p >= s) & (p < e)
        pc = np.clip(p, 0, max(len(idx.key) - 1, 0))
        di = idx.order[pc]
        dt = np.abs(idx.t[pc] - tpred)
        ok &= ~used[di]
        better = ok & (dt < bestd)
        best = np.where(better, di, best)
        bestd = np.where(better, dt, bestd)
    return best, bestd


def _ref_nearby(idx, pos, ca, valid, tpred, travel, window, used, offsets):
    H, K = pos.shape
    tau = np.full((H, K, len(offsets)), np.nan)
    dsel = np.full((H, K, len(offsets)), -1, dtype=np.int64)
    s_, e_ = idx.start[ca], idx.end[ca]
    for j, off in enumerate(offsets):
        p = pos + off
        ok = valid & (p >= s_) & (p < e_)
        pc = np.clip(p, 0, len(idx.key) - 1)
        di = idx.order[pc]
        tt = idx.t[pc]
        ok &= ~used[di] & (np.abs(tt - tpred) <= window)
        tau[:, :, j] = np.where(ok, tt - travel, np.nan)
        dsel[:, :, j] = np.where(ok, di, -1)
    return tau, dsel


def _ref_align(a: np.ndarray, r: np.ndarray, expect: float, slack: float, gate: float) -> tuple[float, int] | None:
    """Shift d with a_i ~ r_j + d for the most pairs, within `expect +- slack`; None when the
    best is ambiguous (another shift, more than 2 gates away, matches as many) or weak."""
    diffs = a[:, None] - r[None, :]  # every pairing's shift, computed once
    cand = diffs.ravel()
    cand = cand[np.abs(cand - expect) <= slack]
    if cand.size == 0:
        return None
    # score every candidate shift: onsets of `a` matched by some onset of `r` shifted by it
    score = (np.abs(diffs[None, :, :] - cand[:, None, None]).min(axis=2) <= gate).sum(axis=1)
    best = int(score.max())
    if best < MIN_MATCHES:
        return None
    top = cand[score == best]
    lo, hi = float(top.min()), float(top.max())
    if hi - lo > 2.0 * gate:
        return None
    d0 = 0.5 * (lo + hi)  # all within two gates of each other
    matched = np.abs(diffs - d0) <= gate
    return float(diffs[matched].mean()), best


# ---- tests ---------------------------------------------------------------------------------


def _fit_problem(seed, outliers, H=600, K=32):
    rng = np.random.default_rng(seed)
    src = rng.uniform(-20000, 20000, (H, 2))
    ax, ay = rng.uniform(-40000, 40000, (H, K)), rng.uniform(-40000, 40000, (H, K))
    c = rng.uniform(320, 345, (H, K))
    wx, wy = rng.normal(0, 5, (H, K)), rng.normal(0, 5, (H, K))
    d = np.hypot(ax - src[:, :1], ay - src[:, 1:])
    v = c + (wx * (ax - src[:, :1]) + wy * (ay - src[:, 1:])) / d
    t = 100.0 + d / v + rng.normal(0, 0.02, (H, K))
    if outliers:  # gross outliers (wrong associations)
        bad = rng.random((H, K)) < 0.05
        t[bad] += rng.uniform(-5, 5, bad.sum())
    sig = np.full((H, K), 0.05)
    # rows from 3 to K selected slots, scattered over the columns (gaps, like dropped outliers)
    n = rng.integers(3, K + 1, H)
    sel = np.argsort(rng.random((H, K)), axis=1) < n[:, None]
    x0, y0 = src[:, 0] + rng.normal(0, 800, H), src[:, 1] + rng.normal(0, 800, H)
    return src, (x0, y0, np.full(H, 99.0), sel, ax, ay, t, c, wx, wy, sig)


def test_compiled_coarse_fit_equals_numpy_fit():
    """The compiled IRLS fit gives the NumPy fit's estimates, residuals and distances (robust
    and plain, with and without gross outliers), and converges on the true sources."""
    for seed, robust, iters, outliers in ((3, True, 6, False), (4, False, 5, True), (5, True, 10, True)):
        src, args = _fit_problem(seed, outliers)
        sel = args[3]
        got = asc._fit(*args, iters=iters, robust=robust)
        ref = _ref_fit_rows(*args, iters=iters, robust=robust)
        for a, b in zip(got[:3], ref[:3], strict=True):
            assert np.allclose(a, b, rtol=0, atol=1e-6)
        assert np.allclose(got[3][sel], ref[3][sel], atol=1e-9) and not got[3][~sel].any()
        assert np.allclose(got[4], ref[4], rtol=1e-12)
        if not outliers:
            assert np.median(np.hypot(got[0] - src[:, 0], got[1] - src[:, 1])) < 50.0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 12), st.integers(1, 7),
       st.floats(0.0, 0.9), st.sampled_from([0.05, 0.15, 0.5]))
def test_compiled_tau_vote_equals_numpy_vote(seed, H, K, n_off, nan_share, gate):
    """Emission-time vote: the same winner (ties: first candidate), count, nearest detection
    and deviation per slot as the NumPy form, with missing arrivals (NaN) anywhere, coarse
    times (many ties) and rows without any arrival."""
    rng = np.random.default_rng(seed)
    tau = np.round(rng.normal(0, 0.3, (H, K, n_off)), 1)  # 0.1 s steps: ties and exact hits
    tau[rng.random(tau.shape) < nan_share] = np.nan
    tau[0] = np.nan  # a row with nothing
    dsel = np.where(np.isnan(tau), -1, rng.integers(0, 10**6, tau.shape))
    n_cand = int(rng.integers(1, K + 2))
    got = kernels.tau_vote(tau, dsel, n_cand, gate)
    ref = _ref_tau_vote(tau, dsel, n_cand, gate)
    assert np.array_equal(got[0], ref[0], equal_nan=True)
    assert np.array_equal(got[1], ref[1])
    assert np.array_equal(got[3], ref[3])
    near = np.isfinite(ref[3])  # slots with a detection near tau* (elsewhere: no seed)
    assert np.array_equal(got[2][near], ref[2][near]) and (got[2][~near] == -1).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4), min_size=12, max_size=12))
def test_three_by_three_solve_equals_lapack(vals):
    """The compiled 3x3 solve (partial pivoting) agrees with LAPACK on regular systems and
    returns zeros on exactly singular ones."""
    A = np.array(vals[:9]).reshape(3, 3)
    b = np.array(vals[9:])
    cond = np.linalg.cond(A) if np.all(np.isfinite(A)) else np.inf
    got = kernels._solve3(A.copy(), b.copy())
    if cond < 1e8:
        assert np.allclose(got, np.linalg.solve(A, b), rtol=1e-6, atol=1e-6 * (1 + np.abs(b).max()))
    singular = A.copy()
    singular[2] = singular[0] + singular[1]
    singular[:, 0] = 0.0
    assert not kernels._solve3(singular, b.copy()).any()


def _registry(sc):
    return {s["id"]: s for s in sc.sensors}


def test_compiled_triangle_solutions_equal_numpy_solutions():
    """The compiled triangle stage finds exactly the NumPy stage's detection triples (with
    and without the azimuth gate, with crowded windows capped) at the same positions and
    emission times."""
    sc = make_scenario(seed=71, n_arrays=30, extent_m=40000, detect_range_m=25000, n_shots=60,
                       azimuth_fraction=0.8, false_rate_per_array_h=40.0)
    arrays, dets = build_tables([r for r in sc.reports if r["kind"] == "acoustic"], _registry(sc))
    for cfg in (asc.AssociationConfig(), asc.AssociationConfig(az_gate_sigma=0.0),
                asc.AssociationConfig(max_partners=2)):
        a = asc.Associator(arrays, dets, cfg)
        tris = a.triangles()
        c_lo = float(a.c_arr.min()) - cfg.wind_max_mps
        got_x, got_i = a._triangle_chunk(tris, c_lo)
        ref_x, ref_i = _ref_triangle_chunk(a, tris, c_lo)
        assert got_x.shape[0] > 200
        og = np.lexsort((got_x[:, 0], got_i[:, 2], got_i[:, 1], got_i[:, 0]))
        orf = np.lexsort((ref_x[:, 0], ref_i[:, 2], ref_i[:, 1], ref_i[:, 0]))
        assert np.array_equal(got_i[og], ref_i[orf])
        assert np.allclose(got_x[og], ref_x[orf], rtol=0, atol=1e-6)


def test_compiled_seeds_and_pass_buckets_equal_numpy_forms():
    """Bucket numbering, the per-pass recount of free solutions and the seeds per
    hypothesis are the NumPy forms' (ties included), with and without used detections."""
    sc = make_scenario(seed=73, n_arrays=30, extent_m=36000, detect_range_m=16000, n_shots=60)
    arrays, dets = build_tables([r for r in sc.reports if r["kind"] == "acoustic"], _registry(sc))
    a = asc.Associator(arrays, dets, asc.AssociationConfig())
    xyz, trip = a.triangle_solutions()
    ids, nb = a._buckets(xyz)
    # numbering: equal codes <-> equal numbers, numbers dense and in order of first appearance
    codes = kernels.grid_codes(xyz, a.cfg.cluster_m, 330.0)
    u, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(u.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(u.size)
    assert nb == u.size and np.array_equal(ids.ravel(), rank[inv.ravel()])
    rng = np.random.default_rng(0)
    for share in (0.0, 0.3):
        used = rng.random(len(dets)) < share
        for ms in (1, 2, 3):
            got = kernels.free_buckets(ids, trip, used, nb, ms)
            ref = _ref_free_buckets(ids, trip, used, nb, ms)
            assert got[0].size > 0 and all(np.array_equal(g, r) for g, r in zip(got, ref, strict=True))
        start, n, hyp, tr = a.hypotheses(used)
        assert start.shape[0] > 30 and (n >= 1).all() and (np.diff(n) <= 0).all()  # fullest first
        assert not used[tr].any()
        assert np.array_equal(a._seeds(hyp, tr, start.shape[0]), _ref_seeds(a, hyp, tr, start.shape[0]))


def test_compiled_arrival_lookups_equal_numpy_lookups():
    """Nearest unused arrival per (array, predicted time), and the unused arrivals around
    each predicted arrival, as the NumPy forms found them: predictions before, inside and
    after each array's detections, arrays without any, a third of detections used."""
    sc = make_scenario(seed=75, n_arrays=20, extent_m=30000, detect_range_m=18000, n_shots=40)
    arrays, dets = build_tables([r for r in sc.reports if r["kind"] == "acoustic"], _registry(sc))
    a = asc.Associator(arrays, dets, asc.AssociationConfig())
    idx = a.index
    rng = np.random.default_rng(1)
    used = rng.random(len(dets)) < 0.3
    n = 5000
    arr = rng.integers(0, a.nA, n)
    lo, hi = float(dets.t.min()), float(dets.t.max())
    tpred = rng.uniform(lo - 200.0, hi + 200.0, n)
    tpred[:500] = dets.t[rng.integers(0, len(dets), 500)] + rng.normal(0, 0.05, 500)  # on arrivals
    got = idx.nearest(arr, tpred, used)
    ref = _ref_nearest(idx, arr, tpred, used)
    assert (got[0] >= 0).sum() > 1000
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    H, K = 400, 12
    ca = rng.integers(0, a.nA, (H, K))
    valid = rng.random((H, K)) < 0.9
    tp = rng.uniform(lo, hi, (H, K))
    tp[:100] = dets.t[rng.integers(0, len(dets), (100, K))]
    travel = rng.uniform(0.0, 60.0, (H, K))
    window = rng.uniform(0.5, 6.0, (H, K))
    pos = np.searchsorted(idx.key, tp + ca * idx.span)
    offsets = np.array([-3, -2, -1, 0, 1, 2])
    got = kernels.nearby_arrivals(pos, ca, valid, tp, travel, window, idx.t, idx.order, idx.start, idx.end, used,
                                  offsets)
    ref = _ref_nearby(idx, pos, ca, valid, tp, travel, window, used, offsets)
    assert (got[1] >= 0).sum() > 100
    assert np.array_equal(got[0], ref[0], equal_nan=True) and np.array_equal(got[1], ref[1])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 9), st.integers(0, 9), st.floats(-3.0, 3.0),
       st.sampled_from([0.06, 0.2]), st.booleans())
def test_compiled_train_alignment_equals_numpy_alignment(seed, na, nr, shift, gate, regular):
    """Salvo train alignment: the same best shift (or the same refusal: weak or ambiguous)
    as the NumPy form, for regular trains (a salvo's rhythm, where shifts by one round are
    ambiguous), irregular ones, strays and empty trains."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.full(9, 1.0) if regular else rng.uniform(0.6, 2.0, 9))
    r = np.sort(base[:nr] + rng.normal(0, 0.01, nr))
    a = np.sort(base[:na] + shift + rng.normal(0, 0.01, na))
    if na > 2:
        a[0] = rng.uniform(-5, 15)  # a stray onset
        a.sort()
    got = salvo._align(a, r, shift, 2.5, gate)
    ref = _ref_align(a, r, shift, 2.5, gate)
    assert (got is None) == (ref is None)
    if got is not None:
        assert got[1] == ref[1] and abs(got[0] - ref[0]) < 1e-9


def test_train_alignment_finds_the_shift_and_refuses_ambiguity():
    """An irregular train shifted by 0.37 s is aligned at 0.37 with every onset matched; a
    short piece of a perfectly regular train fits it at several rounds: ambiguous, refused."""
    r = np.cumsum([0.0, 0.7, 1.9, 0.8, 1.3, 0.6])
    got = salvo._align(r + 0.37, r, 0.3, 0.5, 0.06)
    assert got is not None and abs(got[0] - 0.37) < 1e-9 and got[1] == r.size
    regular = np.arange(6.0)  # three onsets inside a six-round train: shifts by a round tie
    assert salvo._align(regular[:3] + 1.2, regular, 1.0, 2.5, 0.06) is None
    assert salvo._align(regular + 0.2, regular, 0.0, 2.5, 0.06)[1] == 6  # whole trains: unique


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.integers(1, 40))
def test_counting_sort_and_greedy_claim_equal_their_python_forms(seed, n, groups):
    """The counting sort is the stable argsort; the greedy claim gives the rows (in order)
    whose detections are all free when reached, as a plain loop does."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, groups, n)
    assert np.array_equal(kernels.group_order(labels, groups), np.argsort(labels, kind="stable"))
    det = np.where(rng.random((n, 5)) < 0.7, rng.integers(0, 3 * n + 5, (n, 5)), -1)
    order = rng.permutation(n)
    used0 = rng.random(3 * n + 5) < 0.1
    used = used0.copy()
    won = kernels.claim(det, order, used)
    ref_used, ref_won = used0.copy(), np.zeros(n, bool)
    for h in order:
        row = det[h][det[h] >= 0]
        if not ref_used[row].any():
            ref_used[row] = True
            ref_won[h] = True
    assert np.array_equal(won, ref_won) and np.array_equal(used, ref_used)


def _ref_compact(det: np.ndarray) -> np.ndarray:
    """`acoustic_events.compact` before `kernels.compact_rows`: a stable sort of each row."""
    order = np.argsort(det < 0, axis=1, kind="stable")
    det = np.take_along_axis(det, order, axis=1)
    return det[:, :max(int((det >= 0).sum(1).max()), 1)]


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 30), cols=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
       empty=st.floats(0.0, 1.0))
def test_compact_rows_is_the_stable_partition(rows, cols, seed, empty):
    from truceline.analysis.acoustic_events import compact

    rng = np.random.default_rng(seed)
    det = rng.integers(0, 1000, (rows, cols))
    det[rng.random((rows, cols)) < empty] = -1
    got = compact(det)
    assert got.dtype == det.dtype
    assert np.array_equal(got, _ref_compact(det))
