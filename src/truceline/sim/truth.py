"""Ground truth: fire missions (launches and impacts), weapon objects, buffer-zone
presences, non-weapon explosions and fires. Pure NumPy columns, no sensing yet."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from truceline.sim.config import SimConfig
from truceline.sim.world import ProfileView, World, geodesic_forward

WEAPONS = ("mortar", "artillery", "mlrs")
W_MORTAR, W_ART, W_MLRS = range(3)
CALIBRES = {W_MORTAR: ([82, 120], [0.5, 0.5]), W_ART: ([122, 152, 155], [0.4, 0.45, 0.15]),
            W_MLRS: ([122, 220, 300], [0.7, 0.2, 0.1])}
DEPTH_KM = {W_MORTAR: (1.0, 6.0), W_ART: (5.0, 20.0), W_MLRS: (8.0, 30.0)}
RANGE_KM = {W_MORTAR: (1.0, 7.0), W_ART: (5.0, 25.0), W_MLRS: (10.0, 40.0)}
SPEED_MPS = {W_MORTAR: (150.0, 230.0), W_ART: (280.0, 480.0), W_MLRS: (450.0, 750.0)}
ROUNDS = {W_MORTAR: (3.0, 10, (6.0, 25.0)), W_ART: (2.0, 8, (10.0, 60.0)), W_MLRS: (5.0, 20, (0.6, 2.0))}
SPREAD = {W_MORTAR: (15.0, 0.010, 20.0), W_ART: (20.0, 0.008, 60.0), W_MLRS: (50.0, 0.015, 5.0)}
# (dispersion floor m, dispersion fraction of range, emplacement spread m)

OBJECTS = ("tank", "artillery", "mlrs", "mortar", "apc", "truck", "personnel", "air_defence")
OBJECT_P = (0.15, 0.2, 0.1, 0.1, 0.15, 0.15, 0.05, 0.1)
OBJECT_CAL = {"artillery": ([122, 152, 155], [0.4, 0.45, 0.15]), "mlrs": ([122, 220, 300], [0.7, 0.2, 0.1]),
              "mortar": ([82, 120], [0.5, 0.5])}


@dataclass
class Truth:
    t0: float
    t1: float
    launch: dict[str, np.ndarray]     # one row per round fired (impact i belongs to launch i)
    obj: dict[str, np.ndarray]        # weapon objects and buffer-zone presences
    other: dict[str, np.ndarray]      # non-weapon explosions (acoustic false alarms)
    fire: dict[str, np.ndarray]


def _poisson_times(rng: np.random.Generator, rate_per_h: float, t0: float, t1: float,
                   night_bias: float = 0.0) -> np.ndarray:
    n = rng.poisson(rate_per_h * (t1 - t0) / 3600.0 * (1.0 + night_bias))
    t = rng.uniform(t0, t1, n)
    if night_bias > 0 and n:
        h = (t / 3600.0 + 2.5) % 24.0  # local solar hour near 37.5 E
        keep = rng.random(n) < (1.0 + night_bias * np.cos(2 * np.pi * (h - 1.0) / 24.0)) / (1.0 + night_bias)
        t = t[keep]
    return np.sort(t)


def _sides(world: World, rng: np.random.Generator, n: int, share: dict[str, float] | None) -> np.ndarray:
    if not share:
        share = {p: 1.0 for p in world.parties}
    p = np.array([share.get(x, 0.0) for x in world.parties], float)
    return np.asarray(world.parties)[rng.choice(len(p), n, p=p / p.sum())]


def _behind(world: World, rng: np.random.Generator, sidx: np.ndarray, party: np.ndarray, depth_m: np.ndarray,
            skew: float = 20.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points `depth` behind the line sample on `party`'s side; retries closer; ok mask."""
    n = len(sidx)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    depth = depth_m.astype(float).copy()
    todo = np.arange(n)
    for _ in range(5):
        if not len(todo):
            break
        lo, la = world.offset(sidx[todo], party[todo], depth[todo], rng.uniform(-skew, skew, len(todo)))
        good = world.party_at(lo, la) == party[todo]
        lon[todo[good]], lat[todo[good]] = lo[good], la[good]
        todo = todo[~good]
        depth[todo] *= 0.7
    return lon, lat, np.isfinite(lon)


