"""Salvo de-blending: rounds fired seconds apart from one launcher, told apart by their rhythm.

A multiple rocket launcher ripples its rounds 0.5-2 s apart from one spot. Every array hears
the same train of onsets, each shifted by that array's travel time. Unmodelled wind shifts
the travel time of a distant array by a few percent of the range, often more than one
interval, so the association can pair round k at one array with round k+1 at another: a
*blend*, whose fit absorbs the mismatch into the wind and passes its chi-square test while
its position is hundreds of metres off and its rounds are wrongly counted.

The rhythm breaks the ambiguity. The intervals between rounds are the same at every array
(the launcher does not move between rounds), while a shift by one round changes them. So for
each group of located sources close in space and time (a salvo and its blends), each array's
onsets near the group's predicted arrivals are aligned with a reference array's by the single
time shift that matches the most onsets (pattern matching, not absolute time: wind and
temperature drop out). Aligned onsets that coincide form one round across arrays; each round
is fitted anew with the same estimator (`localize.solve`) and tests (`acoustic_events._accept`)
as any source, and extended to the arrays the alignment left out. The rounds replace the
group's sources only where one of them is a proven blend (its onsets fall into two or more
rounds); a group without one is left as it was.

Alignment needs at least `MIN_MATCHES` coinciding onsets and a unique best shift; an array
whose train is too sparse or ambiguous is left out of the rounds rather than guessed.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.spatial import cKDTree

from . import chi2, geodesy, kernels
from .acoustic import Arrays, Detections

GROUP_M = 3000.0  # sources this close (and GROUP_S in time) may be one salvo and its blends
GROUP_S = 60.0
MIN_GATE_S = 0.06  # onsets of one round at two arrays, after alignment, agree within this
MIN_MATCHES = 2
PAD_S = 2.0  # window around the predicted arrivals: + PAD_S + WIND_FRACTION * travel time
WIND_FRACTION = 0.05
MIN_ARRAYS = 3

_EARTH_R = 6_371_008.8


def _flat(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """East/north metres of points from (lon0, lat0), equirectangular: within the tens of
    kilometres of a group its error is far below the windows and grid cells it serves."""
    k = np.pi / 180.0 * _EARTH_R
    dlon = np.asarray(lon) - lon0
    dlon = np.where(np.abs(dlon) > 180.0, (dlon + 180.0) % 360.0 - 180.0, dlon)  # across the antimeridian
    return dlon * k * np.cos(np.radians(lat0)), (np.asarray(lat) - lat0) * k


class _TimeIndex:
    """Detections sorted by (array, time), for the onsets of many arrays in one call."""

    def __init__(self, dets: Detections, owner: np.ndarray):
        self.order = np.lexsort((dets.t, dets.arr))
        t = dets.t[self.order]
        self.span = float(t.max() - t.min()) + 1e5 if len(t) else 1.0
        self.t_min = float(t.min()) if len(t) else 0.0
        self.key = dets.arr[self.order] * self.span + (t - self.t_min)
        self.owner = owner

    def windows(self, arr_ids: np.ndarray, lo_t: np.ndarray, hi_t: np.ndarray) -> list[np.ndarray]:
        base = arr_ids * self.span - self.t_min
        lo = np.searchsorted(self.key, base + lo_t, side="left")
        hi = np.searchsorted(self.key, base + hi_t, side="right")
        return [self.order[a:b] for a, b in zip(lo, hi, strict=True)]


def _groups(sol, det) -> list[np.ndarray]:
    """Candidate salvo groups: around each source with the most arrays still unassigned, the
    unassigned sources within GROUP_M and GROUP_S of it (seeded, not chained, so that a dense
    front does not merge into one group of unbounded extent)."""
    S = len(sol.lon)
    if S == 0:
        return []
    X, Y, _ = geodesy.project_region(sol.lon, sol.lat)
    pts = np.c_[X, Y, sol.t0 * (GROUP_M / GROUP_S)]
    tree = cKDTree(pts)
    n = (det >= 0).sum(1)
    free = np.ones(S, bool)
    out = []
    for i in np.argsort(-n, kind="stable"):
        if not free[i]:
            continue
        near = np.asarray(tree.query_ball_point(pts[i], GROUP_M * np.sqrt(2.0)), dtype=np.int64)
        near = near[free[near]]
        free[near] = False
        out.append(np.sort(near))
    return out


def _align(a: np.ndarray, r: np.ndarray, expect: float, slack: float, gate: float) -> tuple[float, int] | None:
    """Shift d with a_i ~ r_j + d for the most pairs, within `expect +- slack`; None when the
    best is ambiguous (another shift, more than 2 gates away, matches as many) or weak
    (`kernels.align_trains`: every pairing's shift is a candidate, scored by the onsets of
    `a` it matches)."""
    shift, best = kernels.align_trains(np.ascontiguousarray(a, dtype=float), np.ascontiguousarray(r, dtype=float),
                                       float(expect), float(slack), float(gate), MIN_MATCHES)
    return None if best == 0 else (float(shift), int(best))


def _trains(arrays: Arrays, dets: Detections, rows: np.ndarray, sol, members: np.ndarray, index: _TimeIndex,
            in_group: np.ndarray):
    """The onsets each member array recorded around a group's predicted arrivals (detections of
    sources outside the group excluded): (array ids, trains, distances, travel times, pads,
    reference position). `in_group`: a scratch mask over sources, all False on entry and exit."""
    det = rows[members]
    flat = det[det >= 0]
    if flat.size == 0:
        return None
    arr_ids = np.unique(dets.arr[flat])
    best = members[np.argmax((det >= 0).sum(1))]
    lon0, lat0 = float(sol.lon[best]), float(sol.lat[best])
    t_lo, t_hi = float(sol.t0[members].min()), float(sol.t0[members].max())
    e, n = _flat(lon0, lat0, arrays.lon[arr_ids], arrays.lat[arr_ids])
    dist = np.hypot(e, n)
    travel = dist / 340.0
    pad = PAD_S + WIND_FRACTION * travel
    in_group[members] = True
    owner = index.owner
    trains = []
    for cand in index.windows(arr_ids, t_lo + travel - pad, t_hi + travel + pad):
        own = owner[cand]
        trains.append(cand[(own < 0) | in_group[np.maximum(own, 0)]])
    in_group[members] = False
    return arr_ids, trains, dist, travel, pad, lon0, lat0


def _rounds_of_group(arrays: Arrays, dets: Detections, got) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Detection rows (one per round) of a group of sources, by rhythm alignment; None when the
    group shows no multi-round train."""
    arr_ids, trains, dist, travel, pad, lon0, lat0 = got
    counts = np.array([len(x) for x in trains])
    if np.median(counts) < 2:
        return None  # single shots: nothing to de-blend
    ref = int(np.lexsort((dist, -counts))[0])
    r_t = dets.t[trains[ref]]
    gates = np.maximum(MIN_GATE_S, 4.0 * np.hypot(arrays.timing_sigma[arr_ids], arrays.timing_sigma[arr_ids[ref]]))
    u_all, a_all, d_all = [r_t], [np.full(len(r_t), ref)], [trains[ref]]
    for k in range(len(arr_ids)):
        if k == ref or counts[k] == 0:
            continue
        a_t = dets.t[trains[k]]
        got = _align(a_t, r_t, travel[k] - travel[ref], pad[k] + pad[ref], gates[k])
        if got is None:
            continue
        shift, _score = got
        u_all.append(a_t - shift)
        a_all.append(np.full(len(a_t), k))
        d_all.append(trains[k])
    if len(u_all) < MIN_ARRAYS:
        return None
    u = np.concatenate(u_all)
    ak = np.concatenate(a_all)
    di = np.concatenate(d_all)
    o = np.argsort(u, kind="stable")
    u, ak, di = u[o], ak[o], di[o]
    gate = float(np.max(gates))
    # rounds: runs of aligned onsets within a gate of each other (u is sorted)
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(u) > gate) + 1, [u.size])).tolist()
    out_rows, out_t0 = [], []
    for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
        if b1 - b0 < MIN_ARRAYS:
            continue  # fewer onsets than arrays needed
        u_g, ak_g = u[b0:b1], ak[b0:b1]
        med = float(u_g.mean())  # one round's aligned onsets, within a gate of each other
        # one onset per array: the nearest to the round's time
        o2 = np.lexsort((np.abs(u_g - med), ak_g))
        ak2 = ak_g[o2]
        first = np.concatenate(([True], ak2[1:] != ak2[:-1]))
        pick = di[b0:b1][o2[first]]
        if len(pick) >= MIN_ARRAYS:
            out_rows.append(pick)
            out_t0.append(med - travel[ref])
    if len(out_rows) < 1:
        return None
    K = max(len(x) for x in out_rows)
    R = np.full((len(out_rows), K), -1, dtype=np.int64)
    for i, x in enumerate(out_rows):
        R[i, : len(x)] = x
    return R, np.array(out_t0), lon0, lat0


