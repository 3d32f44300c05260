"""Compiled inner loops of the association, the source fits and the geodesics (Numba).

The association's hot paths work on many small problems at once (tens of thousands of
hypotheses a window, each with up to `refine_near` array slots). As NumPy array
expressions they allocate a dozen (H, K) temporaries per Gauss-Newton iteration and an
(H, C, K) cube per emission-time vote; compiled, each hypothesis is a short loop in cache.
The results are the same computations (the summation order differs in the last bits), so
the NumPy forms they replaced are the reference in `tests/test_analysis_kernels.py`.

The source fits (`gauss_newton`) and inverse geodesics (`geodesic_inverse`) likewise: one
event or one pair at a time in a short loop, where NumPy built (E, K, 6) temporaries per
iteration; their references are in `tests/test_analysis_localize.py` and
`tests/test_analysis_geodesy_inverse.py`.

Compiled on first use and cached beside the module (`cache=True`): a fresh install pays the
compilation once (about 12-15 s on a 2-core machine), later processes load it (about 2 s).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _solve3(A, b):
    """Solve the 3x3 system A s = b by Gaussian elimination with partial pivoting (A, b
    are scratch: overwritten). Returns zeros when A is singular."""
    s = np.zeros(3)
    for col in range(3):
        piv = col
        for r in range(col + 1, 3):
            if abs(A[r, col]) > abs(A[piv, col]):
                piv = r
        if A[piv, col] == 0.0:
            return np.zeros(3)
        if piv != col:
            for k in range(3):
                A[col, k], A[piv, k] = A[piv, k], A[col, k]
            b[col], b[piv] = b[piv], b[col]
        for r in range(col + 1, 3):
            f = A[r, col] / A[col, col]
            for k in range(col, 3):
                A[r, k] -= f * A[col, k]
            b[r] -= f * b[col]
    for r in range(2, -1, -1):
        acc = b[r]
        for k in range(r + 1, 3):
            acc -= A[r, k] * s[k]
        s[r] = acc / A[r, r]
    return s


@njit(cache=True, nogil=True)
def fit_rows(x, y, t0, sel, ax, ay, t, c, wx, wy, sig, iters, robust):
    """IRLS Gauss-Newton of (x, y, t0) per row over its selected slots (see
    `associate._fit`): arrival t = t0 + d / (c + w . u), weights 1/sig^2, gross outliers
    down-weighted (Cauchy-like, |z| > 3) in all but the last iteration, steps capped at
    5 km. Returns the estimates, residuals (0 off the selected slots) and distances."""
    H, K = sel.shape
    xo = np.empty(H)
    yo = np.empty(H)
    to = np.empty(H)
    r_out = np.zeros((H, K))
    d_out = np.empty((H, K))
    A = np.empty((3, 3))
    b = np.empty(3)
    for h in range(H):
        xh, yh, th = x[h], y[h], t0[h]
        for it in range(iters):
            a00 = a01 = a02 = a11 = a12 = a22 = 0.0
            b0 = b1 = b2 = 0.0
            down = robust and it < iters - 1
            for k in range(K):
                if not sel[h, k]:
                    continue
                rx, ry = ax[h, k] - xh, ay[h, k] - yh
                d = max(np.hypot(rx, ry), 1.0)
                ux, uy = rx / d, ry / d
                v = c[h, k] + wx[h, k] * ux + wy[h, k] * uy
                r = t[h, k] - (th + d / v)
                s = sig[h, k]
                w = 1.0 / (s * s)
                if down:
                    z = abs(r) / s / 3.0
                    if z > 1.0:
                        w /= z * z
                h0, h1 = -ux / v, -uy / v
                wh0, wh1 = w * h0, w * h1
                a00 += wh0 * h0
                a01 += wh0 * h1
                a02 += wh0
                a11 += wh1 * h1
                a12 += wh1
                a22 += w
                b0 += wh0 * r
                b1 += wh1 * r
                b2 += w * r
            eps = 1e-9 * (a22 + 1.0)
            A[0, 0], A[0, 1], A[0, 2] = a00 + eps, a01, a02
            A[1, 0], A[1, 1], A[1, 2] = a01, a11 + eps, a12
            A[2, 0], A[2, 1], A[2, 2] = a02, a12, a22 + eps
            b[0], b[1], b[2] = b0, b1, b2
            step = _solve3(A, b)
            sn = np.hypot(step[0], step[1])
            f = min(1.0, 5000.0 / max(sn, 1e-9))
            xh += step[0] * f
            yh += step[1] * f
            th += step[2] * f
        xo[h], yo[h], to[h] = xh, yh, th
        for k in range(K):
            rx, ry = ax[h, k] - xh, ay[h, k] - yh
            d = max(np.hypot(rx, ry), 1.0)
            d_out[h, k] = d
            if sel[h, k]:
                v = c[h, k] + (wx[h, k] * rx + wy[h, k] * ry) / d
                r_out[h, k] = t[h, k] - (th + d / v)
    return xo, yo, to, r_out, d_out


@njit(cache=True, nogil=True)
def tau_vote(tau, dsel, n_cand_slots, gate):
    """Per hypothesis, the emission time most arrays agree on (see `Associator._tau_mode`).

    tau (H, K, O): emission times implied by the detections near each slot's predicted
    arrival (NaN: none); dsel (H, K, O) their detection indices. Candidates are the taus of
    the first `n_cand_slots` slots; a candidate's count is the number of slots with any tau
    within `gate` of it (ties: the first candidate in slot-major order). Returns tau*, the
    count, and per slot the detection nearest tau* with its |deviation| (-1 / inf: none)."""
    H, K, n_off = tau.shape
    kc = min(n_cand_slots, K)
    tau_star = np.full(H, np.nan)
    nbest = np.full(H, -1.0)
    seed = np.full((H, K), -1, np.int64)
    dmin = np.full((H, K), np.inf)
    for h in range(H):
        best_c = -1.0
        best_t = np.nan
        for kk in range(kc):
            for jj in range(n_off):
                cand = tau[h, kk, jj]
                if np.isnan(cand):
                    continue
                cnt = 0
                for k in range(K):
                    for j in range(n_off):
                        if abs(tau[h, k, j] - cand) <= gate:  # False for NaN
                            cnt += 1
                            break
                if cnt > best_c:
                    best_c = float(cnt)
                    best_t = cand
        tau_star[h] = best_t
        nbest[h] = best_c
        if best_c < 0:
            continue
        for k in range(K):
            bd = np.inf
            bj = -1
            for j in range(n_off):
                tv = tau[h, k, j]
                if np.isnan(tv):
                    continue
                dv = abs(tv - best_t)
                if dv < bd:
                    bd = dv
                    bj = j
            if bj >= 0:
                dmin[h, k] = bd
                seed[h, k] = dsel[h, k, bj]
    return tau_star, nbest, seed, dmin


@njit(cache=True, nogil=True)
def _capped(lo, hi, k):
    """A travel-time window [lo, hi) holding more than k candidates shrunk to its k middle
    ones: a safety bound on the triple count in very dense scenes (salvos overlapping
    salvos); the true partner of a detection near the window's middle is kept, and the
    source is still seeded from other triangles."""
    if hi - lo > k:
        lo = (lo + hi) // 2 - k // 2
        hi = lo + k
    return lo, hi


@njit(cache=True, nogil=True)
def triangle_solutions(tris, X, Y, geom, key, tsort, order, start, end, span, max_partners, r_max,
                       az, az_sigma, conv, az_gate_sigma, az_gate_pos_m, rel):
    """Closed-form source solutions of every time-consistent detection triple on the array
    triangles `tris` (see `Associator._triangle_chunk`).

    geom (T, 10) per triangle: the B and C windows dab, dac, dbc (s), the sides
    x2, y2, x3, y3 relative to the first array, 4 x their 2x2 determinant, the mean sound
    speed and the longest side. Detections are addressed through the (array, time) index:
    `key` = array * span + time (sorted), `tsort` the times, `order` the detection index of
    each position, `start`/`end` each array's range. Windows holding more than
    `max_partners` candidates keep their middle ones. Solutions must lie before the
    arrivals and within `r_max` of the first array; where a detection reports an azimuth
    (finite `az`) the bearing to the solution must agree within the gate (no gate when
    az_gate_sigma <= 0): within `az_gate_sigma` registry sigmas, plus the angle a position
    error of `az_gate_pos_m` subtends, plus the direction error of a 3-array solution made
    without wind (relative speed error `rel` = wind_max / c, amplified by range / triangle
    size). Most chance triples (detections of different sources) fail it; real triples keep
    theirs, and a source needs only two triangles to be proposed.
    Returns (N, 3) positions and emission times, (N, 3) detections."""
    cap = 1024
    out_x = np.empty((cap, 3))
    out_i = np.empty((cap, 3), np.int64)
    n = 0
    gate = az_gate_sigma > 0.0
    for ti in range(tris.shape[0]):
        g = geom[ti]
        det4 = g[7]
        if not abs(det4) > 1e3:
            continue
        dab, dac, dbc = g[0], g[1], g[2]
        x2, y2, x3, y3 = g[3], g[4], g[5], g[6]
        cc, side = g[8], g[9]
        a, b, c = tris[ti, 0], tris[ti, 1], tris[ti, 2]
        oxa, oya = X[a], Y[a]
        bspan, cspan = b * span, c * span
        cs, ce = start[c], end[c]
        lo_b, hi_b = start[b], start[b]
        for pa in range(start[a], end[a]):
            ta = tsort[pa]
            # the arrivals at A are in time order: B's window only moves forward
            while lo_b < end[b] and key[lo_b] < bspan + ta - dab:
                lo_b += 1
            if hi_b < lo_b:
                hi_b = lo_b
            while hi_b < end[b] and key[hi_b] < bspan + ta + dab:
                hi_b += 1
            lo, hi = _capped(lo_b, hi_b, max_partners)
            for pb in range(lo, hi):
                tb = tsort[pb]
                lo2 = cs + np.searchsorted(key[cs:ce], cspan + max(ta - dac, tb - dbc))
                hi2 = cs + np.searchsorted(key[cs:ce], cspan + min(ta + dac, tb + dbc))
                lo2, hi2 = _capped(lo2, max(hi2, lo2), max_partners)
                for pc in range(lo2, hi2):
                    tc = tsort[pc]
                    r2, r3 = cc * (tb - ta), cc * (tc - ta)
                    b2, b3 = r2 * r2 - x2 * x2 - y2 * y2, r3 * r3 - x3 * x3 - y3 * y3
                    d2, d3 = -2.0 * r2, -2.0 * r3
                    px = (-2.0 * y3 * b2 + 2.0 * y2 * b3) / det4
                    py = (2.0 * x3 * b2 - 2.0 * x2 * b3) / det4
                    qx = (-2.0 * y3 * d2 + 2.0 * y2 * d3) / det4
                    qy = (2.0 * x3 * d2 - 2.0 * x2 * d3) / det4
                    qa = qx * qx + qy * qy - 1.0
                    qb = 2.0 * (px * qx + py * qy)
                    qc = px * px + py * py
                    disc = qb * qb - 4.0 * qa * qc
                    if not disc >= 0.0:
                        continue
                    sq = np.sqrt(disc)
                    qa_s = 1e-12 if abs(qa) < 1e-12 else qa
                    for sign in (-1.0, 1.0):
                        tau = (-qb + sign * sq) / (2.0 * qa_s)
                        if not (tau <= 0.0 and r2 - tau >= 0.0 and r3 - tau >= 0.0 and -tau <= r_max):
                            continue
                        sx, sy = px + qx * tau + oxa, py + qy * tau + oya
                        da, db, dc = order[pa], order[pb], order[pc]
                        ok = True
                        if gate:
                            for k in range(3):
                                dk = da if k == 0 else (db if k == 1 else dc)
                                azk = az[dk]
                                if not np.isfinite(azk):
                                    continue
                                ak = a if k == 0 else (b if k == 1 else c)
                                ex, ny = sx - X[ak], sy - Y[ak]
                                dist = np.hypot(ex, ny)
                                pred = np.arctan2(ex, ny) + conv[ak]
                                dev = abs((azk - pred + np.pi) % (2.0 * np.pi) - np.pi)
                                tol = (az_gate_sigma * az_sigma[ak] + np.arctan2(az_gate_pos_m, dist)
                                       + rel * dist / max(side, 1.0))
                                if not dev <= tol:
                                    ok = False
                                    break
                        if not ok:
                            continue
                        if n == cap:
                            cap *= 2
                            nx = np.empty((cap, 3))
                            nx[:n] = out_x[:n]
                            ni = np.empty((cap, 3), np.int64)
                            ni[:n] = out_i[:n]
                            out_x, out_i = nx, ni
                        out_x[n, 0], out_x[n, 1], out_x[n, 2] = sx, sy, ta + tau / cc
                        out_i[n, 0], out_i[n, 1], out_i[n, 2] = da, db, dc
                        n += 1
    return out_x[:n].copy(), out_i[:n].copy()


@njit(cache=True, nogil=True)
def dense_ids(codes):
    """Number the distinct values of non-negative int64 `codes` 0, 1, 2, ... in order of first
    appearance (an open-addressing hash table: one pass, no sort). Returns each code's
    number and how many distinct codes there are."""
    n = codes.size
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    size = 1 << bits
    mask = size - 1
    keys = np.full(size, -1, np.int64)
    vals = np.empty(size, np.int64)
    out = np.empty(n, np.int64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    shift = np.uint64(64 - bits)
    m = 0
    for i in range(n):
        k = codes[i]
        slot = np.int64((np.uint64(k) * mult) >> shift)
        while True:
            kk = keys[slot]
            if kk == k:
                out[i] = vals[slot]
                break
            if kk == -1:
                keys[slot] = k
                vals[slot] = m
                out[i] = m
                m += 1
                break
            slot = (slot + 1) & mask
    return out, m


@njit(cache=True, nogil=True)
def grid_codes(xyz, cell, tscale):
    """Cell codes of points (x, y, t) on two grids of `cell` (x, y metres; t * tscale), the
    second shifted by half a cell: (2N,) non-negative int64, the first grid's N even, the
    second's N odd (distinct across the grids)."""
    n = xyz.shape[0]
    out = np.empty(2 * n, np.int64)
    if n == 0:
        return out
    lo = np.empty(3)
    hi = np.empty(3)
    for d in range(3):
        lo[d] = np.inf
        hi[d] = -np.inf
    for i in range(n):
        for d in range(3):
            v = xyz[i, d] * (tscale if d == 2 else 1.0) / cell
            lo[d] = min(lo[d], v)
            hi[d] = max(hi[d], v)
    for g in range(2):
        off = 0.5 * g
        k0 = np.empty(3, np.int64)
        span = np.empty(3, np.int64)
        for d in range(3):
            k0[d] = np.int64(np.floor(lo[d] + off))
            span[d] = np.int64(np.floor(hi[d] + off)) - k0[d] + 1
        for i in range(n):
            kx = np.int64(np.floor(xyz[i, 0] / cell + off)) - k0[0]
            ky = np.int64(np.floor(xyz[i, 1] / cell + off)) - k0[1]
            kt = np.int64(np.floor(xyz[i, 2] * tscale / cell + off)) - k0[2]
            out[g * n + i] = ((kx * span[1] + ky) * span[2] + kt) * 2 + g
    return out


