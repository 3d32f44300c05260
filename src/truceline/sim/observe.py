"""Sensing physics: what each sensor reports about the ground truth (vectorized).

Each function returns a column table (dict of equal-length NumPy arrays) with the
common columns `sensor` (index into the network), `t` (the report's `time`), `tmade`
(when the sensor made the report: orders its `seq`), `lat_s` (transmission latency),
`src`/`sidx` (which truth row produced it) and kind-specific body columns.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from truceline.geo.local import GEOD
from truceline.sim.atmosphere import Atmosphere, speed_of_sound
from truceline.sim.config import SimConfig
from truceline.sim.network import K_AC, K_MON, K_RADAR, K_SAT, K_UAV, Network
from truceline.sim.truth import OBJECT_CAL, W_ART, W_MLRS, W_MORTAR, Truth
from truceline.sim.world import World, geodesic_forward, geodesic_inverse, unit_xyz

SRC_LAUNCH, SRC_IMPACT, SRC_OTHER, SRC_CLUTTER, SRC_RADAR, SRC_RADAR_FALSE = range(6)
SRC_OBJECT, SRC_UAV_FALSE, SRC_FIRE, SRC_NONE = range(6, 10)
ACOUSTIC_CLASS = ("launch", "impact", "unknown")

# Source level at 1 km (dB over the array's noise reference) of launches/impacts per weapon.
S0_LAUNCH = {W_MORTAR: 38.0, W_ART: 46.5, W_MLRS: 52.0}
S0_IMPACT = {W_MORTAR: 37.0, W_ART: 45.5, W_MLRS: 51.0}
ATTEN_DB_PER_KM = 0.8
SNR_SIGMA_DB = 3.0
MAX_ACOUSTIC_M = 45000.0


def _pairs(src_xyz: np.ndarray, dst_xyz: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """All (source, destination) index pairs within chord distance r (vectorized result)."""
    if len(src_xyz) == 0 or len(dst_xyz) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    tree = cKDTree(dst_xyz)
    lists = tree.query_ball_point(src_xyz, r)
    counts = np.fromiter((len(x) for x in lists), int, len(lists))
    i = np.repeat(np.arange(len(src_xyz)), counts)
    j = np.fromiter((k for x in lists for k in sorted(x)), int, counts.sum())
    return i, j


def _take(arr: np.ndarray, idx: np.ndarray, fill: float) -> np.ndarray:
    """arr[idx], tolerating an empty `arr` (then every value is `fill`)."""
    if len(arr) == 0:
        return np.full(len(idx), fill)
    return arr[np.clip(idx, 0, len(arr) - 1)]


def _latency(rng: np.random.Generator, n: int, lo: float, hi: float, late_share: float) -> np.ndarray:
    lat = lo + rng.exponential((hi - lo) / 3.0, n)
    late = rng.random(n) < late_share
    lat[late] += rng.uniform(60.0, 3600.0, late.sum())
    return lat


def acoustic(net: Network, tr: Truth, atm: Atmosphere, cfg: SimConfig, rng: np.random.Generator,
             intensity: float) -> dict[str, np.ndarray]:
    L, OB = tr.launch, tr.other
    ac = net.of_kind(K_AC)
    # sources: launches, impacts, non-weapon explosions
    s_lon = np.concatenate([L["lon"], L["ilon"], OB["lon"]])
    s_lat = np.concatenate([L["lat"], L["ilat"], OB["lat"]])
    s_t = np.concatenate([L["t"], L["it"], OB["t"]])
    s0 = np.concatenate([np.choose(L["weapon"], [S0_LAUNCH[k] for k in range(3)]),
                         np.choose(L["weapon"], [S0_IMPACT[k] for k in range(3)]), OB["s0"]])
    s_cls = np.concatenate([np.zeros(len(L["t"]), int), np.ones(len(L["t"]) + len(OB["t"]), int)])
    s_src = np.concatenate([np.full(len(L["t"]), SRC_LAUNCH), np.full(len(L["t"]), SRC_IMPACT),
                            np.full(len(OB["t"]), SRC_OTHER)])
    s_idx = np.concatenate([np.arange(len(L["t"])), np.arange(len(L["t"])), np.arange(len(OB["t"]))])
    s_xyz, a_xyz = unit_xyz(s_lon, s_lat), unit_xyz(net.lon[ac], net.lat[ac])
    grid = np.linspace(200.0, MAX_ACOUSTIC_M, 2000)
    loss = 20.0 * np.log10(grid / 1000.0) + ATTEN_DB_PER_KM * grid / 1000.0
    floor = float(np.nanmin(net.noise_floor_db[ac])) if len(ac) else 0.0
    reach = np.interp(s0 - floor + 5 * SNR_SIGMA_DB, loss, grid, right=MAX_ACOUSTIC_M)
    parts = []
    block = 20000  # sources per block: bounds the memory of the pair arrays
    for b0 in range(0, len(s_t), block):
        parts.append(_propagate(net, atm, cfg, rng, ac, s_xyz[b0:b0 + block], a_xyz, s_lon[b0:b0 + block],
                                s_lat[b0:b0 + block], s_t[b0:b0 + block], s0[b0:b0 + block],
                                reach[b0:b0 + block], b0))
    if parts:
        si, a, arr_az, snr, t_rep, out = (np.concatenate(x) for x in zip(*parts, strict=True))
    else:
        si = a = np.zeros(0, int)
        arr_az = snr = t_rep = np.zeros(0)
        out = np.zeros(0, bool)
    cls = s_cls[si].copy()
    src, sidx = s_src[si], s_idx[si]
    # local clutter (wind noise, vehicles, other impulsive sounds at the array)
    nc = rng.poisson(cfg.acoustic_clutter_per_array_hour * intensity * (tr.t1 - tr.t0) / 3600.0, len(ac))
    ca = np.repeat(ac, nc)
    ct = rng.uniform(tr.t0, tr.t1, len(ca))
    c_ws, _ = atm.wind_speed_from(net.lon[ca], net.lat[ca], ct)
    a = np.concatenate([a, ca])
    t_rep = np.concatenate([t_rep, ct])
    snr = np.concatenate([snr, net.noise_floor_db[ca] + 0.4 * c_ws + rng.exponential(2.5, len(ca))])
    arr_az = np.concatenate([arr_az, rng.uniform(0, 360, len(ca))])
    cls = np.concatenate([cls, rng.choice(3, len(ca), p=[0.15, 0.15, 0.7])])
    src = np.concatenate([src, np.full(len(ca), SRC_CLUTTER)])
    sidx = np.concatenate([sidx, np.arange(len(ca))])
    out = np.concatenate([out, np.zeros(len(ca), bool)])
    # onsets closer than merge_s at one array are one detection (the first)
    order = np.lexsort((t_rep, a))
    a, t_rep, snr, arr_az, cls, src, sidx, out = (x[order] for x in (a, t_rep, snr, arr_az, cls, src, sidx, out))
    keep = np.ones(len(a), bool)
    keep[1:] = ~((a[1:] == a[:-1]) & (np.diff(t_rep) < cfg.acoustic_merge_s))
    a, t_rep, snr, arr_az, cls, src, sidx, out = (x[keep] for x in (a, t_rep, snr, arr_az, cls, src, sidx, out))
    n = len(a)
    # the array's waveform classifier errs, more at low SNR
    true_cls = cls.copy()
    is_ev = src != SRC_CLUTTER
    p_err = cfg.label_error_rate * (1.0 + np.clip((15.0 - snr) / 10.0, 0.0, 2.0))
    err = is_ev & (rng.random(n) < p_err)
    cls[err] = np.where(rng.random(err.sum()) < 0.6, 2, 1 - true_cls[err])
    # azimuth (when the array measures it), temperature and wind (when it reports them)
    az_s = net.az_sigma[a]
    az = np.mod(arr_az + rng.normal(0, np.nan_to_num(az_s)) +
                np.where(out, rng.choice([-1, 1], n) * rng.uniform(10, 40, n), 0.0), 360.0)
    az = np.where(np.isfinite(az_s), np.round(az, 2) % 360.0, np.nan)
    temp = np.where(net.has_temp[a], np.round(atm.temperature_c(net.lon[a], net.lat[a], t_rep)
                                              + rng.normal(0, cfg.temp_sigma_c, n), 1), np.nan)
    wsp, wfr = atm.wind_speed_from(net.lon[a], net.lat[a], t_rep)
    hw = net.has_wind[a]
    wsp = np.where(hw, np.round(np.maximum(wsp + rng.normal(0, cfg.wind_sigma_mps, n), 0.0), 1), np.nan)
    wfr = np.where(hw, np.round(np.mod(wfr + rng.normal(0, cfg.wind_sigma_deg, n), 360.0), 1) % 360.0, np.nan)
    return {"sensor": a, "t": t_rep, "tmade": t_rep, "lat_s": _latency(rng, n, 0.3, 1.0, cfg.late_share),
            "src": src, "sidx": sidx, "cls": cls, "az": az, "temp": temp, "wsp": wsp, "wfr": wfr,
            "snr": np.round(snr, 1), "outlier": out, "true_cls": true_cls}


def _propagate(net: Network, atm: Atmosphere, cfg: SimConfig, rng: np.random.Generator, ac: np.ndarray,
               s_xyz, a_xyz, s_lon, s_lat, s_t, s0, reach, offset: int):
    """Detections of one block of sources by all arrays: (source, array, azimuth to source,
    measured SNR, reported arrival time, outlier flag)."""
    si, aj = _pairs(s_xyz, a_xyz, MAX_ACOUSTIC_M)
    # drop pairs beyond any chance of detection (SNR 5 sigma above the quietest array's floor)
    chord = np.linalg.norm(s_xyz[si] - a_xyz[aj], axis=1)
    near = chord <= reach[si] * 1.01
    si, aj = si[near], aj[near]
    a = ac[aj]
    _fwd, back, dist = GEOD.inv(s_lon[si], s_lat[si], net.lon[a], net.lat[a])
    dist = np.asarray(dist)
    arr_az = np.mod(np.asarray(back), 360.0)            # azimuth from array towards the source
    prop_az = np.mod(arr_az + 180.0, 360.0)             # direction of travel at the array
    snr_true = s0[si] - 20.0 * np.log10(np.maximum(dist, 200.0) / 1000.0) - ATTEN_DB_PER_KM * dist / 1000.0
    snr = snr_true + rng.normal(0, SNR_SIGMA_DB, len(si))
    t_guess = s_t[si] + dist / speed_of_sound(atm.temperature_c(net.lon[a], net.lat[a], s_t[si]))
    ws, _wf = atm.wind_speed_from(net.lon[a], net.lat[a], t_guess)
    det = snr > net.noise_floor_db[a] + 0.4 * ws
    si, a, dist, arr_az, prop_az, snr, t_guess = (x[det] for x in (si, a, dist, arr_az, prop_az, snr, t_guess))
    ceff = atm.effective_speed(net.lon[a], net.lat[a], t_guess, prop_az)
    t_arr = s_t[si] + dist / ceff
    noise = rng.normal(0, net.timing_sigma[a])
    out = rng.random(len(si)) < cfg.acoustic_outlier_rate
    noise[out] += rng.choice([-1, 1], out.sum()) * rng.uniform(0.2, 2.0, out.sum())
    return si + offset, a, arr_az, snr, t_arr + noise, out


def _radar_errors(rng, rlon, rlat, plon, plat, floor_r, floor_c, frac_r, frac_c):
    """Draw a position error with range error < cross-range error along the radar's line of
    sight; returns reported lon, lat and the honest covariance [[ee, en], [en, nn]]."""
    th, rr = geodesic_inverse(rlon, rlat, plon, plat)
    th = np.radians(th)
    sr = floor_r + frac_r * rr
    sc = floor_c + frac_c * rr
    re, rn = np.sin(th), np.cos(th)
    ce, cn = np.cos(th), -np.sin(th)
    z1, z2 = rng.normal(0, 1, len(rr)), rng.normal(0, 1, len(rr))
    de, dn = re * sr * z1 + ce * sc * z2, rn * sr * z1 + cn * sc * z2
    ee = sr**2 * re * re + sc**2 * ce * ce
    nn = sr**2 * rn * rn + sc**2 * cn * cn
    en = sr**2 * re * rn + sc**2 * ce * cn
    lo, la = geodesic_forward(plon, plat, np.degrees(np.arctan2(de, dn)), np.hypot(de, dn))
    return lo, la, ee, en, nn


RADAR_MAX_KM = {W_MORTAR: 20.0, W_ART: 30.0, W_MLRS: 40.0}
PROJECTILE = {W_MORTAR: 0, W_ART: 1, W_MLRS: 2}  # mortar, shell, rocket


def radar(net: Network, tr: Truth, cfg: SimConfig, rng: np.random.Generator,
          intensity: float) -> dict[str, np.ndarray]:
    L = tr.launch
    rd = net.of_kind(K_RADAR)
    li, rj = _pairs(unit_xyz(L["lon"], L["lat"]), unit_xyz(net.lon[rd], net.lat[rd]), 47000.0)
    r = rd[rj]
    az_l, d_l = geodesic_inverse(net.lon[r], net.lat[r], L["lon"][li], L["lat"][li])
    az_i, d_i = geodesic_inverse(net.lon[r], net.lat[r], L["ilon"][li], L["ilat"][li])
    rmax = np.choose(L["weapon"][li], [RADAR_MAX_KM[k] for k in range(3)]) * 1000.0 * net.range_factor[r]
    half = cfg.radar_sector_deg / 2.0

    def in_sector(az):
        return np.abs((az - net.facing_deg[r] + 180.0) % 360.0 - 180.0) <= half

    cand = (d_l <= rmax) & (d_i <= 1.2 * rmax) & (in_sector(az_l) | in_sector(az_i))
    p = 0.75 * (1.0 - np.clip(d_l / rmax, 0, 1) ** 3)
    hit = cand & (rng.random(len(li)) < p)
    li, r = li[hit], r[hit]
    n = len(li)
    llo, lla, lee, len_, lnn = _radar_errors(rng, net.lon[r], net.lat[r], L["lon"][li], L["lat"][li],
                                             10.0, 15.0, 0.0015, 0.004)
    ilo, ila, iee, ien, inn = _radar_errors(rng, net.lon[r], net.lat[r], L["ilon"][li], L["ilat"][li],
                                            15.0, 20.0, 0.002, 0.005)
    proj = np.choose(L["weapon"][li], [PROJECTILE[k] for k in range(3)])
    conf = rng.random(n) < 0.03
    proj[conf] = np.where(proj[conf] == 1, rng.choice([0, 2], conf.sum()), 1)
    lt = L["t"][li] + rng.normal(0, 0.05, n)
    it = L["it"][li] + rng.normal(0, 0.08, n)
    src = np.full(n, SRC_RADAR)
    sidx = li
    # false tracks (birds, weather, clutter): plausible-looking but nothing was fired
    nf = rng.poisson(cfg.radar_false_tracks_per_radar_hour * intensity * (tr.t1 - tr.t0) / 3600.0, len(rd))
    fr = np.repeat(rd, nf)
    k = len(fr)
    if k:
        fl_lon, fl_lat = geodesic_forward(net.lon[fr], net.lat[fr], net.facing_deg[fr] + rng.uniform(-half, half, k),
                                          rng.uniform(3000.0, 25000.0, k))
        fi_lon, fi_lat = geodesic_forward(fl_lon, fl_lat, rng.uniform(0, 360, k), rng.uniform(1000.0, 10000.0, k))
        a1 = _radar_errors(rng, net.lon[fr], net.lat[fr], fl_lon, fl_lat, 10.0, 15.0, 0.0015, 0.004)
        a2 = _radar_errors(rng, net.lon[fr], net.lat[fr], fi_lon, fi_lat, 15.0, 20.0, 0.002, 0.005)
        ft = rng.uniform(tr.t0, tr.t1, k)
        llo, lla, lee, len_, lnn = (np.concatenate([x, y]) for x, y in zip((llo, lla, lee, len_, lnn), a1, strict=True))
        ilo, ila, iee, ien, inn = (np.concatenate([x, y]) for x, y in zip((ilo, ila, iee, ien, inn), a2, strict=True))
        proj = np.concatenate([proj, rng.integers(0, 3, k)])
        lt = np.concatenate([lt, ft])
        it = np.concatenate([it, ft + rng.uniform(8.0, 60.0, k)])
        r = np.concatenate([r, fr])
        src = np.concatenate([src, np.full(k, SRC_RADAR_FALSE)])
        sidx = np.concatenate([sidx, np.arange(k)])
    m = len(r)
    return {"sensor": r, "t": lt, "tmade": it + 1.0, "lat_s": _latency(rng, m, 2.0, 10.0, cfg.late_share),
            "src": src, "sidx": sidx, "llon": llo, "llat": lla, "lee": lee, "len": len_, "lnn": lnn,
            "ilon": ilo, "ilat": ila, "iee": iee, "ien": ien, "inn": inn, "lt": lt, "it": it, "proj": proj}


UAV_CLASSES = ("tank", "artillery", "mlrs", "mortar", "apc", "truck", "personnel", "air_defence", "unknown")
CONFUSE = {"tank": ["apc"], "apc": ["tank", "truck"], "truck": ["apc"], "artillery": ["mlrs", "mortar"],
           "mlrs": ["artillery", "truck"], "mortar": ["artillery"], "personnel": ["unknown"],
           "air_defence": ["truck", "mlrs"]}


def uav(world: World, net: Network, tr: Truth, cfg: SimConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    OB = tr.obj
    # where each object is along the line (nearest 250 m line sample)
    tree = cKDTree(unit_xyz(world.s_lon, world.s_lat))
    _d, near = tree.query(unit_xyz(OB["lon"], OB["lat"]))
    o_part, o_km = world.s_part[near], world.s_km[near]
    o_y = np.where(OB["stands_in"] == world.parties[0], 1.0, -1.0) * OB["dist_line"] / 1000.0  # signed depth km
    cols: dict[str, list] = {k: [] for k in ("sensor", "t", "src", "sidx", "olon", "olat", "cls", "true")}
    for u in net.of_kind(K_UAV):
        part, k0, k1 = net.sector[u]
        insec = np.flatnonzero((o_part == part) & (o_km >= k0) & (o_km < k1) & (OB["dist_line"] <= cfg.uav_depth_km * 1e3))
        t = tr.t0 - rng.uniform(0, 3 * 3600.0)
        while t < tr.t1:
            dur = rng.uniform(1.0, 2.5) * 3600.0
            f0, f1 = max(t, tr.t0), min(t + dur, tr.t1)
            if f1 > f0:
                live = insec[(OB["on"][insec] < f1) & (OB["off"][insec] > f0)]
                ts, obj, path = _sweep(rng, cfg, k0, k1, f0, f1, o_km[live], o_y[live], OB["on"][live],
                                       OB["off"][live], OB["cls"][live] == "personnel")
                obj = live[obj]
                cols["sensor"].append(np.full(len(obj), u))
                cols["t"].append(ts)
                cols["src"].append(np.full(len(obj), SRC_OBJECT))
                cols["sidx"].append(obj)
                cols["olon"].append(OB["lon"][obj])
                cols["olat"].append(OB["lat"][obj])
                cols["true"].append(OB["cls"][obj])
                # false sightings: decoys, civilian vehicles taken for military ones
                nf = rng.poisson(cfg.uav_false_per_flight)
                if nf:  # somewhere under the flight path
                    at = rng.integers(0, len(path[0]), nf)
                    px = path[0][at]
                    py = path[1][at] + rng.uniform(-cfg.uav_swath_km / 2, cfg.uav_swath_km / 2, nf)
                    sel = np.flatnonzero((world.s_part == part) & world.s_ok)
                    sidx = sel[np.clip(np.searchsorted(world.s_km[sel], px), 0, len(sel) - 1)]
                    side = np.where(py >= 0, world.parties[0], world.parties[1])
                    flo, fla = world.offset(sidx, side, np.maximum(np.abs(py), 0.2) * 1000.0)
                    cols["sensor"].append(np.full(nf, u))
                    cols["t"].append(path[2][at])
                    cols["src"].append(np.full(nf, SRC_UAV_FALSE))
                    cols["sidx"].append(np.zeros(nf, int))  # renumbered below
                    cols["olon"].append(flo)
                    cols["olat"].append(fla)
                    cols["true"].append(np.full(nf, "none"))
            t += dur + rng.uniform(0.5, 2.5) * 3600.0
    c = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items() if k != "cls"}
    n = len(c["t"])
    c["sensor"] = c["sensor"].astype(int)
    c["src"] = c["src"].astype(int)
    c["sidx"] = c["sidx"].astype(int)
    fa = c["src"] == SRC_UAV_FALSE
    c["sidx"][fa] = np.arange(fa.sum())
    true = c["true"].astype("U12") if n else np.zeros(0, "U12")
    cep = np.round(net.cep_m[c["sensor"]] * rng.uniform(0.8, 1.25, n), 1)
    sig = cep / 1.1774
    lo, la = geodesic_forward(c["olon"], c["olat"], rng.uniform(0, 360, n), sig * np.sqrt(rng.chisquare(2, n)))
    rep = true.copy()
    rep[fa] = rng.choice(["tank", "artillery", "mlrs", "truck", "unknown"], fa.sum())
    mis = ~fa & (rng.random(n) < cfg.uav_misclass_rate)
    for i in np.flatnonzero(mis):
        rep[i] = "unknown" if rng.random() < 0.3 else CONFUSE[true[i]][rng.integers(len(CONFUSE[true[i]]))]
    obj_idx = np.where(fa, 0, c["sidx"])
    cal = np.zeros(n)
    tcal = np.where(fa, 0.0, _take(tr.obj["caliber"], obj_idx, 0.0))
    for cname, (cals, p) in OBJECT_CAL.items():
        sel = rep == cname
        same = sel & (true == cname)
        cal[sel] = rng.choice(cals, sel.sum(), p=p)
        cal[same] = tcal[same]
        wrong = same & (rng.random(n) < 0.05)
        cal[wrong] = rng.choice(cals, wrong.sum(), p=p)
    count = np.where(fa, 1, _take(tr.obj["count"], obj_idx, 1)).astype(int)
    cerr = rng.random(n) < 0.15
    count = np.maximum(count + cerr * rng.choice([-1, 1], n), 1)
    conf = np.where(mis | fa, rng.beta(4, 4, n), rng.beta(8, 2, n))
    media = rng.integers(0, 2**63, (n, 4), dtype=np.int64)
    return {"sensor": c["sensor"], "t": c["t"], "tmade": c["t"], "lat_s": _latency(rng, n, 10.0, 300.0, cfg.late_share),
            "src": c["src"], "sidx": c["sidx"], "lon": lo, "lat": la, "cep": cep,
            "obj": np.array([UAV_CLASSES.index(x) for x in rep], int), "cal": cal, "count": count,
            "conf": np.round(conf, 2), "media": media}


def _sweep(rng: np.random.Generator, cfg: SimConfig, k0: float, k1: float, f0: float, f1: float,
           ox: np.ndarray, oy: np.ndarray, on: np.ndarray, off: np.ndarray, personnel: np.ndarray):
    """One drone flight over its sector, in (km along the line, signed km from it) coordinates.

    The drone flies straight legs between random waypoints (depth ~ exponential, mostly
    near the line) at 80-120 km/h; an object present under the footprint (`uav_swath_km`
    wide) when the drone passes is detected with p = 0.8 (personnel 0.5); a detected
    object gets 0-3 follow-up looks within the hour. Returns sighting times, object
    indices and the sampled path (x, y, t) for false sightings."""
    v = rng.uniform(80.0, 120.0) / 3600.0  # km/s
    xs, ys, ts = [rng.uniform(k0, k1)], [0.0], [f0]
    while ts[-1] < f1:
        x = rng.uniform(k0, k1)
        y = rng.choice([-1.0, 1.0]) * min(rng.exponential(cfg.uav_depth_scale_km), cfg.uav_depth_km)
        ts.append(ts[-1] + max(np.hypot(x - xs[-1], y - ys[-1]), 0.1) / v)
        xs.append(x)
        ys.append(y)
    X, Y, T = np.asarray(xs), np.asarray(ys), np.asarray(ts)
    # closest approach of every leg to every object
    dx, dy = np.diff(X)[:, None], np.diff(Y)[:, None]
    L2 = np.maximum(dx * dx + dy * dy, 1e-9)
    u = np.clip(((ox[None, :] - X[:-1, None]) * dx + (oy[None, :] - Y[:-1, None]) * dy) / L2, 0.0, 1.0)
    d = np.hypot(X[:-1, None] + u * dx - ox[None, :], Y[:-1, None] + u * dy - oy[None, :])
    t = T[:-1, None] + u * np.diff(T)[:, None]
    p = np.where(personnel, 0.5, 0.8)[None, :]
    hit = (d <= cfg.uav_swath_km / 2) & (t >= on[None, :]) & (t < off[None, :]) & (t < f1)
    hit &= rng.random(hit.shape) < p
    leg, obj = np.nonzero(hit)
    t_hit = t[leg, obj]
    extra = np.minimum(rng.poisson(0.7, len(obj)), 3)
    o2 = np.repeat(obj, extra)
    t2 = np.repeat(t_hit, extra) + rng.uniform(120.0, 2400.0, len(o2))
    ok = (t2 < f1) & (t2 < off[o2])
    s = np.linspace(0.0, 1.0, 50)
    path = (np.interp(s * (T[-1] - T[0]) + T[0], T, X), np.interp(s * (T[-1] - T[0]) + T[0], T, Y),
            np.minimum(s * (T[-1] - T[0]) + T[0], f1 - 1.0))
    return np.concatenate([t_hit, t2[ok]]), np.concatenate([obj, o2[ok]]), path


SAT_OFFSET_H = {"viirs-snpp": 0.0, "viirs-noaa20": -0.83, "viirs-noaa21": 0.83}


def satellite(net: Network, tr: Truth, cfg: SimConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    F = tr.fire
    sats = net.of_kind(K_SAT)
    day0 = np.floor(tr.t0 / 86400.0) * 86400.0 - 86400.0
    passes_t, passes_s = [], []
    for s in sats:
        off = SAT_OFFSET_H.get(net.ids[s], rng.uniform(-1.5, 1.5))
        for d in np.arange(day0, tr.t1 + 86400.0, 86400.0):
            for h in (11.0, 23.0):
                t = d + (h + off + rng.normal(0, 0.4)) * 3600.0
                if tr.t0 <= t < tr.t1:
                    passes_t.append(t)
                    passes_s.append(s)
    cols: dict[str, list] = {k: [] for k in ("sensor", "t", "sidx", "lon", "lat", "radius", "frp")}
    for t, s in zip(passes_t, passes_s, strict=True):
        burning = np.flatnonzero((F["start"] <= t) & (F["end"] > t))
        clear = 1.0 - rng.uniform(0.0, 0.7)
        p = (1.0 - np.exp(-F["frp"][burning] / 2.0)) * clear
        seen = burning[rng.random(len(burning)) < p]
        npx = np.minimum(1 + rng.poisson(F["frp"][seen] / 15.0), 4)
        f = np.repeat(seen, npx)
        k = len(f)
        cx, cy = geodesic_forward(F["lon"][f], F["lat"][f], rng.uniform(0, 360, k),
                                  np.where(np.repeat(npx, npx) > 1, np.abs(rng.normal(0, 300.0, k)), 0.0))
        radius = np.round(187.5 * rng.uniform(1.0, 2.1, k), 1)
        sig = radius / np.sqrt(2.0)
        lo, la = geodesic_forward(cx, cy, rng.uniform(0, 360, k), sig * np.sqrt(rng.chisquare(2, k)))
        cols["sensor"].append(np.full(k, s))
        cols["t"].append(t + rng.uniform(0, 90.0, k))
        cols["sidx"].append(f)
        cols["lon"].append(lo)
        cols["lat"].append(la)
        cols["radius"].append(radius)
        cols["frp"].append(F["frp"][f] / np.repeat(npx, npx) * np.exp(rng.normal(0, 0.3, k)))
    c = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
    n = len(c["t"])
    frp = np.maximum(np.round(c["frp"], 1), 0.1)
    conf = np.where(frp > 8, 2, np.where(frp > 1.5, 1, 0))
    shuffle = rng.random(n) < 0.1
    conf[shuffle] = rng.integers(0, 3, shuffle.sum())
    return {"sensor": c["sensor"].astype(int), "t": c["t"], "tmade": c["t"],
            "lat_s": _latency(rng, n, 1800.0, 10800.0, 0.0), "src": np.full(n, SRC_FIRE),
            "sidx": c["sidx"].astype(int), "lon": c["lon"], "lat": c["lat"], "radius": c["radius"],
            "frp": frp, "conf": conf}


MON_CATEGORIES = ("impact_crater", "equipment_observed", "shelling_heard", "access_denied", "patrol_completed")
_DIRS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


def monitor(world: World, net: Network, tr: Truth, cfg: SimConfig, rng: np.random.Generator,
            parts: list[int]) -> dict[str, np.ndarray]:
    L, OB = tr.launch, tr.obj
    teams = net.of_kind(K_MON)
    sidx = world.sample_line(rng, len(teams), parts)
    side = np.asarray(world.parties)[rng.integers(0, 2, len(teams))]
    hlon, hlat = world.offset(sidx, side, rng.uniform(3000.0, 8000.0, len(teams)))
    rows: dict[str, list] = {k: [] for k in ("sensor", "t", "src", "sidx", "lon", "lat", "cat", "text")}
    for j, s in enumerate(teams):
        n = rng.poisson(cfg.monitor_reports_per_team_day * (tr.t1 - tr.t0) / 86400.0)
        for t in np.sort(rng.uniform(tr.t0, tr.t1, n)):
            cat = rng.choice(len(MON_CATEGORIES), p=[0.4, 0.2, 0.2, 0.05, 0.15])
            _az, dimp = geodesic_inverse(hlon[j], hlat[j], L["ilon"], L["ilat"])
            src, idx, lo, la, text = SRC_NONE, 0, float(hlon[j]), float(hlat[j]), ""
            if cat == 0:
                cand = np.flatnonzero((dimp < 30e3) & (L["it"] < t - 1800.0))
                if len(cand):
                    idx = int(cand[rng.integers(len(cand))])
                    src = SRC_IMPACT
                    lo, la = geodesic_forward(L["ilon"][idx], L["ilat"][idx], rng.uniform(0, 360), rng.uniform(0, 15))
                    text = f"Patrol {net.ids[s]} recorded an impact crater at this location."
                else:
                    cat = 4
            elif cat == 1:
                _a, dob = geodesic_inverse(hlon[j], hlat[j], OB["lon"], OB["lat"])
                cand = np.flatnonzero((dob < 30e3) & (OB["on"] < t) & (OB["off"] > t))
                if len(cand):
                    idx = int(cand[rng.integers(len(cand))])
                    src = SRC_OBJECT
                    lo, la = geodesic_forward(OB["lon"][idx], OB["lat"][idx], rng.uniform(0, 360), rng.uniform(5, 60))
                    text = f"Patrol {net.ids[s]} observed {int(OB['count'][idx])} x {OB['cls'][idx]} at this location."
                else:
                    cat = 4
            elif cat == 2:
                cand = np.flatnonzero((dimp < 20e3) & (L["it"] < t) & (L["it"] > t - 3600.0))
                if len(cand):
                    az, _d = geodesic_inverse(hlon[j], hlat[j], L["ilon"][cand[0]], L["ilat"][cand[0]])
                    text = (f"Patrol {net.ids[s]} heard about {len(cand)} explosions to the "
                            f"{_DIRS[int(((float(az) + 22.5) % 360) // 45)]} during the last hour.")
                    src, idx = SRC_IMPACT, int(cand[0])
                else:
                    cat = 4
            if cat == 3:
                text = f"Patrol {net.ids[s]} was denied access at a checkpoint."
            if cat == 4:
                text = f"Patrol {net.ids[s]} completed its route; nothing to report."
            rows["sensor"].append(s)
            rows["t"].append(t)
            rows["src"].append(src)
            rows["sidx"].append(idx)
            rows["lon"].append(float(lo))
            rows["lat"].append(float(la))
            rows["cat"].append(MON_CATEGORIES[cat])
            rows["text"].append(text)
    n = len(rows["t"])
    t = np.asarray(rows["t"], float)
    return {"sensor": np.asarray(rows["sensor"], int), "t": t, "tmade": t,
            "lat_s": _latency(rng, n, 600.0, 14400.0, 0.0), "src": np.asarray(rows["src"], int),
            "sidx": np.asarray(rows["sidx"], int), "lon": np.asarray(rows["lon"], float),
            "lat": np.asarray(rows["lat"], float), "cat": np.asarray(rows["cat"], dtype=object),
            "text": np.asarray(rows["text"], dtype=object)}


SENSE_KINDS = (K_AC, K_RADAR, K_UAV, K_SAT, K_MON)
