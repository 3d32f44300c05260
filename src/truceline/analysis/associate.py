"""Association: group acoustic detections made by different arrays into source hypotheses.

Each array hears many sources, sources overlap in time (missions, salvos), and some
detections are false or mislabelled. Near-linear in the number of detections:

1. **Triangle solutions** (candidate generation): for small array triangles (each array with
   pairs of its `tri_near` nearest neighbours), every detection triple whose times fit the
   inter-array travel times is solved in closed form for (x, y, t0) (3-station TDOA with a
   known speed), vectorized over all triangles in memory-bounded chunks.
2. **Hypotheses**: solutions are hashed on two half-shifted (x, y, c*t) grids; buckets with
   solutions of >= `min_support` triangles (a source heard by >= 4 arrays) are hypotheses,
   fullest first; seeds are the detections most frequent in the bucket, one per array.
3. **Refinement** (vectorized over hypotheses): fit the seeds (IRLS Gauss-Newton), pick the
   emission time most nearby arrays agree on (separates the rounds of a salvo), gather at the
   `refine_near` nearest arrays the unused detection nearest the prediction within a tight
   gate, refit; chi-square and completeness tests.
4. **Greedy assignment**: most arrays first; each detection in at most one source and each
   array at most one detection per source; a re-found source extends its earlier cluster;
   `passes` passes over what is left. Leftovers with fewer than `min_arrays` arrays form no
   source.

The coarse fit here works in one plane for the whole region (0.1 % distortion is far
below the association gates); the final fit (`localize`) uses exact per-event planes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from . import chi2, geodesy, kernels
from .acoustic import Arrays, Detections


@dataclass(slots=True)
class AssociationConfig:
    r_max_m: float = 45000.0  # farthest an array is assumed to hear a source
    min_arrays: int = 3  # fewest distinct arrays forming a source
    wind_max_mps: float = 15.0  # bound on unmodelled wind for the coarse gates
    rel_wind_sigma: float = 0.004  # residual relative travel-time error after the coarse fit
    chunk_s: float = 1800.0  # time chunk for voting (bounds memory)
    p_gate: float = 1e-3  # chi-square tail probability for accepting a source
    max_rounds: int = 3  # greedy rounds (refining hypotheses that lost detections)
    tri_near: int = 5  # triangles: each array with pairs of its nearest neighbours
    cluster_m: float = 1500.0  # triangle solutions this close (space, c*time) support each other
    min_support: int = 2  # triangle solutions agreeing (>= 4 arrays) to form a hypothesis
    refine_near: int = 32  # arrays gathered per hypothesis
    tau_gate_s: float = 0.15  # emission-time agreement for separating the rounds of a salvo
    min_completeness: float = 0.5  # share of the arrays nearer than the members' 75th percentile that heard it
    passes: int = 3  # association passes over the detections still unused
    later_min_support: int = 1  # later rounds (leftovers only): one triangle solution makes a hypothesis
    single_support_min_dof: int = 2  # ... if its refined source is over-determined by this much
    adapt_completeness: bool = True  # later rounds scale min_completeness to the measured hearing share
    exhaustive_hypotheses: int = 50_000  # hypotheses per pass seeded from all their solutions (see _one_pass)
    batch: int = 1000
    max_partners: int = 12  # cap on candidates per travel-time window (memory safety in dense scenes)
    tri_chunk_dets: int = 50_000
    az_gate_sigma: float = 4.0  # triangle solutions: reported azimuths within this many sigma (0: no gate)
    az_gate_pos_m: float = 3000.0  # ... plus the angle this position error subtends at the array
    window_s: float = 3600.0  # association time window (bounded memory, linear in duration)  # first-array detections per triangle chunk (memory bound)  # hypotheses refined together (strongest first; later ones skip used detections)


@dataclass(slots=True)
class Clusters:
    """Associated sources: `det` (S, K) detection indices (-1 = empty slot), coarse start."""

    det: np.ndarray
    x: np.ndarray  # region plane (m)
    y: np.ndarray
    t0: np.ndarray  # relative emission time (s)
    lon: np.ndarray
    lat: np.ndarray


class _Index:
    """Detections sorted by (array, time) for nearest-in-time lookups per array."""

    def __init__(self, dets: Detections, n_arrays: int):
        self.order = np.lexsort((dets.t, dets.arr))
        self.t = dets.t[self.order]
        arr = dets.arr[self.order]
        self.start = np.searchsorted(arr, np.arange(n_arrays), side="left")
        self.end = np.searchsorted(arr, np.arange(n_arrays), side="right")
        span = float(dets.t.max() - dets.t.min()) + 1e5 if len(dets) else 1e5
        self.span = span
        self.key = self.t + arr.astype(float) * span

    def nearest(self, arr: np.ndarray, tpred: np.ndarray, used: np.ndarray):
        """Index (into detections) of the unused detection at `arr` nearest `tpred`, and |dt|
        (inf where none). Looks at the two neighbours in time on either side."""
        return kernels.nearest_unused(np.ascontiguousarray(arr, dtype=np.int64),
                                      np.ascontiguousarray(tpred, dtype=float), self.key, self.t, self.order,
                                      self.start, self.end, float(self.span), used)


_INDEX_CACHE: list = []  # [(weak references to the table's time and array columns, n_arrays, _Index)]


def detection_index(dets: Detections, n_arrays: int) -> _Index:
    """The (array, time) index of a detection table, built once per table: the extension and
    the repeat search of every round look up the same day's detections (a sort of a million
    rows each time, ~2 s a day otherwise). Only the last table's index is kept, and it goes
    when that table's columns are freed."""
    import weakref

    if _INDEX_CACHE:
        t_ref, arr_ref, n, idx = _INDEX_CACHE[0]
        if t_ref() is dets.t and arr_ref() is dets.arr and n == n_arrays:
            return idx
    idx = _Index(dets, n_arrays)
    _INDEX_CACHE[:] = [(weakref.ref(dets.t), weakref.ref(dets.arr), n_arrays, idx)]
    weakref.finalize(dets.t, _INDEX_CACHE.clear)
    return idx