@njit(cache=True, nogil=True)
def free_buckets(ids, trip, used, n_buckets, min_support):
    """One association pass's hypotheses among the triangle solutions (see
    `Associator.hypotheses`): solutions whose three detections are all unused are counted
    per bucket on both grids (`ids` (2, N) bucket numbers); each takes the fuller of its
    two buckets (ties: the first grid's), and those in a bucket of >= `min_support` free
    solutions are returned as (solution rows, bucket)."""
    n = ids.shape[1]
    cnt = np.zeros(n_buckets, np.int64)
    free = np.empty(n, np.bool_)
    for i in range(n):
        f = not (used[trip[i, 0]] or used[trip[i, 1]] or used[trip[i, 2]])
        free[i] = f
        if f:
            cnt[ids[0, i]] += 1
            cnt[ids[1, i]] += 1
    rows = np.empty(n, np.int64)
    keys = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        if not free[i]:
            continue
        c0, c1 = cnt[ids[0, i]], cnt[ids[1, i]]
        k, c = (ids[1, i], c1) if c1 > c0 else (ids[0, i], c0)
        if c >= min_support:
            rows[m] = i
            keys[m] = k
            m += 1
    return rows[:m].copy(), keys[:m].copy()


@njit(cache=True, nogil=True)
def seeds(inv, trip, det_arr, H, K, n_dets):
    """Seeds (H, K) of hypotheses (see `Associator._seeds`): per hypothesis and array the
    detection most often among its solutions' detections (ties: the lowest index), arrays in
    index order, the first K kept (-1: empty slot). `inv`: hypothesis of each solution,
    `trip` its three detections, `det_arr` each detection's array."""
    n = inv.size
    start = np.zeros(H + 1, np.int64)
    for i in range(n):
        start[inv[i] + 1] += 3
    for h in range(H):
        start[h + 1] += start[h]
    fill = start[:-1].copy()
    nd1 = np.int64(n_dets) + 1
    key = np.empty(3 * n, np.int64)
    for i in range(n):
        h = inv[i]
        for j in range(3):
            d = trip[i, j]
            key[fill[h]] = np.int64(det_arr[d]) * nd1 + d
            fill[h] += 1
    out = np.full((H, K), -1, np.int64)
    for h in range(H):
        s, e = start[h], start[h + 1]
        if e == s:
            continue
        grp = np.sort(key[s:e])
        slot = -1
        cur_arr = -1
        best_c = 0
        i = 0
        while i < grp.size:
            j = i
            while j < grp.size and grp[j] == grp[i]:
                j += 1
            a, d, c = grp[i] // nd1, grp[i] % nd1, j - i
            if a != cur_arr:
                slot += 1
                if slot >= K:
                    break
                cur_arr = a
                best_c = 0
            if c > best_c:  # dets ascending within an array: ties keep the lowest
                best_c = c
                out[h, slot] = d
            i = j
    return out