def generate_truth(world: World, prof: ProfileView, cfg: SimConfig, rng: np.random.Generator,
                   t0: float, hours: float, intensity: float, sensor_parts: list[int]) -> Truth:
    t1 = t0 + hours * 3600.0
    rate = intensity * line_scale(world, sensor_parts)
    return Truth(t0, t1, _launches(world, cfg, rng, t0, t1, rate, sensor_parts),
                 _objects(world, prof, cfg, rng, t0, t1, rate, sensor_parts),
                 _other(world, cfg, rng, t0, t1, rate, sensor_parts), {})


def line_scale(world: World, parts: list[int]) -> float:
    """Instrumented contact-line length in units of 1,000 km (event rates are per 1,000 km)."""
    return sum(world.part_lengths_km[p] for p in parts) / 1000.0


def _launches(world: World, cfg: SimConfig, rng: np.random.Generator, t0: float, t1: float,
              intensity: float, parts: list[int]) -> dict[str, np.ndarray]:
    tm = _poisson_times(rng, cfg.missions_per_hour * intensity, t0, t1, night_bias=0.5)
    m = len(tm)
    wp = np.array([cfg.weapon_share.get(w, 0.0) for w in WEAPONS], float)
    weapon = rng.choice(3, m, p=wp / wp.sum())
    party = _sides(world, rng, m, cfg.party_share)
    other = np.where(party == world.parties[0], world.parties[1], world.parties[0])
    cal = np.zeros(m)
    for w, (cals, p) in CALIBRES.items():
        sel = weapon == w
        cal[sel] = rng.choice(cals, sel.sum(), p=p)
    # Firing positions and aim points, redrawn until the position is the firer's and the
    # aim point the other party's.
    lon, lat = np.full(m, np.nan), np.full(m, np.nan)
    tlon, tlat, rng_m = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    depth = np.zeros(m)
    near_p = min(0.6, cfg.near_line_share / max(wp[W_MORTAR] / wp.sum(), 1e-6))
    todo = np.arange(m)
    for _ in range(12):
        if not len(todo):
            break
        k = len(todo)
        w = weapon[todo]
        sidx = world.sample_line(rng, k, parts)
        lo = np.array([DEPTH_KM[x][0] for x in w], float)
        hi = np.array([DEPTH_KM[x][1] for x in w], float)
        d = rng.uniform(lo, hi) * 1000.0
        near = (w == W_MORTAR) & (rng.random(k) < near_p)
        d[near] = rng.uniform(150.0, 500.0, near.sum())
        plon, plat, ok = _behind(world, rng, sidx, party[todo], d, skew=15.0)
        rmin = np.array([RANGE_KM[x][0] for x in w], float) * 1000.0
        rmax = np.array([RANGE_KM[x][1] for x in w], float) * 1000.0
        lo_r = np.maximum(rmin, d + 800.0)
        ok &= lo_r < rmax
        r = rng.uniform(np.minimum(lo_r, rmax), rmax)
        az = world.towards(sidx, other[todo]) + rng.normal(0, 25.0, k)
        ax, ay = geodesic_forward(np.nan_to_num(plon), np.nan_to_num(plat), az, r)
        ok &= world.party_at(ax, ay) == other[todo]
        g = todo[ok]
        lon[g], lat[g], tlon[g], tlat[g], rng_m[g], depth[g] = plon[ok], plat[ok], ax[ok], ay[ok], r[ok], d[ok]
        todo = todo[~ok]
    keep = np.isfinite(lon)
    tm, weapon, party, cal, lon, lat, tlon, tlat, rng_m = (
        a[keep] for a in (tm, weapon, party, cal, lon, lat, tlon, tlat, rng_m))
    m = len(tm)
    # Rounds of each mission.
    lam = np.array([ROUNDS[x][0] for x in weapon], float)
    cap = np.array([ROUNDS[x][1] for x in weapon], np.int64)
    n_r = np.minimum(1 + rng.poisson(lam), cap).astype(np.int64)
    mi = np.repeat(np.arange(m), n_r)
    first = np.cumsum(n_r) - n_r
    k_in = np.arange(len(mi)) - np.repeat(first, n_r)
    w = weapon[mi]
    ilo = np.array([ROUNDS[x][2][0] for x in w], float)
    ihi = np.array([ROUNDS[x][2][1] for x in w], float)
    gap = np.where(k_in == 0, 0.0, rng.uniform(ilo, ihi))
    cg = np.cumsum(gap)
    t_l = tm[mi] + cg - np.repeat(cg[first] if len(cg) else np.zeros(0), n_r)
    spread = np.array([SPREAD[x][2] for x in w], float)
    llon, llat = geodesic_forward(lon[mi], lat[mi], rng.uniform(0, 360, len(mi)), np.abs(rng.normal(0, spread)))
    # A gun stands in its own party's territory: a round whose emplacement scatter crossed
    # the line (mission positions near it) fires from the checked mission position instead.
    across = world.party_at(llon, llat) != party[mi]
    llon, llat = np.where(across, lon[mi], llon), np.where(across, lat[mi], llat)
    disp = np.array([SPREAD[x][0] for x in w], float) + np.array([SPREAD[x][1] for x in w], float) * rng_m[mi]
    ilon, ilat = geodesic_forward(tlon[mi], tlat[mi], rng.uniform(0, 360, len(mi)),
                                  disp * np.sqrt(rng.chisquare(2, len(mi))))
    from truceline.sim.world import geodesic_inverse

    _az, rr = geodesic_inverse(llon, llat, ilon, ilat)
    v = rng.uniform(np.array([SPEED_MPS[x][0] for x in weapon], float),
                    np.array([SPEED_MPS[x][1] for x in weapon], float))[mi]
    tof = np.maximum(rr / v * (1.0 + rng.normal(0, 0.02, len(mi))), 4.0)
    dist_l = world.distance_to_line_m(llon, llat)
    dist_i = world.distance_to_line_m(ilon, ilat)
    return {
        "mission": mi, "weapon": w, "caliber": cal[mi], "party": party[mi],
        "lon": llon, "lat": llat, "t": t_l, "dist_line": dist_l,
        "ilon": ilon, "ilat": ilat, "it": t_l + tof, "iparty": world.party_at(ilon, ilat),
        "idist_line": dist_i, "range": rr, "tof": tof,
    }


