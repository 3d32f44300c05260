"""The simulator's view of the world: territory, line of contact, agreement profile, geodesy.

The simulator codes against `truceline.geo` / `truceline.profile`; this module is the one
place that knows about them. It reduces them to the few vectorized queries the simulator
needs (parties, contact-line parts resampled every 250 m, `party_at`,
`distance_to_line_m`, offsets perpendicular to the line) and the profile to its
exclusion table, buffer width and ceasefire start (with Minsk-II-like defaults only if no
profile can be loaded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from truceline.errors import InputError
from truceline.geo.local import geodesic_forward, geodesic_inverse

__all__ = ["World", "ProfileView", "geodesic_forward", "geodesic_inverse", "load_world"]

EARTH_R = 6_371_008.8


def unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points on a sphere of the Earth's mean radius (metres), for KD-tree neighbour search."""
    lo = np.radians(np.asarray(lon, float))
    la = np.radians(np.asarray(lat, float))
    c = np.cos(la)
    return np.column_stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)]) * EARTH_R


# --------------------------------------------------------------------------------------
# agreement profile


@dataclass
class ProfileView:
    """What the simulator needs from the agreement profile (`truceline.profile`)."""

    parties: tuple[str, ...]
    ceasefire_start: float  # epoch seconds
    buffer_zone_km: float
    source: str
    _profile: Any = field(default=None, repr=False)

    def exclusion_distance_m(self, object_class: str, caliber_mm: float | None) -> float:
        """Withdrawal distance from the line for a weapon (0 when the class has none)."""
        value = self._profile.exclusion_distance_m(object_class, caliber_mm)
        return float(value) if value else 0.0


def load_profile_view(path: str | Path | None) -> ProfileView:
    """Load the agreement profile (the shipped default when `path` is None)."""
    from truceline.profile import load_profile

    prof = load_profile(path)
    return ProfileView(
        parties=tuple(prof.parties),
        ceasefire_start=float(prof.ceasefire_start_s),
        buffer_zone_km=float(prof.buffer_zone_km),
        source=str(path) if path is not None else "default profile",
        _profile=prof,
    )


# --------------------------------------------------------------------------------------
# territory


class World:
    """Territory + line of contact, reduced to vectorized queries the simulator uses.

    `parts` are the contact-line parts as (N, 2) lon/lat arrays, main part first.
    The line is resampled every `step_m` metres into `samples` (part, km, lon, lat,
    bearing, left_party) so that positions "d metres behind the line on party P's
    side" can be drawn in bulk.
    """

    def __init__(self, territory: Any, parts: list[np.ndarray], parties: tuple[str, ...], source: str) -> None:
        self.territory = territory
        self.parts = parts
        self.parties = parties
        self.source = source
        self._resample()

    # -- queries ----------------------------------------------------------------------
    def party_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Party code at each point ('' outside every polygon), as a NumPy str array."""
        lon = np.asarray(lon, float)
        res = np.asarray(self.territory.party_at(lon, np.asarray(lat, float)), dtype=object)
        res[np.equal(res, None)] = ""
        return res.astype("U8").reshape(lon.shape)

    def distance_to_line_m(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return np.asarray(self.territory.distance_to_line_m(np.asarray(lon, float), np.asarray(lat, float)),
                          dtype=float)

    # -- line sampling ----------------------------------------------------------------
    def _resample(self, step_m: float = 250.0) -> None:
        parts, kms, lons, lats, brg = [], [], [], [], []
        self.part_lengths_km = []
        for i, xy in enumerate(self.parts):
            az, seg = geodesic_inverse(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            total = float(cum[-1])
            self.part_lengths_km.append(total / 1000.0)
            if total < 2 * step_m:
                continue
            s = np.arange(0.0, total, step_m)
            k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
            f = np.where(seg[k] > 0, (s - cum[k]) / np.where(seg[k] > 0, seg[k], 1.0), 0.0)
            lons.append(xy[k, 0] + f * (xy[k + 1, 0] - xy[k, 0]))
            lats.append(xy[k, 1] + f * (xy[k + 1, 1] - xy[k, 1]))
            brg.append(az[k])
            kms.append(s / 1000.0)
            parts.append(np.full(len(s), i))
        self.s_part = np.concatenate(parts)
        self.s_km = np.concatenate(kms)
        self.s_lon = np.concatenate(lons)
        self.s_lat = np.concatenate(lats)
        self.s_brg = np.concatenate(brg)
        # Which party lies to the left of the line's direction at each sample.
        llon, llat = geodesic_forward(self.s_lon, self.s_lat, self.s_brg - 90.0, 600.0)
        rlon, rlat = geodesic_forward(self.s_lon, self.s_lat, self.s_brg + 90.0, 600.0)
        lp = self.party_at(llon, llat)
        rp = self.party_at(rlon, rlat)
        a, b = self.parties[0], self.parties[1]
        left = np.full(len(lp), "", dtype="U8")
        left[(lp == a) | (rp == b)] = a
        left[(lp == b) | (rp == a)] = b
        self.s_left = left
        self.s_ok = left != ""

    def other(self, party: str) -> str:
        return self.parties[1] if party == self.parties[0] else self.parties[0]

    def sample_line(self, rng: np.random.Generator, n: int, parts: list[int] | None = None) -> np.ndarray:
        """Indices of `n` line samples drawn uniformly by length (optionally on some parts)."""
        ok = self.s_ok.copy()
        if parts is not None:
            ok &= np.isin(self.s_part, parts)
        idx = np.flatnonzero(ok)
        return idx[rng.integers(0, len(idx), n)]

    def offset(self, sidx: np.ndarray, party: np.ndarray, dist_m: np.ndarray,
               skew_deg: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Points `dist_m` from line sample `sidx`, perpendicular, towards `party`'s side."""
        left = self.s_left[sidx] == np.asarray(party)
        az = self.s_brg[sidx] + np.where(left, -90.0, 90.0) + skew_deg
        return geodesic_forward(self.s_lon[sidx], self.s_lat[sidx], az, dist_m)

    def towards(self, sidx: np.ndarray, party: np.ndarray) -> np.ndarray:
        """Azimuth of the perpendicular from line sample `sidx` into `party`'s side."""
        left = self.s_left[sidx] == np.asarray(party)
        return np.mod(self.s_brg[sidx] + np.where(left, -90.0, 90.0), 360.0)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "parties": list(self.parties),
            "contact_line_parts_km": [round(x, 3) for x in self.part_lengths_km],
        }


def _parts_from_territory(t: Any) -> list[np.ndarray]:
    cl = t.contact_line
    out = []
    for part in cl.parts:
        coords = np.asarray(getattr(part, "coords", part), dtype=float)
        if coords.ndim == 2 and len(coords) >= 2:
            out.append(coords[:, :2])
    return out


def load_world(path: str | Path | None) -> World:
    """Load a territory through `truceline.geo` (default: its shipped snapshot)."""
    from truceline.geo import default_territory_path, load_territory

    path = Path(path) if path is not None else default_territory_path()
    if not path.exists():
        raise InputError(f"{path}: territory file not found")
    t = load_territory(path)
    parties = tuple(t.parties)
    if len(parties) != 2:
        raise InputError(f"{path}: the simulator needs exactly two parties, found {parties}")
    parts = _parts_from_territory(t)
    if not parts:
        raise InputError(f"{path}: the territory has no line of contact between {parties[0]} and {parties[1]}")
    return World(t, parts, parties, str(path))


def month_of(epoch: float) -> int:
    return datetime.fromtimestamp(epoch, tz=UTC).month

