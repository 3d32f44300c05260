"""Monitoring-network layout along the line of contact, and the sensor registry.

Acoustic arrays on both sides every few km, weapon-locating radars every ~50 km per
side, one drone per sector of the line, the VIIRS satellites and a few monitor teams.
Each sensor's characteristics (the ones the spec registry carries, plus the
simulator's hidden ones such as detection thresholds) live in NumPy columns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truceline.formats import b64encode
from truceline.sim.config import SimConfig
from truceline.sim.world import World

KINDS = ("acoustic", "radar", "uav", "satellite", "monitor")
K_AC, K_RADAR, K_UAV, K_SAT, K_MON = range(5)


def derive_key_bytes(seed: int, sensor_id: str) -> bytes:
    """Deterministic 32-byte Ed25519 seed for a sensor (same scenario seed -> same keys)."""
    return hashlib.sha256(f"truceline-sim/v1/{seed}/{sensor_id}".encode()).digest()


@dataclass
class Network:
    ids: list[str]
    kind: np.ndarray            # int8 index into KINDS
    party: np.ndarray           # side the sensor stands on ('' for mobile)
    lon: np.ndarray
    lat: np.ndarray
    operator: list[str]
    # acoustic
    timing_sigma: np.ndarray
    az_sigma: np.ndarray        # NaN: array reports no azimuth
    has_wind: np.ndarray
    has_temp: np.ndarray
    noise_floor_db: np.ndarray
    # radar
    facing_deg: np.ndarray
    range_factor: np.ndarray
    # uav
    cep_m: np.ndarray
    sector: list[Any] = field(default_factory=list)   # per sensor: (part, km0, km1) or None
    seq0: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    key_seeds: list[bytes] = field(default_factory=list)

    def of_kind(self, k: int) -> np.ndarray:
        return np.flatnonzero(self.kind == k)

    def registry(self, cfg: SimConfig) -> list[dict[str, Any]]:
        """`sensors.json` entries (spec section 1) plus optional descriptive fields."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        out = []
        for i, sid in enumerate(self.ids):
            pub = Ed25519PrivateKey.from_private_bytes(self.key_seeds[i]).public_key().public_bytes(
                Encoding.Raw, PublicFormat.Raw)
            k = int(self.kind[i])
            d: dict[str, Any] = {"id": sid, "kind": KINDS[k], "public_key": b64encode(pub)}
            if k in (K_AC, K_RADAR):
                d.update(lat=round(float(self.lat[i]), 7), lon=round(float(self.lon[i]), 7), alt=0.0)
            if k == K_AC:
                d["timing_sigma_s"] = round(float(self.timing_sigma[i]), 4)
                if np.isfinite(self.az_sigma[i]):
                    d["azimuth_sigma_deg"] = round(float(self.az_sigma[i]), 2)
                if self.has_wind[i]:
                    d["wind_sigma_mps"] = cfg.wind_sigma_mps
                    d["wind_sigma_deg"] = cfg.wind_sigma_deg
            d["operator"] = self.operator[i]
            out.append(d)
        return out


def _along(rng: np.random.Generator, length_km: float, spacing: tuple[float, float]) -> np.ndarray:
    n = int(length_km / min(spacing)) + 2
    steps = rng.uniform(spacing[0], spacing[1], n)
    pos = rng.uniform(0, spacing[0]) + np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    return pos[pos < length_km]