def _owner(dets: Detections, det: np.ndarray) -> np.ndarray:
    """Source owning each detection (-1: none)."""
    owner = np.full(len(dets), -1, dtype=np.int64)
    rr, cc = np.nonzero(det >= 0)
    owner[det[rr, cc]] = rr
    return owner


def _assemble(src, dets: Detections, keep_old: np.ndarray, sol_new, P_new, det_new: np.ndarray, keep_new: np.ndarray):
    """`src` with rows `keep_old` kept and rows `keep_new` of a new fit appended."""
    from dataclasses import replace

    from .acoustic_events import _cat_problems, _cat_solutions

    det = src.det
    K2 = max(det.shape[1], det_new.shape[1])
    det_all = np.concatenate([
        np.pad(det[keep_old], ((0, 0), (0, K2 - det.shape[1])), constant_values=-1),
        np.pad(det_new[keep_new], ((0, 0), (0, K2 - det_new.shape[1])), constant_values=-1),
    ])
    sol_all = _cat_solutions([(src.sol, keep_old), (sol_new, keep_new)], K2)
    P_all = _cat_problems([(src.problem, keep_old), (P_new, keep_new)], K2)
    labels = np.where(det_all >= 0, dets.label[np.maximum(det_all, 0)], -1)
    votes = np.stack([(labels == k).sum(1) for k in range(3)], -1)
    return replace(src, det=det_all, sol=sol_all, n_arrays=(det_all >= 0).sum(1), label_votes=votes,
                   accepted=np.ones(len(det_all), bool), problem=P_all)


