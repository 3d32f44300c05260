"""`analyze_reports`: accepted reports -> located, fused events (spec section 4).

Order of work: acoustic association and localization (vectorized), radar fusion (gated
information fusion; creates launch/impact pairs where no acoustic source matches),
launch/impact classification and pairing by kinematics, drone / satellite / monitor events,
then the territory (zone, distance to the line) and the issue-6 hook (attribution, rules).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from . import chi2, geodesy, salvo
from .acoustic import AcousticColumns, build_tables
from .acoustic_events import (
    background_rate,
    explained,
    explained_by_others,
    locate_sources,
    network_reach,
    unexplained_crowding,
)
from .associate import AssociationConfig
from .attribution import MIN_REDUNDANT_DOF
from .events import Event, event_id
from .fusion import (
    CHI2_2DOF_999,
    MONITOR_SIGMA_M,
    RADAR_TIME_SIGMA_S,
    cluster_satellite,
    cluster_uav,
    radar_observations,
)
from .parallel import collector_paused, release_free_memory
from .reportset import ReportSet
from .wind_gradient import widen_for_wind_gradient


@dataclass
class _Src:
    """A launch/impact candidate while fusing (acoustic source and/or radar observations)."""

    lon: float
    lat: float
    cov: np.ndarray
    time: float
    time_var: float
    reports: list[str]
    kinds: dict[str, str]
    votes: np.ndarray  # launch, impact, unknown
    n_arrays: int = 0
    role: str | None = None  # fixed by radar
    radar_mate: int | None = None  # index of the linked source (same radar track)
    projectile: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    mate: int | None = None
    type: str = "impact"


def _pilot_score(sub: AcousticColumns, registry, cfg, mode: str) -> tuple[int, float] | None:
    """(sources located, -mean chi-square per dof) of a one-round pilot analysis of `sub`
    under a missing-temperature model; None when `sub` has no detection."""
    arrays, dets = build_tables(sub, registry, missing_temp=mode)
    if len(dets) == 0:
        return None
    src = locate_sources(arrays, dets, cfg, rounds=1, repeat_rounds=0)
    n = int(src.accepted.sum())
    chi = float(np.mean(src.sol.chi2 / np.maximum(src.sol.dof, 1.0))) if n else np.inf
    return n, -chi


def choose_temperature_model(reports: list[dict] | AcousticColumns, registry, cfg, pilot: int = 12000,
                             workers: int | None = 1) -> str:
    """Which temperature to assume at arrays that report none: the neighbours' ("fill",
    physically right when the air temperature is a smooth field) or the spec's 15 C
    ("default", what a data source following the spec's text uses). Decided by the data: a
    pilot analysis of the first `pilot` acoustic reports (by time) under both (run side by
    side when `workers` > 1); the model that locates more sources (then the lower mean
    chi-square per degree of freedom) wins."""
    from .parallel import pmap

    cols = reports if isinstance(reports, AcousticColumns) else AcousticColumns.from_reports(reports)
    has = np.isfinite(cols.temp_c)
    if has.all() or not has.any():
        return "default"
    sub = cols.first_by_time(pilot)
    modes = ("fill", "default")
    res = pmap(_pilot_score, [(sub, registry, cfg, m) for m in modes], workers)
    if any(r is None for r in res):
        return "fill"
    scores = dict(zip(modes, res, strict=True))
    return "fill" if scores["fill"] >= scores["default"] else "default"


def _acoustic_sources(reports: AcousticColumns, registry, cfg, workers: int | None = None
                      ) -> tuple[list[_Src], dict[str, Any]]:
    import time

    t0 = time.perf_counter()
    geodesy.load_compiled()  # before the first fork, so the pool workers inherit it
    mode = choose_temperature_model(reports, registry, cfg, workers=workers)
    t1 = time.perf_counter()
    arrays, dets = build_tables(reports, registry, missing_temp=mode)
    t2 = time.perf_counter()
    if len(dets) == 0:
        return [], {"acoustic_detections": 0}
    src = locate_sources(arrays, dets, cfg, workers=workers)
    release_free_memory()
    t3 = time.perf_counter()
    src = salvo.deblend_salvos(arrays, dets, src, cfg, workers=workers)
    release_free_memory()
    t4 = time.perf_counter()
    src, grad_sigma = widen_for_wind_gradient(src, dets.t_ref)
    t5 = time.perf_counter()
    sub_t = {"temperature_pilot": round(t1 - t0, 3), "tables": round(t2 - t1, 3), "locate": round(t3 - t2, 3),
             "salvo": round(t4 - t3, 3), "wind_gradient": round(t5 - t4, 3)}
    sol = src.sol
    accepted_det = np.where(src.accepted[:, None], src.det, -1)
    crowd = unexplained_crowding(dets, accepted_det)
    acc = np.flatnonzero(src.accepted)
    weak = acc[sol.dof[acc] < MIN_REDUNDANT_DOF]  # the fits attribution would otherwise not trust
    reach = max((cfg or AssociationConfig()).r_max_m, network_reach(arrays))
    leftover = dict(zip(weak.tolist(), explained_by_others(arrays, dets, accepted_det, sol, weak, reach).tolist(),
                        strict=True))
    background = dict(zip(weak.tolist(), background_rate(dets, accepted_det, weak).tolist(), strict=True))
    unexplained_labels = np.bincount(dets.label[~explained(dets, accepted_det)].astype(np.int64), minlength=3)[:3]
    out: list[_Src] = []
    for s in np.nonzero(src.accepted)[0]:
        rows = src.det[s][src.det[s] >= 0]
        rids = [dets.report_ids[r] for r in rows]
        q = {"chi2": float(sol.chi2[s]), "dof": float(sol.dof[s]), "n_azimuths": int(sol.maz[s].sum()),
             "wind_east_mps": float(sol.wind[s, 0]), "wind_north_mps": float(sol.wind[s, 1]),
             "unexplained_nearby": round(float(crowd[s]), 3)}
        if s in leftover:
            q["explained_by_others"] = round(float(leftover[s]), 3)
            q["background"] = round(float(background[s]), 4)
        out.append(_Src(
            lon=float(sol.lon[s]), lat=float(sol.lat[s]), cov=sol.cov[s, :2, :2].copy(),
            time=dets.t_ref + float(sol.t0[s]), time_var=float(sol.cov[s, 2, 2]),
            reports=rids, kinds=dict.fromkeys(rids, "acoustic"), votes=src.label_votes[s].astype(float),
            n_arrays=int(src.n_arrays[s]), quality=q,
        ))
    used = int(sum(len(s.reports) for s in out))
    return out, {"acoustic_detections": len(dets), "acoustic_sources": len(out), "acoustic_used": used,
                 "wind_spread_mps": [round(x, 3) for x in (src.wind_spread or [])],
                 "hearing_share": None if src.hearing_share is None else round(src.hearing_share, 3),
                 "wind_gradient_sigma_mps_per_km": round(grad_sigma, 4),
                 "missing_temperature_model": mode, "timings_s": sub_t,
                 "unexplained_labels": [int(x) for x in unexplained_labels],
                 "_acoustic": (src, arrays, dets)}


def _inv2(c: np.ndarray) -> np.ndarray:
    """Inverse of a 2x2 matrix in closed form (np.linalg.inv costs microseconds a call)."""
    a, b, c_, d = float(c[0, 0]), float(c[0, 1]), float(c[1, 0]), float(c[1, 1])
    det = a * d - b * c_
    return np.array([[d, -b], [-c_, a]]) / det


def _fuse_radar(srcs: list[_Src], radar_reports: list[dict]) -> None:
    obs = radar_observations(radar_reports)
    if not obs:
        return
    # candidates by (5 km cell, time bin): cells in one plane about the first observation
    # (as `fusion.SpatialHash`; a source stays in the cell of its first position), time bins
    # at least as wide as the widest time gate, so only three bins per cell can hold a match;
    # keys of all sources and observations from two vectorized projections
    cell = 5000.0
    r2 = RADAR_TIME_SIGMA_S**2
    gates = [4.0 * math.sqrt(s.time_var + r2) + 0.3 for s in srcs] + [4.0 * math.sqrt(2.0 * r2) + 0.3]
    g_max = max(gates)
    tb = max(30.0, g_max) if math.isfinite(g_max) else math.inf

    def tkey(t: float) -> int:
        return int(math.floor(t / tb)) if math.isfinite(tb) else 0

    lon0, lat0 = obs[0]["lon"], obs[0]["lat"]
    buckets: dict[tuple[int, int, int], list[int]] = {}
    skey: list[tuple[int, int, int]] = []
    if srcs:
        se, sn, _ = geodesy.to_local(lon0, lat0, np.array([s.lon for s in srcs]), np.array([s.lat for s in srcs]))
        for i, (kx, ky) in enumerate(zip(np.floor(se / cell).astype(np.int64).tolist(),
                                         np.floor(sn / cell).astype(np.int64).tolist(), strict=True)):
            k = (kx, ky, tkey(srcs[i].time))
            skey.append(k)
            buckets.setdefault(k, []).append(i)
    oe, on, _ = geodesy.to_local(lon0, lat0, np.array([o["lon"] for o in obs]), np.array([o["lat"] for o in obs]))
    okeys = list(zip(np.floor(oe / cell).astype(np.int64).tolist(), np.floor(on / cell).astype(np.int64).tolist(),
                     strict=True))
    pending: dict[str, int] = {}
    for o, (kx, ky) in zip(obs, okeys, strict=True):
        best, best_d2 = None, CHI2_2DOF_999
        kt = tkey(o["time"])
        near = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                c = [i for dtb in (-1, 0, 1) for i in buckets.get((kx + dx, ky + dy, kt + dtb), ())]
                near.extend(sorted(c))  # per cell in creation order, as one list per cell would be
        for i in near:
            s = srcs[i]
            if s.role is not None and s.role != o["role"]:
                continue
            if o["report"] in s.reports:
                continue
            dt = abs(s.time - o["time"])
            if dt > 4.0 * math.sqrt(s.time_var + RADAR_TIME_SIGMA_S**2) + 0.3:
                continue
            e, n = geodesy.to_local_near(s.lon, s.lat, o["lon"], o["lat"])
            cv = s.cov + o["cov"]
            det = cv[0, 0] * cv[1, 1] - cv[0, 1] * cv[1, 0]
            if not det > 0:
                continue
            d2 = (cv[1, 1] * e * e - (cv[0, 1] + cv[1, 0]) * e * n + cv[0, 0] * n * n) / det
            if d2 <= best_d2:
                best, best_d2 = i, d2
        if best is None:
            srcs.append(_Src(o["lon"], o["lat"], o["cov"].copy(), o["time"], RADAR_TIME_SIGMA_S**2,
                             [o["report"]], {o["report"]: "radar"}, np.zeros(3), role=o["role"],
                             projectile=o["projectile"]))
            best = len(srcs) - 1
            k = (kx, ky, tkey(o["time"]))
            skey.append(k)
            buckets.setdefault(k, []).append(best)
        else:
            s = srcs[best]
            e, n = geodesy.to_local_near(s.lon, s.lat, o["lon"], o["lat"])
            # information-weighted mean: P = (A^-1 + B^-1)^-1 = A (A + B)^-1 B, and the
            # shift of the mean from A's position P B^-1 v = A (A + B)^-1 v (2x2, closed form)
            gain = s.cov @ _inv2(s.cov + o["cov"])
            P = gain @ o["cov"]
            m = gain @ np.array([float(e), float(n)])
            lo, la = geodesy.from_local_near(s.lon, s.lat, float(m[0]), float(m[1]))
            s.lon, s.lat, s.cov = float(lo), float(la), 0.5 * (P + P.T)
            w = 1.0 / s.time_var + 1.0 / RADAR_TIME_SIGMA_S**2
            s.time = (s.time / s.time_var + o["time"] / RADAR_TIME_SIGMA_S**2) / w
            s.time_var = 1.0 / w
            k_old = skey[best]
            k_new = (k_old[0], k_old[1], tkey(s.time))
            if k_new != k_old:  # the fused time moved the source to another time bin
                buckets[k_old].remove(best)
                buckets.setdefault(k_new, []).append(best)
                skey[best] = k_new
            s.role = o["role"]
            s.projectile = s.projectile or o["projectile"]
            if o["report"] not in s.reports:
                s.reports.append(o["report"])
            s.kinds[o["report"]] = "radar"
        if o["role"] == "launch":
            pending[o["report"]] = best
        else:
            li = pending.pop(o["report"], None)
            if li is not None and li != best:
                srcs[li].radar_mate = best
                srcs[best].radar_mate = li


def _classify_and_pair(srcs: list[_Src], max_range_m: float = 100_000.0) -> None:
    """Type each source (radar role, else label votes, else kinematics) and link launches to
    impacts: a radar track links its own pair; otherwise a launch and a later impact are
    linked when the flight is kinematically plausible (mean speed 80-1500 m/s, 0.3-100 km)
    and the pairing is unambiguous for both."""
    n = len(srcs)
    if n == 0:
        return
    for s in srcs:
        if s.role:
            s.type = s.role
        else:
            v = s.votes
            s.type = "launch" if v[0] > v[1] else "impact"
    for _i, s in enumerate(srcs):
        if s.radar_mate is not None:
            s.mate = s.radar_mate
    free = np.array([i for i, s in enumerate(srcs) if s.mate is None], dtype=np.int64)
    if free.size < 2:
        return
    lon = np.array([srcs[i].lon for i in free])
    lat = np.array([srcs[i].lat for i in free])
    t = np.array([srcs[i].time for i in free])
    x, y, _ = geodesy.project_region(lon, lat)
    score = np.array([(srcs[i].votes[0] - srcs[i].votes[1]) if not srcs[i].role else
                      (99.0 if srcs[i].role == "launch" else -99.0) for i in free])
    mate_b, n_b, n_a = _plausible_flights(x, y, t, score, max_range_m)
    for a in np.nonzero(n_b == 1)[0]:
        b = int(mate_b[a])
        if n_a[b] != 1:
            continue
        ia, ib = int(free[a]), int(free[b])
        srcs[ia].mate, srcs[ib].mate = ib, ia
        srcs[ia].type, srcs[ib].type = "launch", "impact"


def _plausible_flights(x, y, t, score, max_range_m: float, v_min: float = 80.0, v_max: float = 1500.0,
                       dt_min: float = 2.0, d_min: float = 300.0, block_s: float = 600.0):
    """Kinematically plausible (launch a, impact b) pairs among sources at plane positions
    (x, y) and times t: a not voted impact (score >= 0), b not voted launch (score <= 0), not
    both undecided, b later by >= `dt_min`, `d_min` <= distance <= `max_range_m`, mean speed in
    [`v_min`, `v_max`]. Returns, per source, a partner as launch (mate_b: its impact, any one),
    the number of impacts it could be the launch of (n_b) and the number of launches it could
    be the impact of (n_a). Vectorized in time blocks (launches of one block against impacts
    up to the longest flight later), so memory stays bounded whatever the number of sources."""

    n = t.size
    mate_b = np.full(n, -1, dtype=np.int64)
    n_b = np.zeros(n, dtype=np.int64)
    n_a = np.zeros(n, dtype=np.int64)
    ia = np.nonzero(score >= 0)[0]
    ib = np.nonzero(score <= 0)[0]
    if ia.size == 0 or ib.size == 0:
        return mate_b, n_b, n_a
    ia = ia[np.argsort(t[ia], kind="stable")]
    ib = ib[np.argsort(t[ib], kind="stable")]
    tb = t[ib]
    max_dt = max_range_m / v_min
    t_first = float(t[ia[0]])
    blk = np.floor((t[ia] - t_first) / block_s).astype(np.int64)
    cuts = np.r_[0, np.nonzero(np.diff(blk))[0] + 1, ia.size]
    for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True):
        A = ia[c0:c1]
        lo = np.searchsorted(tb, t[A].min() + dt_min, side="left")
        hi = np.searchsorted(tb, t[A].max() + max_dt, side="right")
        B = ib[lo:hi]
        if B.size == 0:
            continue
        ta = cKDTree(np.c_[x[A], y[A]])
        tb_ = cKDTree(np.c_[x[B], y[B]])
        pairs = ta.sparse_distance_matrix(tb_, max_range_m, output_type="ndarray")
        if pairs.size == 0:
            continue
        a, b, d = A[pairs["i"]], B[pairs["j"]], pairs["v"]
        dt = t[b] - t[a]
        ok = (a != b) & ~((score[a] == 0) & (score[b] == 0)) & (dt >= dt_min) & (d >= d_min)
        v = d / np.where(dt > 0, dt, 1.0)
        ok &= (v >= v_min) & (v <= v_max)
        a, b = a[ok], b[ok]
        n_b += np.bincount(a, minlength=n)
        n_a += np.bincount(b, minlength=n)
        mate_b[a] = b
    return mate_b, n_b, n_a


def analyze_reports(
    reports: Iterable[dict] | ReportSet,
    registry: dict[str, Any],
    territory: Any = None,
    profile: Any = None,
    config: AssociationConfig | None = None,
    stats: dict[str, Any] | None = None,
    workers: int | None = None,
) -> list[Event]:
    """Fuse accepted, validated reports (spec section 2 dicts, or a `ReportSet` holding
    them in columns) into events (spec section 4).

    `registry` maps sensor id -> registry entry (`ingest.Sensor` or dict); `territory` a
    `truceline.geo.Territory` (zone, distance to the line); `profile` is passed to the
    attribution/rules hook. Deterministic: the same input gives the same events and ids,
    whatever the order of `reports`. `stats`, when given, receives counters. `workers`:
    processes for the acoustic association's time windows (None: the machine's cores, at
    most 4); the events do not depend on it.
    """
    with collector_paused():
        return _analyze_reports(reports, registry, territory, profile, config, stats, workers)


def _analyze_reports(reports, registry, territory, profile, config, stats, workers) -> list[Event]:
    import time

    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:  # wall time per stage, reported in stats["timings_s"]
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 3)
        clock[0] = now

    rs = reports.finish() if isinstance(reports, ReportSet) else ReportSet.from_reports(reports)
    by_kind: dict[str, Any] = {"acoustic": rs.acoustic, **rs.other}
    lap("split")
    srcs, st = _acoustic_sources(by_kind["acoustic"], registry, config, workers=workers)
    lap("acoustic")
    _fuse_radar(srcs, by_kind["radar"])
    lap("radar")
    _classify_and_pair(srcs)
    lap("pairing")
    events: list[Event] = []
    ids = [event_id(s.type, s.reports) for s in srcs]
    for i, s in enumerate(srcs):
        ev = Event(id=ids[i], type=s.type, time=s.time, lon=s.lon, lat=s.lat, cov_en_m2=s.cov,
                   reports=sorted(s.reports), report_kinds=dict(s.kinds), time_sigma_s=math.sqrt(max(s.time_var, 0.0)),
                   n_arrays=s.n_arrays, projectile=s.projectile, quality=dict(s.quality))
        if s.mate is not None:
            if s.type == "launch":
                ev.impact_event = ids[s.mate]
            else:
                ev.launch_event = ids[s.mate]
        v = s.votes
        if v.sum():
            ev.extra["label_votes"] = {"launch": int(v[0]), "impact": int(v[1]), "unknown": int(v[2])}
        events.append(ev)
    events, n_doubtful = drop_doubtful_impacts(events)
    events, n_crowded = drop_unresolved_crowds(events)
    events, n_chance = drop_label_chance(events, st.get("unexplained_labels", [0, 0, 0]))
    lap("events")
    for tr in cluster_uav(by_kind["uav"]):
        events.append(Event(
            id=event_id("weapon_sighting", tr.reports), type="weapon_sighting", time=tr.first_time,
            lon=tr.lon, lat=tr.lat, cov_en_m2=tr.cov, reports=sorted(tr.reports), report_kinds=dict(tr.kinds),
            object=tr.info["object"], caliber_mm=tr.info.get("caliber_mm"), count=tr.info.get("count"),
            extra={"last_seen": _fmt(tr.last_time), **({"media_sha256": sorted(set(tr.info["media"]))} if tr.info["media"] else {}),
                   **({"confidence": float(tr.info["confidence"])} if tr.info.get("confidence") is not None else {})},
        ))
    for tr in cluster_satellite(by_kind["satellite"]):
        events.append(Event(
            id=event_id("thermal", tr.reports), type="thermal", time=tr.first_time, lon=tr.lon, lat=tr.lat,
            cov_en_m2=tr.cov, reports=sorted(tr.reports), report_kinds=dict(tr.kinds),
            extra={"frp_mw": tr.info["frp_mw"], "last_seen": _fmt(tr.last_time)},
        ))
    from truceline.formats import parse_time

    for r in by_kind["monitor"]:
        b = r["body"]
        events.append(Event(
            id=event_id("monitor_report", [r["id"]]), type="monitor_report", time=parse_time(r["time"]),
            lon=float(b["lon"]), lat=float(b["lat"]), cov_en_m2=np.eye(2) * MONITOR_SIGMA_M**2,
            reports=[r["id"]], report_kinds={r["id"]: "monitor"}, category=b.get("category"),
            extra={"text": b.get("text")} if b.get("text") is not None else {},
        ))
    lap("other_sensors")
    if territory is not None and events:
        add_geography(events, territory)
    from truceline.analysis.corroboration import mark_uncorroborated

    mark_uncorroborated(events, registry, by_kind["acoustic"])
    lap("geography")
    apply_issue6(events, territory, profile)
    lap("attribution_rules")
    if stats is not None:
        st["timings_s"] = {**st.get("timings_s", {}), **timings}
        stats.update(st)
        stats["events"] = len(events)
        stats["acoustic_impacts_dropped_poor_fit"] = n_doubtful
        stats["acoustic_events_dropped_unresolved_crowd"] = n_crowded
        stats["acoustic_events_dropped_label_chance"] = n_chance
        # map acoustic source row -> event id, for evaluation against a bound
        stats["_acoustic_event_ids"] = ids[: st.get("acoustic_sources", 0)]
    return events


# An impact heard only by acoustic arrays, with other impacts close by, must fit its
# arrivals at this p-value (the association's test is p >= 0.01). The rounds of a salvo
# land hundreds of metres apart within seconds, and a fit that pairs the onsets of different
# rounds at different arrays still passes the looser test: such blends were most of the
# false acoustic events. Where impacts land together nothing else speaks for such an
# impact's place (no radar track; its launch, when heard, is an event of its own), so a
# doubtful one is left out rather than reported. An isolated impact cannot be a blend and
# keeps the association's test. Measured in docs/analysis.md.
ACOUSTIC_IMPACT_MIN_P = 0.1
IMPACT_CROWD_RADIUS_M = 3000.0
IMPACT_CROWD_WINDOW_S = 30.0


def drop_doubtful_impacts(events: list[Event], p_min: float = ACOUSTIC_IMPACT_MIN_P) -> tuple[list[Event], int]:
    """`events` without the acoustic-only impacts that have another impact within
    `IMPACT_CROWD_RADIUS_M` and `IMPACT_CROWD_WINDOW_S` and whose fit fails the chi-square
    test at `p_min` (their launches lose the link); and how many were left out."""
    impacts = [e for e in events if e.type == "impact"]
    if len(impacts) < 2:
        return events, 0
    tested = [k for k, e in enumerate(impacts) if _acoustic_only_fit(e)]
    poor = [k for k, p in zip(tested, _fit_p([impacts[k] for k in tested]), strict=True) if p < p_min]
    if not poor:
        return events, 0
    X, Y, _ = geodesy.project_region(np.array([e.lon for e in impacts]), np.array([e.lat for e in impacts]))
    t = np.array([e.time for e in impacts])
    tree = cKDTree(np.c_[X, Y])
    drop = set()
    for k, near in zip(poor, tree.query_ball_point(np.c_[X[poor], Y[poor]], IMPACT_CROWD_RADIUS_M), strict=True):
        if any(j != k and abs(t[j] - t[k]) <= IMPACT_CROWD_WINDOW_S for j in near):
            drop.add(impacts[k].id)
    return _without(events, drop)


UNRESOLVED_CROWD = 0.75  # unexplained detections per member array within +- 10 s, beyond the array's rate
UNRESOLVED_MAX_P = 0.5  # ... and a fit no better than this chi-square p-value


def _acoustic_only_fit(e: Event) -> bool:
    """Only acoustic arrays speak for `e`, and its fit has a chi-square to test."""
    return bool(e.report_kinds) and set(e.report_kinds.values()) == {"acoustic"} and "chi2" in e.quality


def _fit_p(events: list[Event]) -> np.ndarray:
    """Chi-square tail probability of each acoustic event's fit (one vectorized call: a
    call per event cost a second on a day of 60,000 sources)."""
    c2 = np.array([float(e.quality.get("chi2", 0.0)) for e in events], float)
    dof = np.array([max(float(e.quality.get("dof", 0.0)), 0.5) for e in events], float)
    return chi2.sf(c2, dof)


def _without(events: list[Event], drop: set[str]) -> tuple[list[Event], int]:
    """`events` less those in `drop` (their mates lose the link), and how many went."""
    if not drop:
        return events, 0
    for e in events:
        if e.impact_event in drop:
            e.impact_event = None
        if e.launch_event in drop:
            e.launch_event = None
    return [e for e in events if e.id not in drop], len(drop)


def drop_unresolved_crowds(events: list[Event], limit: float = UNRESOLVED_CROWD,
                           max_p: float = UNRESOLVED_MAX_P) -> tuple[list[Event], int]:
    """`events` without the acoustic-only launches and impacts formed inside a crowd of
    arrivals the association could not untangle (`quality["unexplained_nearby"]` >= `limit`,
    see `acoustic_events.unexplained_crowding`) that fit their arrivals no better than
    chi-square p `max_p`: there the detections could be combined several ways, and a
    mediocre fit does not establish this one (a salvo's blended rounds). Their mates lose
    the link. Events a radar track confirms, and well-fitting rounds, stay."""
    crowded = [e for e in events if e.type in ("launch", "impact") and _acoustic_only_fit(e)
               and float(e.quality.get("unexplained_nearby", 0.0)) >= limit]
    return _without(events, {e.id for e, p in zip(crowded, _fit_p(crowded), strict=True) if p < max_p})


def drop_label_chance(events: list[Event], unexplained_labels) -> tuple[list[Event], int]:
    """`events` without the weak acoustic-only launches and impacts (at most
    `label_evidence.WEAK_MAX_ARRAYS` arrays) whose labels make a chance coincidence of false
    detections more likely than a source (`label_evidence`), and how many went. Nothing is
    dropped where the label model cannot be measured (too few strong events or unexplained
    detections)."""
    from . import label_evidence as le

    def votes(e: Event) -> list[int]:
        v = e.extra.get("label_votes", {})
        return [int(v.get("launch", 0)), int(v.get("impact", 0)), int(v.get("unknown", 0))]

    acoustic = [e for e in events if e.type in ("launch", "impact") and _acoustic_only_fit(e)]
    strong = [votes(e) for e in acoustic if e.n_arrays >= le.STRONG_MIN_ARRAYS]
    weak = [e for e in acoustic if e.n_arrays <= le.WEAK_MAX_ARRAYS]
    model = le.fit_label_model(np.array(strong, float).reshape(-1, 3), np.asarray(unexplained_labels, float))
    if model is None or not weak:
        return events, 0
    post = le.real_posterior(le.likelihood_ratio(np.array([votes(e) for e in weak], float), model))
    for e, p in zip(weak, post, strict=True):
        e.quality["label_p_real"] = round(float(p), 4)
    return _without(events, {e.id for e, p in zip(weak, post, strict=True) if p < le.MIN_POSTERIOR})


def _fmt(t: float) -> str:
    from truceline.formats import format_time

    return format_time(t)


def add_geography(events: list[Event], territory: Any) -> None:
    """`zone` (party whose territory holds the position, null outside all) and
    `distance_to_line_m` (geodesic distance to the line of contact), vectorized."""
    lon = np.array([e.lon for e in events])
    lat = np.array([e.lat for e in events])
    zones = territory.party_at(lon, lat)
    try:
        dist = territory.distance_to_line_m(lon, lat)
    except Exception:  # a territory without a line of contact (one party only)
        dist = np.full(len(events), np.nan)
    for e, z, d in zip(events, zones, dist, strict=True):
        e.zone = str(z) if z else None
        e.distance_to_line_m = float(d) if np.isfinite(d) else None


def apply_issue6(events: list[Event], territory: Any, profile: Any) -> None:
    """Attribution and rules (issue 6): `attribution.attribute` and `rules.check` fill
    `attribution`, `responsible` and `violations` in place. Without a territory nothing is
    attributed or checked (the defaults {}, None, [] stay)."""
    from .attribution import attribute
    from .events import event_to_feature
    from .rules import check

    if territory is None or not events:
        return
    # one Feature form shared by both (converting 70k events costs seconds); the rules see
    # the attribution just made, as they would on the events themselves
    features = [event_to_feature(e) for e in events]
    attribute(events, territory, profile, features=features)
    check(events, territory, profile, features=features)