def _place(world: World, rng: np.random.Generator, part: int, km: np.ndarray, party: str,
           depth_km: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed sites `depth` km behind the line on `party`'s side; drops sites that fall elsewhere."""
    sel = np.flatnonzero(world.s_part == part)
    sidx = sel[np.clip(np.searchsorted(world.s_km[sel], km), 0, len(sel) - 1)]
    sidx = sidx[world.s_ok[sidx]]
    depth = rng.uniform(depth_km[0], depth_km[1], len(sidx)) * 1000.0
    lon = np.full(len(sidx), np.nan)
    lat = np.full(len(sidx), np.nan)
    todo = np.arange(len(sidx))
    for _ in range(4):  # retry closer to the line where a bend puts the site elsewhere
        if len(todo) == 0:
            break
        lo, la = world.offset(sidx[todo], party, depth[todo])
        good = world.party_at(lo, la) == party
        lon[todo[good]], lat[todo[good]] = lo[good], la[good]
        todo = todo[~good]
        depth[todo] *= 0.6
    ok = np.isfinite(lon)
    return lon[ok], lat[ok], sidx[ok]


def build_network(world: World, cfg: SimConfig, rng: np.random.Generator, seed: int) -> Network:
    cols: dict[str, list] = {k: [] for k in (
        "ids", "kind", "party", "lon", "lat", "operator", "timing_sigma", "az_sigma", "has_wind",
        "has_temp", "noise_floor_db", "facing_deg", "range_factor", "cep_m", "sector")}

    def add(n: int, **kw: Any) -> None:
        defaults = {"party": "", "lon": np.nan, "lat": np.nan, "operator": "monitoring-mission",
                    "timing_sigma": np.nan, "az_sigma": np.nan, "has_wind": False, "has_temp": False,
                    "noise_floor_db": np.nan, "facing_deg": np.nan, "range_factor": np.nan,
                    "cep_m": np.nan, "sector": None}
        for key in cols:
            if key in ("ids", "kind"):
                continue
            v = kw.get(key, defaults[key])
            cols[key].extend(list(v) if isinstance(v, np.ndarray | list) else [v] * n)
        cols["ids"].extend(kw["ids"])
        cols["kind"].extend([kw["kind"]] * n)

    parts = [i for i, L in enumerate(world.part_lengths_km) if cfg.min_part_km <= L]
    # acoustic arrays
    n_ac = 0
    for part in parts:
        for party in world.parties:
            km = _along(rng, world.part_lengths_km[part], cfg.acoustic_spacing_km)
            lon, lat, _ = _place(world, rng, part, km, party, cfg.acoustic_depth_km)
            n = len(lon)
            has_az = rng.random(n) < cfg.acoustic_azimuth_share
            wind = rng.random(n) < cfg.acoustic_wind_share
            temp = ~wind & (rng.random(n) < cfg.acoustic_temp_share / (1 - cfg.acoustic_wind_share))
            add(n, ids=[f"ac-{n_ac + j + 1:04d}" for j in range(n)], kind=K_AC, party=[party] * n,
                lon=lon, lat=lat,
                timing_sigma=np.round(rng.uniform(*cfg.acoustic_timing_sigma_s, n), 4),
                az_sigma=np.where(has_az, np.round(rng.uniform(*cfg.acoustic_azimuth_sigma_deg, n), 2), np.nan),
                has_wind=wind, has_temp=temp, noise_floor_db=8.0 + rng.normal(0, 1.5, n))
            n_ac += n
    # weapon-locating radars (operated by the parties' liaison officers, both sides tracked)
    n_r = 0
    for part in parts:
        L = world.part_lengths_km[part]
        if L < 15.0:
            continue
        for party in world.parties:
            km = _along(rng, L, (cfg.radar_spacing_km * 0.8, cfg.radar_spacing_km * 1.2))
            if len(km) == 0:
                km = np.array([L / 2])
            lon, lat, sidx = _place(world, rng, part, km, party, cfg.radar_depth_km)
            n = len(lon)
            facing = world.towards(sidx, np.array([world.other(party)] * n))
            add(n, ids=[f"wlr-{n_r + j + 1:03d}" for j in range(n)], kind=K_RADAR, party=[party] * n,
                lon=lon, lat=lat, operator=[f"{party}-liaison"] * n, facing_deg=facing,
                range_factor=rng.uniform(0.85, 1.15, n))
            n_r += n
    # drones: one per sector of the line (both sides, up to uav_depth_km deep)
    n_u = 0
    for part in parts:
        L = world.part_lengths_km[part]
        k = max(1, int(round(L / cfg.uav_sector_km)))
        edges = np.linspace(0.0, L, k + 1)
        for j in range(k):
            add(1, ids=[f"uav-{n_u + 1:03d}"], kind=K_UAV, cep_m=[round(float(rng.uniform(*cfg.uav_cep_m)), 1)],
                sector=[(part, float(edges[j]), float(edges[j + 1]))])
            n_u += 1
    add(len(cfg.satellites), ids=list(cfg.satellites), kind=K_SAT, operator="thermal-feed")
    add(cfg.monitor_teams, ids=[f"mon-team-{j + 1}" for j in range(cfg.monitor_teams)], kind=K_MON)

    net = Network(
        ids=cols["ids"], kind=np.asarray(cols["kind"], np.int8), party=np.asarray(cols["party"], "U8"),
        lon=np.asarray(cols["lon"], float), lat=np.asarray(cols["lat"], float), operator=cols["operator"],
        timing_sigma=np.asarray(cols["timing_sigma"], float), az_sigma=np.asarray(cols["az_sigma"], float),
        has_wind=np.asarray(cols["has_wind"], bool), has_temp=np.asarray(cols["has_temp"], bool),
        noise_floor_db=np.asarray(cols["noise_floor_db"], float), facing_deg=np.asarray(cols["facing_deg"], float),
        range_factor=np.asarray(cols["range_factor"], float), cep_m=np.asarray(cols["cep_m"], float),
        sector=cols["sector"])
    net.seq0 = rng.integers(0, 5000, len(net.ids)).astype(np.int64)
    net.key_seeds = [derive_key_bytes(seed, s) for s in net.ids]
    return net