def _plain(v, shape) -> np.ndarray:
    """`v` as a writable C-contiguous float64 array of `shape` (broadcast where needed): one
    array type for the compiled kernels, so each is compiled once."""
    a = np.asarray(v, dtype=float)
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return np.require(a, float, ["C", "W"])


def _fit(x, y, t0, sel, ax, ay, t, c, wx, wy, sig, iters=6, robust=True):
    """Coarse IRLS Gauss-Newton of (x, y, t0) for many hypotheses at once
    (`kernels.fit_rows`). sel: (H,K) valid slots; ax, ay, t, c, wx, wy, sig: (H,K). Returns
    the estimates, the residuals `r` (0 off the selected slots) and the distances `d`.
    Each row's fit depends on its own selected slots only."""
    sel = np.require(sel, bool, ["C", "W"])
    shape = sel.shape
    x, y, t0 = (_plain(v, shape[:1]) for v in (x, y, t0))
    ax, ay, t, c, wx, wy, sig = (_plain(v, shape) for v in (ax, ay, t, c, wx, wy, sig))
    return kernels.fit_rows(x, y, t0, sel, ax, ay, t, c, wx, wy, sig, int(iters), bool(robust))


class Associator:
    """Stateful helper holding the geometry shared by the three stages."""

    def __init__(self, arrays: Arrays, dets: Detections, cfg: AssociationConfig):
        self.cfg = cfg
        self.arrays = arrays
        self.dets = dets
        self.X, self.Y, self.centre = geodesy.project_region(arrays.lon, arrays.lat)
        # meridian convergence at each array (rad): true bearing = plane bearing + conv
        self.conv = np.radians(geodesy.to_local(self.centre[0], self.centre[1], arrays.lon, arrays.lat)[2]) \
            if len(arrays.ids) else np.zeros(0)
        nA = len(arrays.ids)
        self.nA = nA
        self.index = _Index(dets, nA)
        # per-array nominal still-air speed and mean measured wind (coarse model only)
        self.c_arr = np.full(nA, 340.0)
        self.w_arr = np.zeros((nA, 2))
        if len(dets):
            cnt = np.bincount(dets.arr, minlength=nA)
            self.c_arr = np.where(cnt > 0, np.bincount(dets.arr, dets.c, nA) / np.maximum(cnt, 1), 340.0)
            has = np.isfinite(dets.wx)
            if has.any():
                # one regional mean wind for arrays that report none; the array's own where it does
                wxm, wym = float(np.mean(dets.wx[has])), float(np.mean(dets.wy[has]))
                self.w_arr[:] = (wxm, wym)
                hc = np.bincount(dets.arr[has], minlength=nA)
                sx = np.bincount(dets.arr[has], dets.wx[has], nA)
                sy = np.bincount(dets.arr[has], dets.wy[has], nA)
                own = hc > 0
                self.w_arr[own, 0] = sx[own] / hc[own]
                self.w_arr[own, 1] = sy[own] / hc[own]

    # ---- stage 1b: exact triangle solutions ----------------------------------------------
    def triangles(self) -> np.ndarray:
        """Array triples (a, b, c): each array with pairs of its `tri_near` nearest neighbours."""
        k = min(self.cfg.tri_near + 1, self.nA)
        tree = cKDTree(np.c_[self.X, self.Y])
        _, nb = tree.query(np.c_[self.X, self.Y], k=k)
        nb = nb.reshape(self.nA, k)
        tris = []
        for i in range(1, k):
            for j in range(i + 1, k):
                tris.append(np.stack([nb[:, 0], nb[:, i], nb[:, j]], 1))
        if not tris:
            return np.zeros((0, 3), np.int64)
        t = np.sort(np.concatenate(tris), axis=1)
        t = t[(t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2])]
        return np.unique(t, axis=0)

    def triangle_solutions(self):
        """Closed-form source solutions (x, y, t0) of every time-consistent detection triple
        on every array triangle, with the detection indices."""
        cfg = self.cfg
        dets = self.dets
        idx = self.index
        c_lo = float(self.c_arr.min()) - cfg.wind_max_mps
        tris = self.triangles()
        if tris.shape[0] == 0 or len(dets) == 0:
            return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
        # bounded memory: triangles in chunks of about `tri_chunk_dets` first-array detections
        na_all = idx.end[tris[:, 0]] - idx.start[tris[:, 0]]
        bounds = np.searchsorted(np.cumsum(na_all), np.arange(1, 1 + int(na_all.sum()) // cfg.tri_chunk_dets + 1)
                                 * cfg.tri_chunk_dets)
        cuts = np.unique(np.r_[0, bounds + 1, tris.shape[0]].clip(0, tris.shape[0]))
        xyz_parts, trip_parts = [], []
        for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True):
            x_, t_ = self._triangle_chunk(tris[c0:c1], c_lo)
            if x_.shape[0]:
                xyz_parts.append(x_)
                trip_parts.append(t_)
        if not xyz_parts:
            return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
        return np.concatenate(xyz_parts), np.concatenate(trip_parts)

    def _triangle_chunk(self, tris, c_lo):
        """Closed-form solutions of one chunk of triangles (`kernels.triangle_solutions`).
        The triangle geometry (travel-time windows at the slowest plausible speed, sides
        relative to the first array, the mean sound speed, the longest side) is computed
        once per triangle here; triangles too flat to solve on are skipped."""
        cfg = self.cfg
        idx = self.index
        A, B, C = tris[:, 0], tris[:, 1], tris[:, 2]
        XA, YA = self.X[A], self.Y[A]
        x2t, y2t = self.X[B] - XA, self.Y[B] - YA
        x3t, y3t = self.X[C] - XA, self.Y[C] - YA
        geom = np.stack([np.hypot(x2t, y2t) / c_lo + 0.5, np.hypot(x3t, y3t) / c_lo + 0.5,
                         np.hypot(self.X[B] - self.X[C], self.Y[B] - self.Y[C]) / c_lo + 0.5,
                         x2t, y2t, x3t, y3t, 4.0 * (x2t * y3t - x3t * y2t), self.c_arr[tris].mean(1),
                         self._longest_side(tris)], 1)
        az_sigma = np.ascontiguousarray(self.arrays.az_sigma, dtype=float)
        rel = cfg.wind_max_mps / max(float(self.c_arr.min()), 300.0)
        return kernels.triangle_solutions(
            np.ascontiguousarray(tris, dtype=np.int64), self.X, self.Y, geom, idx.key, idx.t, idx.order,
            idx.start, idx.end, float(idx.span), int(cfg.max_partners), float(cfg.r_max_m),
            np.ascontiguousarray(self.dets.az, dtype=float), az_sigma, np.asarray(self.conv, dtype=float),
            float(cfg.az_gate_sigma), float(cfg.az_gate_pos_m), rel)

    def _longest_side(self, arr: np.ndarray) -> np.ndarray:
        """Longest side (m) of each array triangle (rows of `arr`)."""
        X, Y = self.X[arr], self.Y[arr]
        return np.maximum.reduce([np.hypot(X[:, 0] - X[:, 1], Y[:, 0] - Y[:, 1]),
                                  np.hypot(X[:, 0] - X[:, 2], Y[:, 0] - Y[:, 2]),
                                  np.hypot(X[:, 1] - X[:, 2], Y[:, 1] - Y[:, 2])])

    def _buckets(self, xyz: np.ndarray) -> tuple[np.ndarray, int]:
        """Bucket of every triangle solution on each of the two half-shifted grids: (2, N)
        bucket numbers, distinct across both grids (numbered in order of first appearance,
        `kernels.dense_ids`), and the number of buckets."""
        if xyz.shape[0] == 0:
            return np.zeros((2, 0), np.int64), 0
        codes = kernels.grid_codes(np.ascontiguousarray(xyz, dtype=float), self.cfg.cluster_m, 330.0)
        ids, nb = kernels.dense_ids(codes)
        return ids.reshape(2, -1), int(nb)

    def triangle_hypotheses(self, used: np.ndarray | None = None):
        """`hypotheses` with the seeds of every hypothesis (H,K) as third element."""
        start, n, hyp, trip = self.hypotheses(used)
        return start, n, self._seeds(hyp, trip, start.shape[0])

    def hypotheses(self, used: np.ndarray | None = None):
        """Buckets of agreeing triangle solutions (one source heard by >= 4 arrays gives many
        solutions at the same place and time). Solutions are hashed on two half-shifted grids
        of (cluster_m, cluster_m, cluster_m / 330 s); each solution's bucket is the fuller of
        its two; buckets with >= `min_support` solutions are hypotheses, fullest first.
        Returns (start positions (H,3) with time*330 as 3rd column, support, the hypothesis
        of each solution taking part, and its detections (N,3))."""
        cfg = self.cfg
        if getattr(self, "_sol_cache", None) is None:
            self._sol_cache = self.triangle_solutions()
            self._bucket_cache = self._buckets(self._sol_cache[0])
        xyz, trip = self._sol_cache
        empty = (np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64))
        if xyz.shape[0] == 0:
            return empty
        ids, base = self._bucket_cache
        free = np.zeros(len(self.dets), bool) if used is None else used
        rows, key = kernels.free_buckets(ids, trip, free, base, int(cfg.min_support))
        if rows.size == 0:
            return empty
        trip = trip[rows]
        # distinct buckets in number order without a sort (bincount over the bucket number)
        present = np.bincount(key, minlength=base) > 0
        remap = np.cumsum(present) - 1
        inv = remap[key]
        H = int(present.sum())
        n = np.bincount(inv, minlength=H)
        start = np.stack([np.bincount(inv, xyz[rows, 0], H) / n, np.bincount(inv, xyz[rows, 1], H) / n,
                          np.bincount(inv, xyz[rows, 2] * 330.0, H) / n], 1)
        order = np.argsort(-n, kind="stable")  # fullest first (ties: first appearance)
        pos = np.empty(H, np.int64)
        pos[order] = np.arange(H)
        return start[order], n[order], pos[inv], trip

    def _seeds(self, inv: np.ndarray, trip: np.ndarray, H: int) -> np.ndarray:
        """Seeds (H, K) of the hypotheses (`kernels.seeds`): per hypothesis and array the
        detection most often in its solutions (ties: the lowest index), arrays in index
        order. `inv`: hypothesis of each solution, `trip` its detections."""
        K = min(self.cfg.refine_near, self.nA)
        return kernels.seeds(np.ascontiguousarray(inv, dtype=np.int64), np.ascontiguousarray(trip, dtype=np.int64),
                             self.dets.arr, int(H), int(K), len(self.dets))

    def run(self, used: np.ndarray | None = None) -> Clusters:
        cfg = self.cfg
        nD = len(self.dets)
        used = np.zeros(nD, dtype=bool) if used is None else used.copy()
        K = min(cfg.refine_near, self.nA)
        tree = cKDTree(np.c_[self.X, self.Y])
        accepted: list[tuple[np.ndarray, float, float, float]] = []
        self._acc_hash: dict[tuple[int, int, int], list[int]] = {}
        for _pass in range(cfg.passes):
            n_before = len(accepted)
            self._one_pass(used, tree, K, accepted)
            if len(accepted) == n_before:
                break
        S = len(accepted)
        if S == 0:
            return _empty_clusters(K)
        K = max(K, max(r.size for r, *_ in accepted))
        out = np.full((S, K), -1, dtype=np.int64)
        xs, ys, ts = np.empty(S), np.empty(S), np.empty(S)
        for i, (row, xi, yi, ti) in enumerate(accepted):
            out[i, : row.size] = row
            xs[i], ys[i], ts[i] = xi, yi, ti
        lon, lat = geodesy.from_local(self.centre[0], self.centre[1], xs, ys)
        return Clusters(det=out, x=xs, y=ys, t0=ts, lon=lon, lat=lat)

    def _one_pass(self, used, tree, K, accepted):
        """Hypotheses from the triangle solutions of unused detections, strongest first."""
        cfg = self.cfg
        start, support, hyp, trip = self.hypotheses(used)
        H = start.shape[0]
        if H == 0:
            return
        # the solutions grouped by hypothesis; each batch's seeds are made when it is reached.
        # The first `exhaustive_hypotheses` take all their solutions (a source whose every
        # triangle shares one detection taken by another source is still found); past that
        # budget (dense hours: hundreds of thousands of buckets, nearly all emptied by stronger
        # hypotheses before they are reached) only hypotheses still holding `min_support`
        # solutions of free detections are seeded, from those solutions
        o = kernels.group_order(hyp, H)
        hyp, trip = hyp[o], trip[o]
        batch = cfg.batch
        for b0 in range(0, H, batch):
            nb = min(batch, H - b0)
            lo, hi = np.searchsorted(hyp, [b0, b0 + nb])
            th, tt = hyp[lo:hi] - b0, trip[lo:hi]
            if b0 < cfg.exhaustive_hypotheses:
                seed = self._seeds(th, tt, nb)
                seed = np.where((seed >= 0) & ~used[np.maximum(seed, 0)], seed, -1)
            else:
                clean = ~used[tt].any(1)
                th, tt = th[clean], tt[clean]
                alive = np.bincount(th, minlength=nb) >= cfg.min_support
                if not alive.any():
                    continue
                sel = alive[th]
                seed = self._seeds(th[sel], tt[sel], nb)
            p0 = start[b0:b0 + nb]
            live = (seed >= 0).sum(1) >= cfg.min_arrays
            seed, p0, sup = seed[live], p0[live], support[b0:b0 + nb][live]
            if seed.shape[0] == 0:
                continue
            det, x, y, t0, chi, n, ok = self.refine_seeded(seed, tree, used, K, p0[:, 0], p0[:, 1], p0[:, 2] / 330.0)
            if (sup < 2).any():
                # a hypothesis from one triangle solution (later rounds) must be
                # over-determined: position and time plus `single_support_min_dof` more
                naz = np.where(det >= 0, np.isfinite(self.dets.az[np.maximum(det, 0)]), False).sum(1)
                ok &= (sup >= 2) | (n - 3 + naz >= cfg.single_support_min_dof)
            idx = np.nonzero(ok)[0]
            order = idx[np.lexsort((chi[idx] / np.maximum(n[idx] - 2, 1), -n[idx]))]
            won = kernels.claim(det, order, used)
            for h in order[won[order]]:
                row = det[h]
                row = row[row >= 0]
                # the same source found again (its first cluster missed some arrays): extend it
                j = self._near_accepted(x[h], y[h], t0[h], row, accepted)
                if j is not None:
                    r0, x0, y0, tt0 = accepted[j]
                    accepted[j] = (np.concatenate([r0, row]), x0, y0, tt0)
                    continue
                accepted.append((row, x[h], y[h], t0[h]))
                self._acc_hash.setdefault(self._acc_key(x[h], y[h], t0[h]), []).append(len(accepted) - 1)

    def _acc_key(self, x, y, t):
        L = self.cfg.cluster_m
        return (int(np.floor(x / L)), int(np.floor(y / L)), int(np.floor(t * 330.0 / L)))

    def _near_accepted(self, x, y, t, row, accepted):
        """An accepted cluster within cluster_m (space and c*time) using other arrays."""
        kx, ky, kt = self._acc_key(x, y, t)
        L = self.cfg.cluster_m
        arrs = set(self.dets.arr[row].tolist())
        best, best_d = None, L
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dt in (-1, 0, 1):
                    for j in self._acc_hash.get((kx + dx, ky + dy, kt + dt), ()):
                        r0, x0, y0, t0 = accepted[j]
                        d = float(np.sqrt((x - x0) ** 2 + (y - y0) ** 2 + (330.0 * (t - t0)) ** 2))
                        if d < best_d and not (arrs & set(self.dets.arr[r0].tolist())):
                            best, best_d = j, d
        return best

    def _tau_mode(self, x, y, t0, tree, used, K, offsets=(-3, -2, -1, 0, 1, 2), n_cand_slots=8):
        """Pick the emission time most arrays agree on near a located hypothesis.

        A salvo (rounds 0.6-2 s apart from one position) gives at every array a run of
        arrivals; seeds from triangle solutions mix its rounds. With the position known to a
        few hundred metres, each arrival maps to an emission time tau = t - d/v, and the
        rounds separate in tau. For every hypothesis the tau heard by the most arrays (within
        `tau_gate_s`) wins; the fit is restarted from the detections that agree on it."""
        cfg = self.cfg
        dets, A = self.dets, self.arrays
        H = x.shape[0]
        if H == 0:
            return x, y, t0
        dist, cand = tree.query(np.c_[x, y], k=K, distance_upper_bound=cfg.r_max_m * 1.2)
        cand = cand.reshape(H, K)
        valid = cand < self.nA
        ca = np.where(valid, cand, 0)
        cax, cay = self.X[ca], self.Y[ca]
        rx, ry = cax - x[:, None], cay - y[:, None]
        dd = np.maximum(np.hypot(rx, ry), 1.0)
        v = self.c_arr[ca] + (self.w_arr[ca, 0] * rx + self.w_arr[ca, 1] * ry) / dd
        travel = dd / v
        tpred = t0[:, None] + travel
        idx = self.index
        if len(idx.key) == 0:
            return x, y, t0
        pos = np.searchsorted(idx.key, tpred + ca.astype(float) * idx.span)
        window = 3.0 + cfg.wind_max_mps / v * travel
        tau, dsel = kernels.nearby_arrivals(pos, ca, valid, tpred, travel, window, idx.t, idx.order, idx.start,
                                            idx.end, used, np.asarray(offsets, dtype=np.int64))
        g = cfg.tau_gate_s
        tau_star, nbest, seed, dmin = kernels.tau_vote(tau, dsel, n_cand_slots, g)
        good = nbest >= cfg.min_arrays
        sel = good[:, None] & (dmin <= g) & (seed >= 0)
        if not sel.any():
            return x, y, t0
        sd = np.maximum(seed, 0)
        sig = np.sqrt(A.timing_sigma[ca] ** 2 + (cfg.rel_wind_sigma * travel) ** 2 + 0.1**2)
        x2, y2, t2, _, _ = _fit(x, y, np.where(good, tau_star, t0), sel, cax, cay, dets.t[sd], dets.c[sd],
                                self.w_arr[ca, 0], self.w_arr[ca, 1], sig, iters=6, robust=True)
        return np.where(good, x2, x), np.where(good, y2, y), np.where(good, t2, t0)

    def refine_seeded(self, seed, tree, used, K, x0, y0, t00):
        """Fit the seed detections, then grow: gather at the K arrays nearest the fitted
        source the unused detection nearest the predicted arrival within a tight gate, refit."""
        cfg = self.cfg
        dets, A = self.dets, self.arrays
        H = seed.shape[0]
        sel = seed >= 0
        sd = np.maximum(seed, 0)
        sa = dets.arr[sd]
        ax, ay = self.X[sa], self.Y[sa]
        c = dets.c[sd]
        wx, wy = self.w_arr[sa, 0], self.w_arr[sa, 1]
        t = dets.t[sd]
        sig = np.sqrt(A.timing_sigma[sa] ** 2 + 0.3**2)
        x, y, t0, r, d = _fit(x0, y0, t00, sel, ax, ay, t, c, wx, wy, sig, iters=10, robust=True)
        used_tmp = used.copy()
        x, y, t0 = self._tau_mode(x, y, t0, tree, used_tmp, K)
        for _ in range(2):
            dist, cand = tree.query(np.c_[x, y], k=K, distance_upper_bound=cfg.r_max_m * 1.2)
            cand = cand.reshape(H, K)
            valid = cand < self.nA
            ca = np.where(valid, cand, 0)
            cax, cay = self.X[ca], self.Y[ca]
            cc = self.c_arr[ca]
            cwx, cwy = self.w_arr[ca, 0], self.w_arr[ca, 1]
            rx, ry = cax - x[:, None], cay - y[:, None]
            dd = np.maximum(np.hypot(rx, ry), 1.0)
            v = cc + (cwx * rx + cwy * ry) / dd
            tpred = t0[:, None] + dd / v
            di, dt = self.index.nearest(ca.ravel(), tpred.ravel(), used_tmp)
            di, dt = di.reshape(H, K), dt.reshape(H, K)
            sg = np.sqrt(A.timing_sigma[ca] ** 2 + (cfg.rel_wind_sigma * dd / v) ** 2 + 0.05**2)
            sel = valid & (di >= 0) & (dt <= 4.0 * sg)
            seed = np.where(sel, di, -1)
            sd = np.maximum(seed, 0)
            t = dets.t[sd]
            c = dets.c[sd]
            x, y, t0, r, d = _fit(x, y, t0, sel, cax, cay, t, c, cwx, cwy, sg, iters=5, robust=True)
            ax, ay, wx, wy = cax, cay, cwx, cwy
        sig = np.sqrt(A.timing_sigma[ca] ** 2 + (cfg.rel_wind_sigma * d / c) ** 2 + 0.05**2)
        z = np.abs(r) / sig
        det = seed.copy()
        for _ in range(2):
            sel = det >= 0
            worst = np.argmax(np.where(sel, z, -1), axis=1)
            zw = z[np.arange(H), worst]
            drop = sel[np.arange(H), worst] & (zw > 4.0) & (sel.sum(1) > cfg.min_arrays)
            det[np.nonzero(drop)[0], worst[drop]] = -1
            z[np.nonzero(drop)[0], worst[drop]] = 0
        sel = det >= 0
        n = sel.sum(1)
        chi = np.where(sel, z**2, 0.0).sum(1)
        dof = np.maximum(n - 3, 1)
        ok = (n >= cfg.min_arrays) & (chi <= chi2.isf(cfg.p_gate, dof))
        ok &= np.where(sel, z <= 4.5, True).all(1)
        # completeness: a real source is heard by most arrays nearer than its members (the
        # slots are the K arrays nearest the fitted source, nearest first); a chance
        # coincidence of detections from different sources is not
        ranks = np.where(sel, np.arange(K)[None, :], K)
        q = np.clip(np.ceil(0.75 * n).astype(int) - 1, 0, K - 1)
        # the (q+1)-th member's slot (K when there is none): no sort, the slots are in order
        r75 = np.where(n > q, np.argmax(np.cumsum(sel, axis=1) > q[:, None], axis=1), K)
        within = (ranks <= r75[:, None]).sum(1)
        ok &= within >= cfg.min_completeness * (r75 + 1)
        return det, x, y, t0, chi, n, ok


