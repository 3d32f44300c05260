"""Geometry and agreement settings the report and the dashboard draw with.

`MapContext` is a small read-only view over the territory (party polygons, the line of
contact, exclusion bands, sectors) and the few agreement-profile settings the reports
need (public position grid, attribution threshold, sector length, exclusion distances).

It uses `truceline.geo` and `truceline.profile` when they are installed and falls back
to a self-contained implementation (Shapely + pyproj, spec section 3: the line is the set
of boundary segments shared by polygons of two different parties) otherwise, so reports
render from nothing but an events file and a territory file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, shape
from shapely.ops import linemerge, substring, unary_union

from truceline.errors import InputError

# Distances from the line inside which a weapon class may not stand, used only when no
# agreement profile is available (Minsk II withdrawal distances, in metres, per side).
DEFAULT_EXCLUSION_M: dict[str, float] = {
    "mortar": 15_000.0,
    "artillery": 25_000.0,
    "tank": 15_000.0,
    "mlrs": 35_000.0,
}


@dataclass(frozen=True)
class ReportSettings:
    """Agreement-profile settings the report needs (with the profile's defaults)."""

    public_position_grid_m: float = 1000.0
    attribution_threshold: float = 0.95
    sector_km: float = 50.0
    exclusion_m: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EXCLUSION_M))
    parties: tuple[str, ...] = ()
    profile: Any = field(default=None, compare=False, repr=False)  # the loaded agreement profile, if any

    @classmethod
    def from_profile(cls, profile: Any) -> ReportSettings:
        """Read the settings from a `truceline.profile` object (attribute or mapping access)."""

        def get(name: str, default: Any) -> Any:
            if isinstance(profile, dict):
                return profile.get(name, default)
            return getattr(profile, name, default)

        excl: Any = get("exclusion_m", None)
        if excl is None:
            entries = get("exclusion", None)
            if isinstance(entries, list | tuple):
                excl = {_exclusion_label(e): _exclusion_distance_m(e) for e in entries}
            elif isinstance(entries, dict):
                excl = entries
        if not excl:
            excl = dict(DEFAULT_EXCLUSION_M)
        return cls(
            public_position_grid_m=float(get("public_position_grid_m", 1000.0)),
            attribution_threshold=float(get("attribution_threshold", 0.95)),
            sector_km=float(get("sector_km", 50.0)),
            exclusion_m={str(k): float(v) for k, v in excl.items()},
            parties=tuple(get("parties", ()) or ()),
            profile=None if isinstance(profile, dict) else profile,
        )


def _exclusion_label(e: Any) -> str:
    """`artillery >=100 mm`, `mortar <121 mm`, `tank` from a profile exclusion entry."""
    get = e.get if isinstance(e, dict) else (lambda k, d=None: getattr(e, k, d))
    cls = str(get("object_class", None) or get("class", None) or "?")
    lo, hi = get("min_caliber_mm", None), get("max_caliber_mm", None)
    if lo is not None and hi is not None:
        return f"{cls} {lo:g}-{hi:g} mm"
    if lo is not None:
        return f"{cls} >={lo:g} mm"
    if hi is not None:
        return f"{cls} <{hi:g} mm"
    return cls


def _exclusion_distance_m(e: Any) -> float:
    get = e.get if isinstance(e, dict) else (lambda k, d=None: getattr(e, k, d))
    if get("distance_m", None) is not None:
        return float(get("distance_m"))
    return float(get("distance_km")) * 1000.0


def class_exclusion_m(settings: ReportSettings, object_class: str) -> float | None:
    """Least demanding withdrawal distance of an object class (unknown calibre)."""
    ds = [d for k, d in settings.exclusion_m.items() if k == object_class or k.startswith(object_class + " ")]
    return min(ds) if ds else None


def load_settings(profile_path: str | Path | None = None) -> ReportSettings:
    """Settings from the agreement profile (`truceline.profile`), or the defaults."""
    try:
        from truceline import profile as profile_mod  # type: ignore[attr-defined]

        loader = getattr(profile_mod, "load_profile", None)
    except ImportError:
        loader = None
    if loader is None:
        if profile_path is not None:
            return _settings_from_toml(Path(profile_path))
        return ReportSettings()
    prof = loader(profile_path) if profile_path is not None else loader()
    return ReportSettings.from_profile(prof)


