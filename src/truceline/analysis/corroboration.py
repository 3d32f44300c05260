"""Corroboration of single-sensor launches by the silence of the acoustic network.

A weapon-locating radar also produces false tracks. A real gun or rocket launch a few
kilometres from several ground arrays is loud: they would have heard it, and the launch
would then carry acoustic detections too. A radar-only launch that several arrays
surround yet none heard is contradicted by them, so it must not accuse anyone on the
radar's word alone. Launches far from any array (radar-only because nothing could
hear them) are unaffected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from truceline.geo.local import geodesic_inverse

SILENCE_RADIUS_M = 10_000.0
MIN_SILENT_ARRAYS = 3
_EARTH_R = 6_371_008.8


def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def silent_array_counts(lon: np.ndarray, lat: np.ndarray, arrays_lon: np.ndarray, arrays_lat: np.ndarray,
                        radius_m: float = SILENCE_RADIUS_M) -> np.ndarray:
    """Number of arrays within `radius_m` (geodesic) of each point (vectorized)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if len(lon) == 0 or len(arrays_lon) == 0:
        return np.zeros(len(lon), dtype=int)
    tree = cKDTree(_unit_xyz(np.asarray(arrays_lon, float), np.asarray(arrays_lat, float)))
    chord = 2.0 * np.sin(radius_m * 1.01 / (2.0 * _EARTH_R))  # sphere pre-filter, 1 % margin
    hits = tree.query_ball_point(_unit_xyz(lon, lat), chord)
    counts = np.zeros(len(lon), dtype=int)
    rows = np.repeat(np.arange(len(lon)), [len(h) for h in hits])
    if len(rows):
        cols = np.concatenate([np.asarray(h, dtype=int) for h in hits if h])
        _, dist = geodesic_inverse(lon[rows], lat[rows], np.asarray(arrays_lon)[cols], np.asarray(arrays_lat)[cols])
        np.add.at(counts, rows[dist <= radius_m], 1)
    return counts


def mark_uncorroborated(events: list[Any], registry: dict[str, Any]) -> None:
    """Set `quality["silent_arrays"]` and `quality["uncorroborated"]` on radar-only launches
    that at least `MIN_SILENT_ARRAYS` acoustic arrays within `SILENCE_RADIUS_M` did not hear."""
    def field(s: Any, name: str) -> Any:  # registry entries: `ingest.Sensor` or spec dicts
        return s.get(name) if isinstance(s, dict) else getattr(s, name, None)

    arrays = [(float(field(s, "lon")), float(field(s, "lat"))) for s in registry.values()
              if field(s, "kind") == "acoustic" and field(s, "lat") is not None and field(s, "lon") is not None]
    targets = [e for e in events if e.type == "launch" and e.report_kinds and set(e.report_kinds.values()) == {"radar"}]
    if not arrays or not targets:
        return
    counts = silent_array_counts(np.array([e.lon for e in targets]), np.array([e.lat for e in targets]),
                                 np.array([a[0] for a in arrays]), np.array([a[1] for a in arrays]))
    for e, n in zip(targets, counts, strict=True):
        e.quality["silent_arrays"] = int(n)
        if n >= MIN_SILENT_ARRAYS:
            e.quality["uncorroborated"] = True