def _empty_clusters(K: int) -> Clusters:
    z = np.zeros(0)
    return Clusters(det=np.zeros((0, K), np.int64), x=z, y=z, t0=z, lon=z, lat=z)


def subset(dets: Detections, rows: np.ndarray) -> Detections:
    """The detections `rows` (report ids and reference time shared)."""
    kw = {}
    for f in Detections.__dataclass_fields__:
        v = getattr(dets, f)
        kw[f] = v[rows] if isinstance(v, np.ndarray) else v
    return Detections(**kw)


def _windows(dets: Detections, cfg: AssociationConfig) -> list[tuple[float, float, np.ndarray]]:
    """Time windows (core start, core end, detection rows incl. the margin) covering `dets`.
    The margin is the longest travel time plus slack on each side, so a source whose
    emission time is in a window's core has all its arrivals in that window's rows."""
    t_lo, t_hi = float(dets.t.min()), float(dets.t.max())
    if t_hi - t_lo <= cfg.window_s:
        return [(-np.inf, np.inf, np.arange(len(dets)))]
    margin = cfg.r_max_m / 300.0 + 30.0
    order = np.argsort(dets.t, kind="stable")
    ts = dets.t[order]
    out = []
    T0 = t_lo - margin
    while t_hi >= T0:
        T1 = T0 + cfg.window_s
        i0, i1 = np.searchsorted(ts, [T0 - margin, T1 + margin])
        rows = np.sort(order[i0:i1])
        if rows.size >= cfg.min_arrays:
            out.append((T0, T1, rows))
        T0 = T1
    return out