def _settings_from_toml(path: Path) -> ReportSettings:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read agreement profile: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("exclusion_m", "exclusion_distances_m", "exclusion"):
            flat.update(value)
        else:
            flat[key] = value
    return ReportSettings.from_profile(flat)


def default_territory_path() -> Path:
    """The packaged territory (via `truceline.geo`), else the shared snapshot."""
    try:
        from truceline.geo import default_territory_path as geo_default  # type: ignore[attr-defined]

        return Path(geo_default())
    except (ImportError, AttributeError):
        pass
    pkg = Path(__file__).resolve().parent.parent / "data"
    for cand in sorted(pkg.glob("territory*.geojson"), reverse=True):
        return cand
    shared = Path("/work/shared/data/territory_2026-01-06.geojson")
    if shared.exists():
        return shared
    raise InputError("no territory file given and no packaged territory found; pass --territory FILE")


class MapContext:
    """Territory, line, sectors and exclusion bands in lon/lat, with vectorized queries."""

    def __init__(self, territory_path: str | Path | None = None, settings: ReportSettings | None = None):
        self.path = Path(territory_path) if territory_path is not None else default_territory_path()
        self.settings = settings or ReportSettings()
        self._geo = _try_geo_territory(self.path)
        if self._geo is not None:
            self.parties: tuple[str, ...] = tuple(self._geo.parties)
            self.polygons = {p: self._geo.polygon(p) for p in self.parties}
            parts = list(self._geo.contact_line.parts)
            self.line = MultiLineString([LineString(p) if not isinstance(p, LineString) else p for p in parts])
        else:
            self.polygons = _read_polygons(self.path)
            self.parties = tuple(sorted(self.polygons))
            self.line = _contact_line(self.polygons)
        lon0, lat0 = self.line.centroid.x, self.line.centroid.y
        if self.line.is_empty:
            b = unary_union(list(self.polygons.values())).bounds
            lon0, lat0 = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        self.lon0, self.lat0 = float(lon0), float(lat0)
        import pyproj

        aeqd = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m")
        self._fwd = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        self._inv = pyproj.Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)

    # -- projections -------------------------------------------------------------------
    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon), np.asarray(lat)

    def _unproject(self, geom: Any) -> Any:
        return shapely.transform(geom, lambda xy: np.column_stack(self._inv.transform(xy[:, 0], xy[:, 1])))

    @cached_property
    def line_xy(self) -> MultiLineString:
        return shapely.transform(self.line, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1])))

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """lon/lat bounds of the area around the line (the whole territory if no line)."""
        geom = self.line if not self.line.is_empty else unary_union(list(self.polygons.values()))
        minx, miny, maxx, maxy = geom.bounds
        pad = 0.6
        return minx - pad, miny - pad * 0.6, maxx + pad, maxy + pad * 0.6

    # -- queries -----------------------------------------------------------------------
    def distance_to_line_m(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        if self._geo is not None and hasattr(self._geo, "distance_to_line_m"):
            try:
                return np.asarray(self._geo.distance_to_line_m(np.asarray(lon), np.asarray(lat)), float)
            except TypeError:
                pass
        x, y = self.to_xy(lon, lat)
        return shapely.distance(shapely.points(x, y), self.line_xy)

    @cached_property
    def _sector_parts(self) -> list[tuple[LineString, float]]:
        parts = list(self.line_xy.geoms) if isinstance(self.line_xy, MultiLineString) else [self.line_xy]
        parts.sort(key=lambda g: -g.length)
        out, offset = [], 0.0
        for g in parts:
            out.append((g, offset))
            offset += g.length
        return out

    def sector_of(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Sector label per point: the nearest along-line stretch of `sector_km` (`S01`...)."""
        lon = np.atleast_1d(np.asarray(lon, float))
        lat = np.atleast_1d(np.asarray(lat, float))
        if len(lon) == 0:
            return np.array([], dtype=object)
        if self._geo is not None and hasattr(self._geo, "sector_of"):
            try:
                res = self._geo.sector_of(lon, lat, self.settings.sector_km)
                arr = np.atleast_1d(np.asarray(res))
                if arr.dtype.kind in "iu":
                    return np.array([f"S{int(v) + 1:02d}" for v in arr], dtype=object)
                return arr.astype(object)
            except (TypeError, ValueError):
                pass
        x, y = self.to_xy(lon, lat)
        pts = shapely.points(x, y)
        best_d = np.full(len(lon), np.inf)
        along = np.zeros(len(lon))
        for g, offset in self._sector_parts:
            d = shapely.distance(pts, g)
            better = d < best_d
            if better.any():
                best_d[better] = d[better]
                along[better] = offset + shapely.line_locate_point(g, pts[better])
        idx = (along // (self.settings.sector_km * 1000.0)).astype(int)
        return np.array([f"S{i + 1:02d}" for i in idx], dtype=object)

    @cached_property
    def sectors(self) -> list[dict[str, Any]]:
        """Sector stretches of the line (label, lon/lat LineString) for drawing."""
        step = self.settings.sector_km * 1000.0
        out = []
        if self._geo is not None and hasattr(self._geo, "sectors"):
            try:
                line = self._geo.contact_line
                for sec in self._geo.sectors(self.settings.sector_km):
                    kms = np.linspace(sec.start_km, sec.end_km, 24)
                    res = line.point_at(kms, sec.part)
                    out.append({"label": str(sec.name), "geometry": LineString(np.column_stack(res[:2]))})
                return out
            except (AttributeError, TypeError, ValueError, IndexError):
                out = []
        for g, offset in self._sector_parts:
            start = math.floor(offset / step) * step
            while start < offset + g.length:
                a = max(0.0, start - offset)
                b = min(g.length, start + step - offset)
                if b > a:
                    seg = substring(g, a, b)
                    label = f"S{int(start // step) + 1:02d}"
                    out.append({"label": label, "geometry": self._unproject(seg)})
                start += step
        return out

    @cached_property
    def exclusion_bands(self) -> list[dict[str, Any]]:
        """Per distinct exclusion distance, the band around the line (lon/lat polygon)."""
        by_dist: dict[float, list[str]] = {}
        for cls, dist in self.settings.exclusion_m.items():
            by_dist.setdefault(float(dist), []).append(cls)
        bands = []
        simple_line = self.line_xy.simplify(200.0)
        for dist in sorted(by_dist, reverse=True):
            poly = simple_line.buffer(dist, quad_segs=4).simplify(dist / 50.0)
            bands.append(
                {
                    "distance_m": dist,
                    "classes": sorted(by_dist[dist]),
                    "geometry": self._unproject(poly),
                }
            )
        return bands


def _try_geo_territory(path: Path) -> Any:
    try:
        from truceline.geo import load_territory  # type: ignore[attr-defined]
    except ImportError:
        return None
    return load_territory(path)


def _read_polygons(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read territory: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InputError(f"{path}: territory must be a GeoJSON FeatureCollection")
    groups: dict[str, list[Any]] = {}
    for i, feat in enumerate(data.get("features", [])):
        party = (feat.get("properties") or {}).get("party")
        if not isinstance(party, str) or not party:
            raise InputError(f"{path}: feature {i}: missing string property 'party'")
        geom = shape(feat["geometry"])
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"{path}: feature {i}: geometry must be a (Multi)Polygon, got {geom.geom_type}")
        groups.setdefault(party, []).append(shapely.make_valid(geom))
    if not groups:
        raise InputError(f"{path}: territory has no features")
    return {p: unary_union(gs) for p, gs in groups.items()}


def _contact_line(polygons: dict[str, Any]) -> MultiLineString:
    """Boundary segments shared (within ~1 m) by polygons of two different parties."""
    parties = sorted(polygons)
    pieces = []
    tol_deg = 1.0 / 111_000.0
    for i, a in enumerate(parties):
        for b in parties[i + 1 :]:
            ba = polygons[a].boundary
            near = polygons[b].boundary.buffer(tol_deg * 1.5, quad_segs=2)
            shared = shapely.intersection(ba, near)
            if not shared.is_empty:
                pieces.append(shared)
    if not pieces:
        return MultiLineString([])
    merged = linemerge(unary_union(pieces))
    lines = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
    lines = [g for g in lines if isinstance(g, LineString) and g.length > tol_deg * 10]
    return MultiLineString(lines)