@njit(cache=True, nogil=True)
def nearby_arrivals(pos, ca, valid, tpred, travel, window, tsort, order, start, end, used, offsets):
    """The unused detections around each slot's predicted arrival (see
    `Associator._tau_mode`): for every (hypothesis, slot) and offset o, the detection at
    sorted position pos + o of the slot's array (`start`/`end` its range) when it is unused
    and within `window` of the prediction `tpred`. Returns (H, K, O) emission times
    (arrival - travel; NaN: none) and detection indices (-1: none)."""
    H, K = pos.shape
    n_off = offsets.size
    tau = np.full((H, K, n_off), np.nan)
    dsel = np.full((H, K, n_off), -1, np.int64)
    for h in range(H):
        for k in range(K):
            if not valid[h, k]:
                continue
            a = ca[h, k]
            for j in range(n_off):
                p = pos[h, k] + offsets[j]
                if p < start[a] or p >= end[a]:
                    continue
                di = order[p]
                if used[di]:
                    continue
                tt = tsort[p]
                if abs(tt - tpred[h, k]) <= window[h, k]:
                    tau[h, k, j] = tt - travel[h, k]
                    dsel[h, k, j] = di
    return tau, dsel


@njit(cache=True, nogil=True)
def nearest_unused(arr, tpred, key, tsort, order, start, end, span, used):
    """Per query (array, predicted time), the unused detection of that array nearest in time
    among the two sorted neighbours on either side of the prediction, and |dt| (-1 / inf:
    none). See `_Index.nearest`."""
    n = arr.size
    best = np.full(n, -1, np.int64)
    bestd = np.full(n, np.inf)
    if key.size == 0:
        return best, bestd
    for i in range(n):
        a = arr[i]
        s, e = start[a], end[a]
        if e <= s:
            continue
        pos = s + np.searchsorted(key[s:e], tpred[i] + a * span)
        for p in range(pos - 2, pos + 2):
            if p < s or p >= e:
                continue
            di = order[p]
            if used[di]:
                continue
            dt = abs(tsort[p] - tpred[i])
            if dt < bestd[i]:
                bestd[i] = dt
                best[i] = di
    return best, bestd