def _window_job(arrays: Arrays, sub: Detections, cfg: AssociationConfig, used: np.ndarray, T0: float, T1: float):
    """Associate one window on its own (no state shared with other windows) and keep the
    sources whose emission time is in the window's core: (rows into `sub`, x, y, t0, lon, lat)."""
    cl = Associator(arrays, sub, cfg).run(used)
    core = np.nonzero((cl.t0 >= T0) & (cl.t0 < T1))[0]
    return cl.det[core], cl.x[core], cl.y[core], cl.t0[core], cl.lon[core], cl.lat[core]


def associate(arrays: Arrays, dets: Detections, cfg: AssociationConfig | None = None,
              used: np.ndarray | None = None, workers: int | None = 1) -> Clusters:
    """Group detections into sources (see module docstring); detections flagged in `used`
    are left alone. Long inputs are processed in independent time windows of `window_s`
    (plus the longest travel time on each side as margin): each source belongs to the
    window holding its emission time, so a source near a boundary is found whole in one
    window and never twice. Windows share no state, so they run in a process pool of
    `workers` processes (None: the machine's cores) with results identical to the serial
    path; a detection claimed by sources of two neighbouring windows stays with the earlier
    window's source, the later keeping the rest when it still spans `min_arrays`
    (deterministic merge in time order). Memory stays bounded and the cost
    grows linearly with duration."""
    cfg = cfg or AssociationConfig()
    K = max(1, cfg.refine_near)
    if len(dets) == 0 or len(arrays.ids) < cfg.min_arrays:
        return _empty_clusters(K)
    used = np.zeros(len(dets), bool) if used is None else used
    from .parallel import pmap

    wins = []
    jobs = []
    for T0, T1, rows in _windows(dets, cfg):
        rows = rows[~used[rows]]  # detections already in sources take no part (cheaper later rounds)
        if rows.size < cfg.min_arrays:
            continue
        sub = subset(dets, rows)
        sub.report_ids = []  # not needed to associate; keeps what goes to a worker small
        wins.append((T0, T1, rows))
        jobs.append((arrays, sub, cfg, np.zeros(rows.size, bool), T0, T1))
    results = pmap(_window_job, jobs, workers)
    rows_all, x_all, y_all, t_all, lon_all, lat_all = [], [], [], [], [], []
    taken = used.copy()
    for (_T0, _T1, rows), (det, x, y, t0, lon, lat) in zip(wins, results, strict=True):
        for i in range(det.shape[0]):
            r = det[i][det[i] >= 0]
            g = rows[r]
            # a detection already claimed by an earlier window's source stays there; the rest
            # of this source is kept when it still spans enough arrays (the final fit decides)
            g = g[~taken[g]]
            if g.size < cfg.min_arrays:
                continue
            taken[g] = True
            rows_all.append(g)
            x_all.append(x[i])
            y_all.append(y[i])
            t_all.append(t0[i])
            lon_all.append(lon[i])
            lat_all.append(lat[i])
    if not rows_all:
        return _empty_clusters(K)
    K = max(K, max(r.size for r in rows_all))
    out = np.full((len(rows_all), K), -1, dtype=np.int64)
    for i, r in enumerate(rows_all):
        out[i, : r.size] = r
    return Clusters(det=out, x=np.array(x_all), y=np.array(y_all), t0=np.array(t_all), lon=np.array(lon_all),
                    lat=np.array(lat_all))
