"""The analysis output record (`Event`) and its spec section 4 GeoJSON form.

An `Event` is a plain typed record: stages after the analysis (attribution, rules,
commission, reports) read it; they never need the fitting machinery. Attribution and
rules (issue 6) fill `attribution`, `responsible` and `violations` through
`truceline.analysis.pipeline.ATTRIBUTION_HOOK` (see `apply_attribution`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truceline.formats import format_time

CHI2_2DOF_95 = 5.991464547107979


@dataclass(slots=True)
class Event:
    """One fused physical happening.

    `cov_en_m2` is the 2x2 east/north position covariance (m^2) about (lon, lat); `time` is
    epoch seconds (for acoustic events the emission time) with 1-sigma `time_sigma_s`.
    `report_kinds` maps each member report id to its sensor kind; `sources` counts them.
    Launch/impact pairs link through `launch_event` / `impact_event` (event ids).
    """

    id: str
    type: str
    time: float
    lon: float
    lat: float
    cov_en_m2: np.ndarray
    reports: list[str]
    report_kinds: dict[str, str] = field(default_factory=dict)
    time_sigma_s: float | None = None
    n_arrays: int = 0
    object: str | None = None
    caliber_mm: float | None = None
    count: int | None = None
    projectile: str | None = None
    category: str | None = None
    launch_event: str | None = None
    impact_event: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    distance_to_line_m: float | None = None
    zone: str | None = None
    attribution: dict[str, float] = field(default_factory=dict)
    responsible: str | None = None
    violations: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> set[str]:
        """Sensor kinds of the member reports."""
        return set(self.report_kinds.values())

    def ellipse_95(self) -> dict[str, float]:
        """95 % error ellipse: semi-major/minor axes (m) and orientation of the major axis
        (degrees clockwise from north)."""
        return ellipse(self.cov_en_m2, CHI2_2DOF_95)


def ellipse(cov: np.ndarray, k2: float) -> dict[str, float]:
    """Axes (sqrt(k2 * eigenvalue), m) and major-axis azimuth of a 2x2 east/north covariance.

    Closed form for a symmetric 2x2 matrix (eigenvalues mean +- half-spread, major axis at
    half the angle of (a - c, 2b)): ~20x faster than `numpy.linalg.eigh` per call, which
    matters because every event is converted to a Feature several times. Equal to eigh to
    rounding (tested); a circle has azimuth 0, as eigh gives."""
    (a, b), (b2, c) = np.asarray(cov, float).tolist()
    b = 0.5 * (b + b2)
    half = 0.5 * (a - c)
    spread = math.hypot(half, b)
    mean = 0.5 * (a + c)
    major, minor = max(mean + spread, 0.0), max(mean - spread, 0.0)
    # major axis at angle phi from east (counter-clockwise); azimuth = 90 - phi (clockwise from north)
    az = 0.0 if spread == 0.0 else (90.0 - math.degrees(0.5 * math.atan2(b, half))) % 180.0
    return {"semi_major_m": math.sqrt(k2 * major), "semi_minor_m": math.sqrt(k2 * minor),
            "azimuth_deg": round(az, 2)}


def event_id(kind: str, report_ids: list[str]) -> str:
    """Deterministic id: hash of the event type and its sorted member report ids."""
    h = hashlib.sha256()
    h.update(kind.encode())
    for r in sorted(report_ids):
        h.update(b"\n")
        h.update(r.encode())
    return "ev-" + h.hexdigest()[:20]


def _r(x: float, nd: int) -> float:
    return float(round(float(x), nd))


def event_to_feature(e: Event) -> dict[str, Any]:
    cov = np.asarray(e.cov_en_m2, float)
    props: dict[str, Any] = {
        "id": e.id,
        "type": e.type,
        "time": format_time(e.time),
        "cov_en_m2": [[_r(cov[0, 0], 3), _r(cov[0, 1], 3)], [_r(cov[1, 0], 3), _r(cov[1, 1], 3)]],
        "attribution": dict(e.attribution),
        "responsible": e.responsible,
        "violations": list(e.violations),
        "reports": sorted(e.reports),
    }
    if e.launch_event:
        props["launch_event"] = e.launch_event
    if e.impact_event:
        props["impact_event"] = e.impact_event
    if e.object is not None:
        props["object"] = e.object
    if e.caliber_mm is not None:
        props["caliber_mm"] = e.caliber_mm
    if e.count is not None:
        props["count"] = e.count
    if e.projectile is not None:
        props["projectile"] = e.projectile
    if e.category is not None:
        props["category"] = e.category
    if e.distance_to_line_m is not None:
        props["distance_to_line_m"] = _r(e.distance_to_line_m, 1)
    if e.zone is not None:
        props["zone"] = e.zone
    if e.time_sigma_s is not None:
        props["time_sigma_s"] = _r(e.time_sigma_s, 4)
    if e.n_arrays:
        props["n_arrays"] = int(e.n_arrays)
    props["sources"] = {k: int(v) for k, v in sorted(_count(e.report_kinds.values()).items())}
    el = e.ellipse_95()
    props["ellipse_95"] = {k: _r(v, 2) for k, v in el.items()}
    if e.quality:
        props["quality"] = {k: (_r(v, 4) if isinstance(v, float) else v) for k, v in sorted(e.quality.items())}
    for k, v in sorted(e.extra.items()):
        props.setdefault(k, v)
    return {
        "type": "Feature",
        "id": e.id,
        "geometry": {"type": "Point", "coordinates": [_r(e.lon, 7), _r(e.lat, 7)]},
        "properties": props,
    }


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def events_to_geojson(events: list[Event]) -> dict[str, Any]:
    """Spec section 4 FeatureCollection, events ordered by time then id (deterministic)."""
    ordered = sorted(events, key=lambda e: (e.time, e.id))
    return {"type": "FeatureCollection", "features": [event_to_feature(e) for e in ordered]}
