"""Plausible synthetic events and sensors along a real line, for tests, benchmarks, previews.

Not a simulator (that is `truceline.sim`): this writes spec section 4 events directly,
so the report and the dashboard can be exercised on any territory and any volume
(50,000 events a day for the load benchmark) without running the pipeline. Monitor
reports are placed exactly at their monitor's position and report ids embed sensor ids,
which makes the public-edition leak test meaningful.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely

from truceline.formats import format_time
from truceline.report.context import MapContext, class_exclusion_m

TYPES = ("launch", "impact", "weapon_sighting", "thermal", "monitor_report")
TYPE_P = (0.34, 0.34, 0.14, 0.1, 0.08)
OBJECTS = ("tank", "artillery", "mlrs", "mortar", "apc", "truck", "personnel", "air_defence")


def _points_near_line(ctx: MapContext, rng: np.random.Generator, n: int, spread_m: float):
    parts = [g for g, _ in ctx._sector_parts]
    lengths = np.array([g.length for g in parts])
    which = rng.choice(len(parts), size=n, p=lengths / lengths.sum())
    along = rng.random(n) * lengths[which]
    xs = np.empty(n)
    ys = np.empty(n)
    for k in np.unique(which):
        sel = which == k
        pts = shapely.line_interpolate_point(parts[k], along[sel])
        xs[sel] = shapely.get_x(pts)
        ys[sel] = shapely.get_y(pts)
    ang = rng.random(n) * 2 * np.pi
    r = np.abs(rng.normal(0, spread_m, n))
    return ctx.to_lonlat(xs + r * np.cos(ang), ys + r * np.sin(ang))


def _party_at(ctx: MapContext, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    out = np.full(len(lon), "", dtype=object)
    for p in ctx.parties:
        inside = shapely.contains_xy(ctx.polygons[p], lon, lat)
        out[inside & (out == "")] = p
    return out


def synthetic_sensors(ctx: MapContext, n: int = 40, seed: int = 1) -> list[dict[str, Any]]:
    """Sensor registry entries (spec section 1) with positions near the line."""
    rng = np.random.default_rng(seed)
    lon, lat = _points_near_line(ctx, rng, n, 12_000.0)
    kinds = rng.choice(["acoustic", "radar", "monitor"], size=n, p=[0.6, 0.15, 0.25])
    out = []
    for i in range(n):
        key = base64.b64encode(rng.bytes(32)).decode()
        prefix = {"acoustic": "ac", "radar": "rd", "monitor": "mn"}[str(kinds[i])]
        out.append(
            {
                "id": f"{prefix}-{i:03d}",
                "kind": str(kinds[i]),
                "public_key": key,
                "lat": round(float(lat[i]), 7),
                "lon": round(float(lon[i]), 7),
                "alt": 0.0,
                "operator": "monitoring-mission",
            }
        )
    return out


def synthetic_events(
    ctx: MapContext,
    day: str,
    n_per_day: int = 200,
    days: int = 1,
    seed: int = 7,
    sensors: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Event features (spec section 4) over `days` days ending with `day` (YYYY-MM-DD)."""
    rng = np.random.default_rng(seed)
    end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
    start = end - timedelta(days=days)
    counts = rng.poisson(n_per_day, size=days)
    n = int(counts.sum())
    t0 = start.timestamp() + np.repeat(np.arange(days) * 86400.0, counts) + rng.random(n) * 86400.0
    lon, lat = _points_near_line(ctx, rng, n, 8_000.0)
    party = _party_at(ctx, lon, lat)
    types = rng.choice(TYPES, size=n, p=TYPE_P)
    sensors = sensors or []
    monitors = [s for s in sensors if s["kind"] == "monitor"]
    others = [s for s in sensors if s["kind"] != "monitor"] or [{"id": "ac-x"}]
    dist = ctx.distance_to_line_m(lon, lat)
    doubt_rng = np.random.default_rng(seed + 10_007)  # its own stream: the draws above stay as they were
    feats = []
    for i in range(n):
        typ = str(types[i])
        sig_major = float(rng.uniform(40, 900))
        sig_minor = sig_major * float(rng.uniform(0.15, 1.0))
        th = float(rng.uniform(0, np.pi))
        c, s = np.cos(th), np.sin(th)
        rot = np.array([[c, -s], [s, c]])
        cov = rot @ np.diag([sig_major**2, sig_minor**2]) @ rot.T
        x, y = float(lon[i]), float(lat[i])
        props: dict[str, Any] = {}
        rep_sensors = [others[int(k)]["id"] for k in rng.integers(0, len(others), size=int(rng.integers(1, 5)))]
        if typ == "monitor_report" and monitors:
            m = monitors[int(rng.integers(0, len(monitors)))]
            x, y = m["lon"], m["lat"]
            rep_sensors = [m["id"]]
            cov = np.diag([25.0, 25.0])
        owner = str(party[i]) or None
        p_own = float(rng.beta(12, 1)) if owner else 0.0
        parties = list(ctx.parties)
        attribution = {}
        if owner:
            attribution[owner] = round(p_own, 4)
            rest = [p for p in parties if p != owner]
            if rest:
                attribution[rest[0]] = round((1 - p_own) * 0.8, 4)
        responsible = owner if owner and p_own >= ctx.settings.attribution_threshold else None
        violations: list[str] = []
        if typ in ("launch", "impact") and rng.random() < 0.7:
            violations.append("ceasefire_fire")
        if typ == "weapon_sighting":
            obj = str(rng.choice(OBJECTS))
            props["object"] = obj
            lim = class_exclusion_m(ctx.settings, obj)
            doubtful = doubt_rng.random() < 0.25  # a look the drone was unsure of (a decoy?)
            props["confidence"] = round(float(doubt_rng.uniform(0.3, 0.79) if doubtful else doubt_rng.uniform(0.8, 1.0)), 2)
            if lim is not None and dist[i] < lim:
                if doubtful:
                    props["violations_to_confirm"] = ["heavy_weapon_in_exclusion_zone"]
                else:
                    violations.append("heavy_weapon_in_exclusion_zone")
        props.update(
            {
                "id": f"ev-{day}-{seed}-{i:06d}",
                "type": typ,
                "time": format_time(round(float(t0[i]), 3)),
                "cov_en_m2": [[round(float(cov[0, 0]), 1), round(float(cov[0, 1]), 1)],
                              [round(float(cov[1, 0]), 1), round(float(cov[1, 1]), 1)]],
                "attribution": attribution,
                "responsible": responsible if (violations or typ != "monitor_report") else None,
                "violations": violations,
                "reports": [f"{sid}-r{i:06d}-{k}" for k, sid in enumerate(rep_sensors)],
                "distance_to_line_m": round(float(dist[i]), 1),
            }
        )
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": props})
    return feats


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}