def deblend_salvos(arrays: Arrays, dets: Detections, src, cfg=None, p_accept: float = 1e-2,
                   workers: int | None = 1):
    """Replace the blends among `src` (an `AcousticSources`) by rhythm-aligned rounds where an
    old source's onsets fall into two or more of them; returns a new `AcousticSources`.
    `workers`: processes (the result does not depend on it)."""
    return _rhythm_pass(arrays, dets, src, cfg, p_accept, workers)[0]


# what the forked workers of `_candidates` read (set only while they run)
_SHARED: tuple | None = None


def _candidates(groups: list[np.ndarray], first: int) -> list[tuple]:
    """Rhythm-aligned rounds of `groups` (numbered from `first`): (rows, t0, lon, lat, group)."""
    arrays, dets, det, sol, owner = _SHARED
    index = _TimeIndex(dets, owner)
    in_group = np.zeros(det.shape[0], bool)
    out = []
    for k, members in enumerate(groups):
        tg = _trains(arrays, dets, det, sol, members, index, in_group)
        if tg is None:
            continue
        got = _rounds_of_group(arrays, dets, tg)
        if got is not None:
            out.append((*got, first + k))
    return out


def _rhythm_pass(arrays: Arrays, dets: Detections, src, cfg=None, p_accept: float = 1e-2,
                 workers: int | None = 1):
    """Groups whose onsets align as one rhythm at every array: their blends replaced by rounds.
    Returns the new sources and the number of rounds appended at their end. `workers`:
    processes for the groups and the fits (the result does not depend on it)."""
    global _SHARED
    from .acoustic_events import PRIOR_SPREAD_FLOOR, _accept, build_problem, extend_and_refit, wind_prior
    from .associate import AssociationConfig
    from .localize import solve
    from .parallel import effective_workers, pmap

    cfg = cfg or AssociationConfig()
    det = src.det
    S = det.shape[0]
    if S == 0:
        return src, 0
    owner = _owner(dets, det)
    spread = float(src.wind_spread[0]) if src.wind_spread else 1.0

    groups = _groups(src.sol, det)
    n_jobs = min(effective_workers(workers), max(1, len(groups) // 200))
    cuts = np.linspace(0, len(groups), n_jobs + 1).astype(int)
    _SHARED = (arrays, dets, det, src.sol, owner)
    try:
        parts = pmap(_candidates, [(groups[a:b], int(a)) for a, b in zip(cuts[:-1], cuts[1:], strict=True)],
                     workers)
    finally:
        _SHARED = None
    found = [c for part in parts for c in part]
    cand_rows = [c[0] for c in found]
    cand_t0 = [c[1] for c in found]
    cand_lon = [np.full(len(c[1]), c[2]) for c in found]
    cand_lat = [np.full(len(c[1]), c[3]) for c in found]
    cand_group = [np.full(len(c[1]), c[4]) for c in found]
    if not cand_rows:
        return src, 0
    K = max(r.shape[1] for r in cand_rows)
    rows = np.concatenate([np.pad(r, ((0, 0), (0, K - r.shape[1])), constant_values=-1) for r in cand_rows])
    t0 = np.concatenate(cand_t0)
    lon0, lat0 = np.concatenate(cand_lon), np.concatenate(cand_lat)
    grp = np.concatenate(cand_group)
    pw, pv = wind_prior(arrays, dets, lon0, lat0, t0, spread=max(spread, PRIOR_SPREAD_FLOOR))
    P = build_problem(arrays, dets, rows, pw, pv, sig_sp=spread)
    sol = solve(P, lon0, lat0, t0, workers=workers)
    new_det = np.where(sol.m, rows, -1)
    ok = _accept(arrays, dets, new_det, sol, p_accept, cfg)
    new_det, late = _complete_late_rounds(arrays, dets, groups, grp, new_det, sol, ok, det, owner, spread, p_accept)
    if ok.any() or late.any():
        # arrays the alignment left out: the onset each accepted round predicts there, as for
        # any source; detections of sources outside the groups stay theirs
        in_groups = np.zeros(S, bool)
        for gi in np.unique(grp):
            in_groups[groups[gi]] = True
        busy = (owner >= 0) & ~in_groups[np.maximum(owner, 0)]
        new_det, sol, ok, P = extend_and_refit(arrays, dets, new_det, sol, ok, spread, busy, p_accept, cfg, workers)
    replace_groups, keep_new = [], []
    for old, new in _blends(groups, grp, new_det, ok, det):
        replace_groups.append(old)
        keep_new.extend(new)
    if not keep_new:
        return src, 0
    keep_old = np.setdiff1d(np.arange(S), np.concatenate(replace_groups))
    return _assemble(src, dets, keep_old, sol, P, new_det, np.array(sorted(keep_new))), len(keep_new)


def _complete_late_rounds(arrays: Arrays, dets: Detections, groups: list[np.ndarray], grp: np.ndarray,
                          new_det: np.ndarray, sol, ok: np.ndarray, det: np.ndarray, owner: np.ndarray,
                          spread: float, p_accept: float) -> tuple[np.ndarray, np.ndarray]:
    """A round can fail completeness only because the alignment left arrays out (sparse or
    ambiguous trains, onsets held by the blends it replaces). Each such round whose fit
    passes is extended to the onsets it predicts at the other arrays (`acoustic_events.extend`),
    among the free onsets and those of the sources proven blended (never another source's),
    so that the refit tests its completeness on what the arrays heard. Blends are proven by
    the complete rounds and, in a group, by its fitted rounds when they share one position
    (`_one_position`). Returns the rounds' detection rows and which rounds were extended."""
    from .acoustic_events import extend, fit_passes

    fits = fit_passes(sol, p_accept)
    late = fits & ~ok
    if not late.any():
        return new_det, late
    # (a group's rounds that fit one firing position: a launcher's salvo, the alignment's premise)
    proof = ok.copy()
    for rows in _by_group(grp).values():
        if late[rows].any():
            proof[_one_position(sol, rows[fits[rows]])] = True
    suspects = np.zeros(det.shape[0], bool)
    for old, _new in _blends(groups, grp, new_det, proof, det):
        suspects[old] = True
    busy = (owner >= 0) & ~suspects[np.maximum(owner, 0)]
    return extend(arrays, dets, new_det, sol, late, spread, used=busy), late


ONE_POSITION_MIN_ROUNDS = 3
ONE_POSITION_P = 0.01


@functools.lru_cache(maxsize=256)
def _chi2_limit(dof: int) -> float:
    """The chi-square value exceeded with probability ONE_POSITION_P (one scipy call per
    degree of freedom, not per group)."""
    return float(chi2.isf(ONE_POSITION_P, dof))


def _one_position(sol, rows: np.ndarray) -> np.ndarray:
    """The rounds among `rows` that share one position (a launcher's salvo: rounds fired from
    one spot): while the chi-square of their positions about the covariance-weighted mean
    (2 (n - 1) degrees of freedom) exceeds its ONE_POSITION_P tail limit, the round farthest
    from the mean (a fit with a wrong onset) is set aside; empty when fewer than
    ONE_POSITION_MIN_ROUNDS remain. A salvo's impacts scatter by hundreds of metres and fail it."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size < ONE_POSITION_MIN_ROUNDS:
        return rows[:0]
    e, n = _flat(float(sol.lon[rows[0]]), float(sol.lat[rows[0]]), sol.lon[rows], sol.lat[rows])
    p = np.stack([e, n], 1)
    C = sol.cov[rows, :2, :2]
    fin = np.isfinite(p).all(1) & np.isfinite(C).all(axis=(1, 2))
    rows, p, C = rows[fin], p[fin], C[fin]
    W = np.linalg.inv(C + np.eye(2) * 1e-6)
    while rows.size >= ONE_POSITION_MIN_ROUNDS:
        mean = np.linalg.solve(W.sum(0), np.einsum("nij,nj->i", W, p))
        d = p - mean
        z2 = np.einsum("ni,nij,nj->n", d, W, d)
        if float(z2.sum()) <= _chi2_limit(2 * (rows.size - 1)):
            return rows
        keep = np.arange(rows.size) != int(np.argmax(z2))
        rows, p, W = rows[keep], p[keep], W[keep]
    return rows[:0]


def _by_group(grp: np.ndarray) -> dict[int, np.ndarray]:
    """Rows of each group number (in row order): one sort, not a scan of all rows per group."""
    order = np.argsort(grp, kind="stable")
    keys, starts = np.unique(grp[order], return_index=True)
    return {int(k): rows for k, rows in zip(keys.tolist(), np.split(order, starts[1:]), strict=True)}


def _blends(groups: list[np.ndarray], grp: np.ndarray, new_det: np.ndarray, ok: np.ndarray, det: np.ndarray):
    """For each group with a proven blend, (the old sources that share onsets with its rounds,
    the rounds that replace them): the group's rounds in `ok`, most arrays first, none taking
    an onset an earlier one took; a blend is an old source whose onsets fall two or more into
    each of two or more rounds."""
    for gi, rows in _by_group(grp).items():
        members = groups[gi]
        mine = rows[ok[rows]]
        # no detection in two rounds (a stray onset can align with two)
        seen: set[int] = set()
        chosen = []
        for i in mine[np.argsort(-(new_det[mine] >= 0).sum(1), kind="stable")]:
            ds = set(new_det[i][new_det[i] >= 0].tolist())
            if ds & seen:
                continue
            seen |= ds
            chosen.append(i)
        if not chosen:
            continue
        round_of = {}
        for k, i in enumerate(chosen):
            for d in new_det[i][new_det[i] >= 0].tolist():
                round_of[d] = k
        blended, overlapping = False, []
        for m in members:
            ds = det[m][det[m] >= 0].tolist()
            hits = np.bincount([round_of[d] for d in ds if d in round_of], minlength=len(chosen))
            if (hits >= 2).sum() >= 2:  # its onsets belong to two or more rounds: a blend
                blended = True
            if hits.sum() > 0:
                overlapping.append(m)
        if blended:
            yield np.array(overlapping, dtype=np.int64), chosen