@njit(cache=True, nogil=True)
def align_trains(a, r, expect, slack, gate, min_matches):
    """Shift d with a_i ~ r_j + d for the most onsets of `a`, among the pairwise shifts
    within `expect +- slack` (see `salvo._align`). Returns (mean shift of the matched pairs,
    matches), or (NaN, 0) when no shift matches `min_matches` onsets or the best is
    ambiguous (another shift more than 2 gates away matches as many)."""
    na, nr = a.size, r.size
    cand = np.empty(na * nr)
    nc = 0
    for i in range(na):
        for j in range(nr):
            d = a[i] - r[j]
            if abs(d - expect) <= slack:
                cand[nc] = d
                nc += 1
    if nc == 0:
        return np.nan, 0
    score = np.zeros(nc, np.int64)
    best = 0
    for c in range(nc):
        s = 0
        for i in range(na):
            for j in range(nr):
                if abs(a[i] - r[j] - cand[c]) <= gate:
                    s += 1
                    break
        score[c] = s
        best = max(best, s)
    if best < min_matches:
        return np.nan, 0
    lo, hi = np.inf, -np.inf
    for c in range(nc):
        if score[c] == best:
            lo = min(lo, cand[c])
            hi = max(hi, cand[c])
    if hi - lo > 2.0 * gate:
        return np.nan, 0
    d0 = 0.5 * (lo + hi)
    acc, m = 0.0, 0
    for i in range(na):
        for j in range(nr):
            d = a[i] - r[j]
            if abs(d - d0) <= gate:
                acc += d
                m += 1
    return acc / m, best