def _objects(world: World, prof: ProfileView, cfg: SimConfig, rng: np.random.Generator, t0: float,
             t1: float, intensity: float, parts: list[int]) -> dict[str, np.ndarray]:
    # weapon objects (present already at start, and appearing during the window)
    n = rng.poisson(cfg.objects_per_hour * intensity * ((t1 - t0) / 3600.0 + 12.0))
    on = rng.uniform(t0 - 12 * 3600.0, t1, n)
    off = on + rng.uniform(2.0, 24.0, n) * 3600.0
    live = off > t0
    on, off = on[live], off[live]
    n = len(on)
    cls = rng.choice(len(OBJECTS), n, p=OBJECT_P)
    names = np.asarray(OBJECTS)[cls]
    cal = np.zeros(n)
    for c, (cals, p) in OBJECT_CAL.items():
        sel = names == c
        cal[sel] = rng.choice(cals, sel.sum(), p=p)
    excl = np.array([prof.exclusion_distance_m(c, k if k else None) for c, k in zip(names, cal, strict=True)])
    inside = (excl > 0) & (rng.random(n) < cfg.object_inside_share)
    depth = np.where(excl > 0,
                     np.where(inside, rng.uniform(500.0, np.maximum(excl, 600.0)),
                              excl * 1.02 + rng.uniform(0.0, 25000.0, n)),
                     rng.uniform(500.0, 40000.0, n))
    party = _sides(world, rng, n, cfg.party_share)
    count = np.ones(n, int)
    grp = np.isin(names, ["tank", "apc", "truck", "artillery"])
    count[grp] += rng.binomial(3, 0.25, grp.sum())
    pers = names == "personnel"
    count[pers] = rng.integers(2, 13, pers.sum())
    buffer = np.zeros(n, bool)
    across = np.zeros(n, bool)
    # buffer-zone presences and crossings of the line
    nb = rng.poisson(cfg.buffer_per_hour * intensity * (t1 - t0) / 3600.0)
    bon = rng.uniform(t0, t1, nb)
    boff = bon + rng.uniform(0.5, 4.0, nb) * 3600.0
    bcls = rng.choice(["personnel", "truck", "apc", "tank"], nb, p=[0.4, 0.2, 0.25, 0.15])
    bparty = _sides(world, rng, nb, cfg.party_share)
    bacross = rng.random(nb) < 0.25
    bdepth = np.where(bacross, rng.uniform(50.0, 2000.0, nb),
                      rng.uniform(50.0, max(prof.buffer_zone_km, 0.2) * 1000.0, nb))
    bcount = np.where(bcls == "personnel", rng.integers(2, 13, nb), 1 + rng.binomial(2, 0.2, nb))
    on, off = np.concatenate([on, bon]), np.concatenate([off, boff])
    names = np.concatenate([names, bcls]).astype("U12")
    cal = np.concatenate([cal, np.zeros(nb)])
    party = np.concatenate([party, bparty])
    side = np.where(np.concatenate([across, bacross]), np.where(party == world.parties[0], world.parties[1],
                                                                world.parties[0]), party)
    depth = np.concatenate([depth, bdepth])
    count = np.concatenate([count, bcount])
    buffer = np.concatenate([buffer, np.ones(nb, bool)])
    across = np.concatenate([across, bacross])
    sidx = world.sample_line(rng, len(on), parts)
    lon, lat, ok = _behind(world, rng, sidx, side, depth, skew=30.0)
    sel = np.flatnonzero(ok)
    lon, lat = lon[sel], lat[sel]
    names, cal, party, on, off, count, buffer, across = (
        a[sel] for a in (names, cal, party, on, off, count, buffer, across))
    dist = world.distance_to_line_m(lon, lat)
    excl = np.array([prof.exclusion_distance_m(c, k if k else None) for c, k in zip(names, cal, strict=True)])
    return {"cls": names, "caliber": cal, "party": party, "lon": lon, "lat": lat, "on": on, "off": off,
            "count": count, "dist_line": dist, "excl": excl, "in_excl": (excl > 0) & (dist < excl),
            "buffer": buffer, "across": across, "stands_in": world.party_at(lon, lat)}


