"""Reading events (spec section 4) into a column table the report and dashboard query.

The input is the analysis output `events.geojson` (or a list of GeoJSON feature dicts).
`EventTable` holds the columns as NumPy arrays so that filtering and aggregating 50,000
events is a handful of vectorized operations, and keeps the original property dicts for
detail views.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from truceline.errors import InputError
from truceline.formats import parse_time

REQUIRED = ("id", "type", "time", "cov_en_m2", "attribution", "responsible", "violations", "reports")
CHI2_95_2D = 5.991464547107979  # 95 % quantile of chi-square with 2 degrees of freedom


def load_event_features(path: str | Path) -> list[dict[str, Any]]:
    """Features of an `events.geojson` file, checked against spec section 4."""
    path = Path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read events: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InputError(f"{path}: events must be a GeoJSON FeatureCollection")
    feats = data.get("features")
    if not isinstance(feats, list):
        raise InputError(f"{path}: 'features' must be a list")
    validate_features(feats, source=str(path))
    return feats


def validate_features(features: Sequence[dict[str, Any]], source: str = "events") -> None:
    """Raise `InputError` naming the feature and field when one breaks spec section 4."""
    seen: set[str] = set()
    for i, f in enumerate(features):
        where = f"{source}: feature {i}"
        if not isinstance(f, dict):
            raise InputError(f"{where}: not an object")
        geom = f.get("geometry") or {}
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if geom.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
            raise InputError(f"{where}: geometry must be a Point")
        lon, lat = coords[0], coords[1]
        if not all(isinstance(v, int | float) for v in (lon, lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"{where}: geometry coordinates out of range")
        props = f.get("properties")
        if not isinstance(props, dict):
            raise InputError(f"{where}: missing properties")
        for key in REQUIRED:
            if key not in props:
                raise InputError(f"{where}: missing property '{key}'")
        eid = props["id"]
        if not isinstance(eid, str) or not eid:
            raise InputError(f"{where}: property 'id' must be a non-empty string")
        if eid in seen:
            raise InputError(f"{where}: duplicate event id {eid!r}")
        seen.add(eid)
        try:
            parse_time(props["time"])
        except ValueError as exc:
            raise InputError(f"{where}: property 'time': {exc}") from None
        cov = props["cov_en_m2"]
        if (
            not isinstance(cov, list)
            or len(cov) != 2
            or not all(isinstance(r, list) and len(r) == 2 for r in cov)
            or not all(isinstance(v, int | float) and math.isfinite(v) for r in cov for v in r)
        ):
            raise InputError(f"{where}: property 'cov_en_m2' must be a 2x2 matrix of numbers")
        if not isinstance(props["attribution"], dict):
            raise InputError(f"{where}: property 'attribution' must be an object")
        if not isinstance(props["violations"], list) or not isinstance(props["reports"], list):
            raise InputError(f"{where}: properties 'violations' and 'reports' must be lists")


@dataclass
class EventTable:
    """Columns of a set of events (one row per event) plus the original features."""

    features: list[dict[str, Any]]
    ids: np.ndarray  # object
    type: np.ndarray  # object
    time: np.ndarray  # float64 epoch seconds
    lon: np.ndarray
    lat: np.ndarray
    cov: np.ndarray  # (n, 2, 2)
    responsible: np.ndarray  # object, "" when undetermined
    p_max: np.ndarray  # highest attribution probability
    violations: list[list[str]]
    n_violations: np.ndarray  # int

    @classmethod
    def from_features(cls, features: Iterable[dict[str, Any]]) -> EventTable:
        feats = list(features)
        n = len(feats)
        ids = np.empty(n, dtype=object)
        typ = np.empty(n, dtype=object)
        resp = np.empty(n, dtype=object)
        t = np.empty(n)
        lon = np.empty(n)
        lat = np.empty(n)
        cov = np.empty((n, 2, 2))
        pmax = np.zeros(n)
        viol: list[list[str]] = []
        nviol = np.zeros(n, dtype=np.int32)
        for i, f in enumerate(feats):
            p = f["properties"]
            c = f["geometry"]["coordinates"]
            ids[i] = p["id"]
            typ[i] = p["type"]
            resp[i] = p.get("responsible") or ""
            t[i] = parse_time(p["time"])
            lon[i], lat[i] = c[0], c[1]
            cov[i] = p["cov_en_m2"]
            att = p.get("attribution") or {}
            pmax[i] = max((float(v) for v in att.values()), default=0.0)
            v = [str(x) for x in p.get("violations") or []]
            viol.append(v)
            nviol[i] = len(v)
        return cls(feats, ids, typ, t, lon, lat, cov, resp, pmax, viol, nviol)

    @classmethod
    def load(cls, path: str | Path) -> EventTable:
        return cls.from_features(load_event_features(path))

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask_or_idx: np.ndarray) -> EventTable:
        idx = np.flatnonzero(mask_or_idx) if mask_or_idx.dtype == bool else np.asarray(mask_or_idx)
        return EventTable(
            [self.features[i] for i in idx],
            self.ids[idx],
            self.type[idx],
            self.time[idx],
            self.lon[idx],
            self.lat[idx],
            self.cov[idx],
            self.responsible[idx],
            self.p_max[idx],
            [self.violations[i] for i in idx],
            self.n_violations[idx],
        )

    @property
    def violated(self) -> np.ndarray:
        return self.n_violations > 0

    def sigma_max_m(self) -> np.ndarray:
        """1-sigma error along the ellipse's long axis (largest eigenvalue, square root)."""
        a, b, d = self.cov[:, 0, 0], self.cov[:, 0, 1], self.cov[:, 1, 1]
        tr, det = a + d, a * d - b * b
        disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
        return np.sqrt(np.maximum(tr / 2 + disc, 0.0))

    def ellipse95(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """95 % ellipse semi-axes (major, minor, metres) and major-axis azimuth (degrees)."""
        a, b, d = self.cov[:, 0, 0], self.cov[:, 0, 1], self.cov[:, 1, 1]
        tr, det = a + d, a * d - b * b
        disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
        l1, l2 = np.maximum(tr / 2 + disc, 0), np.maximum(tr / 2 - disc, 0)
        # eigenvector of l1 in (east, north); azimuth clockwise from north
        ang = 0.5 * np.arctan2(2 * b, a - d)  # angle from east, counter-clockwise
        az = (90.0 - np.degrees(ang)) % 180.0
        k = math.sqrt(CHI2_95_2D)
        return k * np.sqrt(l1), k * np.sqrt(l2), az


def all_report_ids(table: EventTable) -> set[str]:
    out: set[str] = set()
    for f in table.features:
        out.update(str(r) for r in f["properties"].get("reports") or [])
    return out