@njit(cache=True, nogil=True)
def group_order(labels, n_groups):
    """The stable order that sorts non-negative int `labels` (< n_groups): a counting sort,
    `np.argsort(labels, kind="stable")` in linear time."""
    start = np.zeros(n_groups + 1, np.int64)
    for v in labels:
        start[v + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    out = np.empty(labels.size, np.int64)
    for i in range(labels.size):
        v = labels[i]
        out[start[v]] = i
        start[v] += 1
    return out


@njit(cache=True, nogil=True)
def claim(det, order, used):
    """Greedy assignment: in `order`, each row of `det` (detection indices, -1 empty) whose
    detections are all still unused claims them (marks them in `used`). Returns which rows
    claimed."""
    won = np.zeros(det.shape[0], np.bool_)
    for h in order:
        free = True
        for d in det[h]:
            if d >= 0 and used[d]:
                free = False
                break
        if not free:
            continue
        for d in det[h]:
            if d >= 0:
                used[d] = True
        won[h] = True
    return won


@njit(cache=True, nogil=True)
def geodesic_inverse(lon1, lat1, lon2, lat2, a, f, az12, az21, dist):
    """Vincenty's inverse solution on the ellipsoid (a, f), point by point, into `az12`
    (azimuth 1->2 at point 1, deg), `az21` (azimuth 2->1 at point 2, deg) and `dist` (m).

    Why hand-written: the analysis' local planes need millions of short geodesics a day
    (every measurement slot of every fit), and pyproj's call (Karney's algorithm) costs
    about 0.55 us each; this loop 0.33 us, with distances and directions (as a sideways
    miss) within 10 um of Karney's up to 200 km (`tests/test_analysis_geodesy_inverse.py`).
    Returns the rows that converged: nearly antipodal pairs do not, and the caller takes
    those from pyproj."""
    n = lon1.size
    b = a * (1.0 - f)
    ep2 = (a * a - b * b) / (b * b)
    d2r = np.pi / 180.0
    ok = np.ones(n, np.bool_)
    for i in range(n):
        L = (lon2[i] - lon1[i]) * d2r
        L = (L + np.pi) % (2.0 * np.pi) - np.pi
        u1 = np.arctan((1.0 - f) * np.tan(lat1[i] * d2r))
        u2 = np.arctan((1.0 - f) * np.tan(lat2[i] * d2r))
        su1, cu1, su2, cu2 = np.sin(u1), np.cos(u1), np.sin(u2), np.cos(u2)
        lam = L
        done = False
        ss = cs = sig = c2a = c2sm = 0.0
        for _ in range(60):
            sl, cl = np.sin(lam), np.cos(lam)
            p = cu1 * su2 - su1 * cu2 * cl
            ss = np.sqrt((cu2 * sl) ** 2 + p * p)
            if ss == 0.0:  # coincident points
                done = True
                break
            cs = su1 * su2 + cu1 * cu2 * cl
            sig = np.arctan2(ss, cs)
            sa = cu1 * cu2 * sl / ss
            c2a = 1.0 - sa * sa
            c2sm = cs - 2.0 * su1 * su2 / c2a if c2a != 0.0 else 0.0
            C = f / 16.0 * c2a * (4.0 + f * (4.0 - 3.0 * c2a))
            prev = lam
            lam = L + (1.0 - C) * f * sa * (sig + C * ss * (c2sm + C * cs * (-1.0 + 2.0 * c2sm * c2sm)))
            if abs(lam - prev) < 1e-13:
                done = True
                break
        if not done:
            ok[i] = False
            continue
        if ss == 0.0:
            dist[i], az12[i], az21[i] = 0.0, 0.0, 180.0
            continue
        u2_ = c2a * ep2
        A = 1.0 + u2_ / 16384.0 * (4096.0 + u2_ * (-768.0 + u2_ * (320.0 - 175.0 * u2_)))
        B = u2_ / 1024.0 * (256.0 + u2_ * (-128.0 + u2_ * (74.0 - 47.0 * u2_)))
        dsig = B * ss * (c2sm + B / 4.0 * (cs * (-1.0 + 2.0 * c2sm * c2sm)
                                          - B / 6.0 * c2sm * (-3.0 + 4.0 * ss * ss) * (-3.0 + 4.0 * c2sm * c2sm)))
        dist[i] = b * A * (sig - dsig)
        sl, cl = np.sin(lam), np.cos(lam)
        az12[i] = np.arctan2(cu2 * sl, cu1 * su2 - su1 * cu2 * cl) / d2r
        back = np.arctan2(cu1 * sl, -su1 * cu2 + cu1 * su2 * cl) / d2r + 180.0
        az21[i] = back - 360.0 if back > 180.0 else back
    return ok


@njit(cache=True, nogil=True)
def _solve_scaled(J, g, n):
    """Solve J s = g for the n x n normal matrix J as `localize._safe_inv` does: Jacobi
    scaling (diagonal clipped at 1e-30), a 1e-12 ridge on the scaled matrix, then Gaussian
    elimination with partial pivoting. Zeros when the scaled system is singular."""
    sc = np.empty(n)
    for i in range(n):
        sc[i] = np.sqrt(max(J[i, i], 1e-30))
    A = np.empty((n, n))
    b = np.empty(n)
    for i in range(n):
        b[i] = g[i] / sc[i]
        for j in range(n):
            A[i, j] = J[i, j] / (sc[i] * sc[j])
        A[i, i] += 1e-12
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(A[r, col]) > abs(A[piv, col]):
                piv = r
        if A[piv, col] == 0.0:
            return np.zeros(n)
        if piv != col:
            for k in range(n):
                A[col, k], A[piv, k] = A[piv, k], A[col, k]
            b[col], b[piv] = b[piv], b[col]
        for r in range(col + 1, n):
            f = A[r, col] / A[col, col]
            for k in range(col, n):
                A[r, k] -= f * A[col, k]
            b[r] -= f * b[col]
    s = np.empty(n)
    for r in range(n - 1, -1, -1):
        acc = b[r]
        for k in range(r + 1, n):
            acc -= A[r, k] * s[k]
        s[r] = acc / A[r, r]
    for i in range(n):
        s[i] /= sc[i]
    return s


@njit(cache=True, nogil=True)
def gauss_newton(x, y, t0, W, ax, ay, conv, t, c, has_w, wx, wy, has_T, wsig_s, wsig_d, sig_t, az, sig_az,
                 sig_sp, prior_w, prior_var, m, maz, iters, temp_var):
    """The Gauss-Newton iterations of `localize._gn`, event by event: the same model
    (`localize._linearize`), normal equations (`localize._normal`) with the wind prior,
    scaled solve and step limits (3 km, 10 m/s), on each event's own slots. `x, y, t0, W`
    are updated in place; returns whether each event's last step was under 1 m. An event
    stops when its step is under 1 cm (the NumPy form stopped when every event's was, so
    converged events took a few more millimetre steps)."""
    E, K = m.shape
    ok = np.zeros(E, np.bool_)
    J = np.empty((6, 6))
    g = np.empty(6)
    h = np.empty(6)
    for e in range(E):
        sn = np.inf
        for _ in range(iters):
            J[:, :] = 0.0
            g[:] = 0.0
            for k in range(K):
                if not (m[e, k] or maz[e, k]):
                    continue
                rx = ax[e, k] - x[e]
                ry = ay[e, k] - y[e]
                d = max(np.sqrt(rx * rx + ry * ry), 1e-3)
                if m[e, k]:
                    ux, uy = rx / d, ry / d
                    wxk = wx[e, k] if has_w[e, k] else W[e, 0]
                    wyk = wy[e, k] if has_w[e, k] else W[e, 1]
                    wu = wxk * ux + wyk * uy
                    v = c[e, k] + (0.0 if has_T[e, k] else W[e, 2]) + wu
                    inv_v2 = 1.0 / (v * v)
                    res = t[e, k] - (t0[e] + d / v)
                    h[0] = -ux / v + (wxk - wu * ux) * inv_v2
                    h[1] = -uy / v + (wyk - wu * uy) * inv_v2
                    h[2] = 1.0
                    gg = (d * inv_v2) ** 2
                    if has_w[e, k]:
                        h[3] = 0.0
                        h[4] = 0.0
                        ws = np.sqrt(wx[e, k] ** 2 + wy[e, k] ** 2)
                        cosw = (wx[e, k] * ux + wy[e, k] * uy) / max(ws, 1e-9) if ws > 1e-6 else 1.0
                        sinw2 = min(max(1.0 - cosw * cosw, 0.0), 1.0)
                        var = sig_t[e, k] ** 2 + gg * (wsig_s[e, k] ** 2 * cosw * cosw + (ws * wsig_d[e, k]) ** 2 * sinw2)
                    else:
                        h[3] = -d * inv_v2 * ux
                        h[4] = -d * inv_v2 * uy
                        var = sig_t[e, k] ** 2 + gg * sig_sp[e] ** 2
                    if has_T[e, k]:
                        h[5] = 0.0
                        var += gg * temp_var
                    else:
                        h[5] = -d * inv_v2
                    wt = 1.0 / var
                    for i in range(6):
                        g[i] += wt * h[i] * res
                        for j in range(6):
                            J[i, j] += wt * h[i] * h[j]
                if maz[e, k]:
                    qx, qy = -rx, -ry
                    beta = np.arctan2(qx, qy) + conv[e, k]
                    da = az[e, k] - beta
                    ares = np.arctan2(np.sin(da), np.cos(da))
                    wa = 1.0 / sig_az[e, k] ** 2
                    d2 = d * d
                    h0, h1 = qy / d2, -qx / d2
                    J[0, 0] += wa * h0 * h0
                    J[0, 1] += wa * h0 * h1
                    J[1, 0] += wa * h1 * h0
                    J[1, 1] += wa * h1 * h1
                    g[0] += wa * h0 * ares
                    g[1] += wa * h1 * ares
            for i in range(3):
                J[3 + i, 3 + i] += 1.0 / prior_var[e, i]
                g[3 + i] += (prior_w[e, i] - W[e, i]) / prior_var[e, i]
            step = _solve_scaled(J, g, 6)
            sn = np.sqrt(step[0] ** 2 + step[1] ** 2)
            f = min(1.0, 3000.0 / max(sn, 1e-9))
            x[e] += step[0] * f
            y[e] += step[1] * f
            t0[e] += step[2] * f
            for i in range(3):
                W[e, i] += min(max(step[3 + i], -10.0), 10.0)
            if sn < 0.01:
                break
        ok[e] = sn < 1.0
    return ok


@njit(cache=True, nogil=True)
def compact_rows(det):
    """Each row's valid entries (>= 0) first, in their order, then -1; and the largest
    number of valid entries of any row (at least 1). The stable partition that
    `np.argsort(det < 0, axis=1, kind="stable")` gives, in one pass instead of a sort."""
    S, K = det.shape
    out = np.full((S, K), -1, det.dtype)
    width = 1
    for s in range(S):
        j = 0
        for k in range(K):
            if det[s, k] >= 0:
                out[s, j] = det[s, k]
                j += 1
        if j > width:
            width = j
    return out, width