def _other(world: World, cfg: SimConfig, rng: np.random.Generator, t0: float, t1: float, intensity: float,
           parts: list[int]) -> dict[str, np.ndarray]:
    t = _poisson_times(rng, cfg.other_explosions_per_hour * intensity, t0, t1)
    n = len(t)
    sidx = world.sample_line(rng, n, parts)
    party = _sides(world, rng, n, None)
    lon, lat, ok = _behind(world, rng, sidx, party, rng.uniform(500.0, 25000.0, n))
    return {"t": t[ok], "lon": lon[ok], "lat": lat[ok], "s0": rng.uniform(38.0, 50.0, n)[ok],
            "kind": rng.choice(["demolition", "quarry_blast", "ammunition_fire", "gas_explosion"], n)[ok]}


def generate_fires(world: World, cfg: SimConfig, rng: np.random.Generator, tr: Truth, intensity: float,
                   parts: list[int]) -> None:
    """Fires: some impacts ignite, wildfires/field burning, and persistent industrial hot spots."""
    L = tr.launch
    p = np.array([0.02, 0.05, 0.10])[L["weapon"]]
    ign = np.flatnonzero(rng.random(len(p)) < p)
    n_w = rng.poisson(cfg.wildfires_per_day * intensity * line_scale(world, parts) * (tr.t1 - tr.t0) / 86400.0)
    sidx = world.sample_line(rng, n_w, parts)
    wparty = _sides(world, rng, n_w, None)
    wlon, wlat, wok = _behind(world, rng, sidx, wparty, rng.uniform(1000.0, 30000.0, n_w))
    n_i = cfg.industrial_hotspots
    # industrial sites are fixed by the territory, not the scenario: their own generator
    irng = np.random.default_rng(20260106)
    isidx = world.sample_line(irng, n_i, parts)
    iparty = np.asarray(world.parties)[irng.integers(0, 2, n_i)]
    ilon, ilat, iok = _behind(world, irng, isidx, iparty, irng.uniform(5000.0, 60000.0, n_i))
    cause = np.concatenate([np.full(len(ign), "impact"), np.full(wok.sum(), "wildfire"),
                            np.full(iok.sum(), "industrial")]).astype("U10")
    start = np.concatenate([L["it"][ign], rng.uniform(tr.t0, tr.t1, n_w)[wok], np.full(iok.sum(), tr.t0 - 86400.0)])
    dur = np.concatenate([np.exp(rng.normal(np.log(2.5 * 3600), 0.8, len(ign))),
                          np.exp(rng.normal(np.log(6 * 3600), 0.7, n_w))[wok], np.full(iok.sum(), 1e9)])
    frp = np.concatenate([np.exp(rng.normal(np.log(4.0), 1.0, len(ign))),
                          np.exp(rng.normal(np.log(8.0), 0.9, n_w))[wok], irng.uniform(5.0, 40.0, n_i)[iok]])
    tr.fire = {
        "cause": cause, "start": start, "end": start + dur, "frp": frp,
        "lon": np.concatenate([L["ilon"][ign], wlon[wok], ilon[iok]]),
        "lat": np.concatenate([L["ilat"][ign], wlat[wok], ilat[iok]]),
        "launch": np.concatenate([ign, np.full(wok.sum() + iok.sum(), -1)]),
    }

