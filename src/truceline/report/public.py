"""What the public may see of an event, and what analysts see.

Public rules (issue 8): no sensor positions, ids or keys, no raw report contents and no
report ids; positions snapped to the centre of a grid cell of `public_position_grid_m`;
uncertainty only as a rounded circular radius, because the orientation of an error
ellipse points at the sensors that measured it. Public event ids are a hash of the
analysis id (`E` + 10 hex digits of SHA-256), so anyone holding the analysis id can match
them, but an id that embeds a report or sensor id does not leak it.

Both views are plain dicts (JSON-ready) built vectorized from an `EventTable`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from truceline.formats import format_time
from truceline.report.events import CHI2_95_2D, EventTable

EARTH_M_PER_DEG = 111_320.0
PUBLIC_DECIMALS = 3  # ~100 m: finer than any sensible public grid, coarser than a sensor position


def public_event_id(event_id: str) -> str:
    return "E" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:10]


def coarsen_positions(lon: np.ndarray, lat: np.ndarray, grid_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the `grid_m` cells (equal-distance rows of latitude) holding each point."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    if grid_m <= 0:
        return np.round(lon, PUBLIC_DECIMALS), np.round(lat, PUBLIC_DECIMALS)
    dlat = grid_m / EARTH_M_PER_DEG
    row = np.floor(lat / dlat)
    lat_c = (row + 0.5) * dlat
    dlon = grid_m / (EARTH_M_PER_DEG * np.maximum(np.cos(np.radians(lat_c)), 1e-6))
    lon_c = (np.floor(lon / dlon) + 0.5) * dlon
    return np.round(lon_c, PUBLIC_DECIMALS), np.round(lat_c, PUBLIC_DECIMALS)


def round_radius_up(r: np.ndarray) -> np.ndarray:
    """Round radii up to 100 m (below 5 km), 500 m (below 20 km), else 1 km."""
    r = np.asarray(r, float)
    step = np.where(r < 5000, 100.0, np.where(r < 20000, 500.0, 1000.0))
    return np.ceil(np.maximum(r, 1.0) / step) * step


def public_radius_m(table: EventTable, grid_m: float) -> np.ndarray:
    """95 % circular radius covering the error ellipse plus the coarsening, rounded up."""
    r95 = math.sqrt(CHI2_95_2D) * table.sigma_max_m()
    return round_radius_up(r95 + max(grid_m, 0.0) * math.sqrt(2) / 2)


def _round_attr(att: dict[str, Any]) -> dict[str, float]:
    return {str(k): round(float(v), 3) for k, v in sorted(att.items())}


def public_rows(
    table: EventTable,
    grid_m: float,
    sectors: np.ndarray | None = None,
    distance_m: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Public view of each event (JSON-ready dicts)."""
    lon_c, lat_c = coarsen_positions(table.lon, table.lat, grid_m)
    radius = public_radius_m(table, grid_m)
    dist_step = max(grid_m, 100.0)
    rows = []
    for i, f in enumerate(table.features):
        p = f["properties"]
        row: dict[str, Any] = {
            "id": public_event_id(p["id"]),
            "type": p["type"],
            "time": format_time(round(table.time[i])),
            "lon": float(lon_c[i]),
            "lat": float(lat_c[i]),
            "radius_m": float(radius[i]),
            "attribution": _round_attr(p.get("attribution") or {}),
            "responsible": p.get("responsible"),
            "violations": list(table.violations[i]),
        }
        if p.get("object"):
            row["object"] = str(p["object"])
        if sectors is not None:
            row["sector"] = str(sectors[i])
        if distance_m is not None:
            row["distance_to_line_m"] = float(round(distance_m[i] / dist_step) * dist_step)
        rows.append(row)
    return rows


def restricted_rows(
    table: EventTable,
    sectors: np.ndarray | None = None,
    distance_m: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Full analyst view: exact position, ellipse, report ids and links."""
    major, minor, az = table.ellipse95()
    rows = []
    for i, f in enumerate(table.features):
        p = f["properties"]
        row: dict[str, Any] = {
            "id": p["id"],
            "public_id": public_event_id(p["id"]),
            "type": p["type"],
            "time": p["time"],
            "lon": float(table.lon[i]),
            "lat": float(table.lat[i]),
            "cov_en_m2": p["cov_en_m2"],
            "ellipse95": {
                "major_m": float(major[i]),
                "minor_m": float(minor[i]),
                "azimuth_deg": float(az[i]),
            },
            "attribution": dict(p.get("attribution") or {}),
            "responsible": p.get("responsible"),
            "violations": list(table.violations[i]),
            "reports": [str(r) for r in p.get("reports") or []],
        }
        for key in ("object", "zone", "impact_event", "launch_event", "distance_to_line_m", "confidence",
                    "violations_to_confirm"):
            if key in p:
                row[key] = p[key]
        if sectors is not None:
            row["sector"] = str(sectors[i])
        if distance_m is not None and "distance_to_line_m" not in row:
            row["distance_to_line_m"] = float(distance_m[i])
        rows.append(row)
    return rows
