"""Territory files (spec formats.md section 3): loading, validation, and point queries.

A territory is a GeoJSON FeatureCollection of (Multi)Polygons with a `party` property.
`load_territory` checks everything a user can get wrong and raises `InputError` with one
line naming the file and the problem; repairable geometry (self-intersections) is fixed
with `shapely.make_valid` and reported in `Territory.warnings`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import orjson
import shapely
from shapely.geometry import shape

from truceline.errors import InputError
from truceline.geo.contact import ContactLine, Sector, derive_contact_parts
from truceline.geo.local import GEOD, densify_lonlat, geodesic_forward, geodesic_inverse, metric_crs_for

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Run-time data shipped with the package (territory snapshots, profiles)."""
OVERLAP_TOLERANCE_KM2 = 0.01
"""Two parties whose polygons overlap by more than this (geodesic km^2) are an error."""
SHARED_EDGE_TOLERANCE_M = 1.0
"""Spec: edges within 1 m of each other count as shared."""

_ACCEPTED_CRS = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "OGC:CRS84",
    "EPSG:4326",
    "urn:ogc:def:crs:EPSG::4326",
    "urn:ogc:def:crs:EPSG:4326",
}


def default_territory_path() -> Path:
    """The shipped territory snapshot of 2026-01-06 (DeepStateMap-derived, see data/README.md)."""
    return DATA_DIR / "territory_2026-01-06.geojson"


def geodesic_area_km2(geom) -> float:
    """Geodesic area (WGS84) of a lon/lat (Multi)Polygon in km^2 (sign-independent).

    Edges are straight in lon/lat (GeoJSON), so the polygon is densified to 0.01 deg
    first; otherwise long edges along parallels would be measured as geodesics.
    """
    if geom is None or geom.is_empty:
        return 0.0
    total = 0.0
    for g in shapely.get_parts(densify_lonlat(geom, 0.01)):
        if g.geom_type == "Polygon":
            area, _perim = GEOD.geometry_area_perimeter(g)
            total += abs(area)
        elif g.geom_type in ("MultiPolygon", "GeometryCollection"):
            total += geodesic_area_km2(g) * 1e6
    return total / 1e6


def _polygonal(geom):
    """The polygonal part of a geometry (possibly empty)."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    nested = []
    for g in shapely.get_parts(geom):
        if g.geom_type == "GeometryCollection":
            nested.append(_polygonal(g))
    parts.extend(p for p in nested if not p.is_empty)
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def load_territory(path: str | Path) -> Territory:
    """Read and validate a territory GeoJSON; see the module docstring for the checks."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read territory file: {exc.strerror or exc}") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        got = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{name}: not a GeoJSON FeatureCollection (type is {got!r})")
    crs = doc.get("crs")
    if crs is not None:
        crs_name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
        if crs_name not in _ACCEPTED_CRS:
            raise InputError(f"{name}: unsupported crs {crs_name!r}; coordinates must be WGS84 lon/lat")
    features = doc.get("features")
    if not isinstance(features, list):
        raise InputError(f"{name}: FeatureCollection has no 'features' list")
    if not features:
        raise InputError(f"{name}: FeatureCollection has no features")
    warnings: list[str] = []
    by_party: dict[str, list] = {}
    for k, feat in enumerate(features):
        where = f"{name}: feature {k}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise InputError(f"{where}: not a GeoJSON Feature")
        props = feat.get("properties")
        party = props.get("party") if isinstance(props, dict) else None
        if not isinstance(party, str) or not party.strip():
            raise InputError(f"{where}: missing or empty 'party' property")
        party = party.strip()
        gj = feat.get("geometry")
        if not isinstance(gj, dict):
            raise InputError(f"{where} (party {party}): missing geometry")
        gtype = gj.get("type")
        if gtype not in ("Polygon", "MultiPolygon"):
            raise InputError(
                f"{where} (party {party}): geometry type {gtype!r} is not Polygon or MultiPolygon"
            )
        try:
            geom = shape(gj)
        except Exception as exc:  # shapely raises several types for malformed coordinates
            raise InputError(f"{where} (party {party}): malformed {gtype} coordinates: {exc}") from None
        if geom.is_empty:
            raise InputError(f"{where} (party {party}): empty geometry")
        coords = shapely.get_coordinates(geom)
        if not np.isfinite(coords).all():
            raise InputError(f"{where} (party {party}): non-finite coordinates")
        if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
            raise InputError(
                f"{where} (party {party}): coordinates outside lon [-180, 180] / lat [-90, 90] "
                "(GeoJSON order is lon, lat)"
            )
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            fixed = _polygonal(shapely.make_valid(geom))
            if fixed.is_empty or geodesic_area_km2(fixed) <= 0.0:
                raise InputError(
                    f"{where} (party {party}): invalid polygon that cannot be repaired ({reason})"
                )
            warnings.append(
                f"repaired {where} (party {party}): {reason}; repaired area {geodesic_area_km2(fixed):.3f} km2"
            )
            geom = fixed
        by_party.setdefault(party, []).append(geom)
    if len(by_party) < 2:
        only = ", ".join(by_party)
        raise InputError(
            f"{name}: territory has only one party ({only}); a line of contact needs at least two"
        )
    polygons = {p: shapely.union_all(gs) if len(gs) > 1 else gs[0] for p, gs in by_party.items()}
    names = list(polygons)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if not shapely.intersects(polygons[a], polygons[b]):
                continue
            inter = _polygonal(shapely.intersection(polygons[a], polygons[b]))
            area = geodesic_area_km2(inter)
            if area > OVERLAP_TOLERANCE_KM2:
                raise InputError(
                    f"{name}: parties {a} and {b} overlap by {area:.3f} km2 "
                    f"(tolerance {OVERLAP_TOLERANCE_KM2} km2)"
                )
    return Territory(polygons, path=path, warnings=warnings)


class Territory:
    """Validated party polygons (lon/lat) and the vectorized queries on them.

    Construct with `load_territory`, or directly from a dict party -> (Multi)Polygon (no
    validation then). `parties` keeps the order of first appearance in the file.
    """

    def __init__(self, polygons: dict[str, object], path: Path | None = None, warnings=None) -> None:
        self._polygons = dict(polygons)
        self.parties: tuple[str, ...] = tuple(self._polygons)
        self.path = path
        self.warnings: list[str] = list(warnings or [])
        for g in self._polygons.values():
            shapely.prepare(g)
        self.bounds = tuple(shapely.total_bounds(list(self._polygons.values())).tolist())
        self.crs = metric_crs_for(self.bounds, shapely.get_coordinates(list(self._polygons.values()))[:, 0])

    def __repr__(self) -> str:
        return f"Territory(parties={self.parties}, path={str(self.path)!r})"

    def polygon(self, party: str):
        """The (Multi)Polygon of `party` in lon/lat."""
        try:
            return self._polygons[party]
        except KeyError:
            raise KeyError(
                f"unknown party {party!r}; territory parties are {', '.join(self.parties)}"
            ) from None

    def area_km2(self, party: str) -> float:
        return geodesic_area_km2(self.polygon(party))

    @cached_property
    def contact_line(self) -> ContactLine:
        parts = derive_contact_parts(self._polygons, self.crs, tolerance_m=SHARED_EDGE_TOLERANCE_M)
        return ContactLine(parts, self.crs, party_at=self.party_at)

    # -- point queries -------------------------------------------------------------------
    def party_at(self, lon, lat) -> np.ndarray:
        """Party whose territory contains each point ('' outside every polygon), dtype object."""
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        out = np.full(lon.shape, "", dtype=object)
        free = np.ones(lon.shape, dtype=bool)
        for p, g in self._polygons.items():
            hit = free & shapely.contains_xy(g, lon, lat) if free.any() else free
            out[hit] = p
            free &= ~hit
        return out

    def distance_to_line_m(self, lon, lat) -> np.ndarray:
        """Geodesic distance (m) to the line of contact."""
        return self.contact_line.distance_m(lon, lat)

    def signed_distance_m(self, lon, lat, party: str) -> np.ndarray:
        """Distance to the line, positive inside `party`'s territory, negative elsewhere.

        "Elsewhere" includes points outside every polygon (sea, neighbouring states).
        """
        self.polygon(party)  # validates the name
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        inside = shapely.contains_xy(self._polygons[party], lon, lat)
        d = self.distance_to_line_m(lon, lat)
        return np.where(inside, d, -d)

    def offset_from_line(self, km, distance_m, party: str, part: int = 0):
        """Point `distance_m` from the line point at `km` of `part`, perpendicular, on `party`'s side.

        Vectorized over `km` / `distance_m`. The perpendicular is taken to the chord of the
        line over +-w around the point (w = distance/2 clipped to 0.2..5 km), so a
        zig-zagging line does not send the point off in a random direction. The side is
        the one where the end point (else a probe at 30 m, 300 m, 3 km) lies in `party`'s
        territory; `InputError` if neither side is. Where the line is tortuous on the
        scale of `distance_m` the result can still fall outside `party`'s territory:
        check with `party_at` when that matters.
        """
        self.polygon(party)
        line = self.contact_line
        if not 0 <= part < len(line.parts):
            raise IndexError(f"line part {part} does not exist (the line has {len(line.parts)} parts)")
        km_a = np.atleast_1d(np.asarray(km, dtype=float))
        dist = np.asarray(distance_m, dtype=float)
        shape = np.broadcast_shapes(km_a.shape, np.atleast_1d(dist).shape)
        km_a = np.broadcast_to(km_a, shape).ravel()
        dist = np.broadcast_to(np.atleast_1d(dist), shape).ravel()
        lon, lat, _az = (np.atleast_1d(v) for v in line.point_at(km_a, part))
        w = np.clip(np.abs(dist) / 2000.0, 0.2, 5.0)
        alon, alat, _ = line.point_at(km_a - w, part)
        blon, blat, _ = line.point_at(km_a + w, part)
        az, _d = geodesic_inverse(
            np.atleast_1d(alon), np.atleast_1d(alat), np.atleast_1d(blon), np.atleast_1d(blat)
        )
        poly = self._polygons[party]
        side = np.zeros(lon.shape)
        for probe in (dist, 30.0, 300.0, 3000.0):
            todo = side == 0
            if not todo.any():
                break
            pr = np.broadcast_to(probe, lon.shape)[todo]
            llon, llat = geodesic_forward(lon[todo], lat[todo], az[todo] - 90.0, pr)
            rlon, rlat = geodesic_forward(lon[todo], lat[todo], az[todo] + 90.0, pr)
            left = shapely.contains_xy(poly, llon, llat)
            right = shapely.contains_xy(poly, rlon, rlat)
            side[todo] = np.where(left & ~right, -1.0, np.where(right & ~left, 1.0, 0.0))
        if (side == 0).any():
            bad = km_a[np.nonzero(side == 0)[0][0]]
            raise InputError(f"party {party} does not border line part {part} at km {float(bad):.3f}")
        olon, olat = geodesic_forward(lon, lat, az + 90.0 * side, dist)
        if np.ndim(km) == 0 and np.ndim(distance_m) == 0:
            return float(olon[0]), float(olat[0])
        return olon.reshape(shape), olat.reshape(shape)

    def sectors(self, length_km: float = 50.0) -> list[Sector]:
        return self.contact_line.sectors(length_km)

    def sector_of(self, lon, lat, length_km: float = 50.0) -> np.ndarray:
        return self.contact_line.sector_of(lon, lat, length_km)

    def bearing_to_line(self, lon, lat) -> np.ndarray:
        """Geodesic azimuth (deg) from each point towards its nearest line point."""
        nlon, nlat, _km, _p = self.contact_line.locate(lon, lat)
        az, _d = geodesic_inverse(lon, lat, nlon, nlat)
        return az

    def summary(self) -> dict:
        """JSON-ready description: parties, areas, line parts, warnings."""
        line = self.contact_line
        parts = []
        for k, g in enumerate(line.parts):
            c = g.coords
            parts.append(
                {
                    "part": k,
                    "length_km": round(line.part_lengths_m[k] / 1000.0, 3),
                    "start": [round(c[0][0], 5), round(c[0][1], 5)],
                    "end": [round(c[-1][0], 5), round(c[-1][1], 5)],
                    "closed": bool(g.is_closed),
                    "left": line.part_sides[k][0] if line.part_sides else None,
                    "right": line.part_sides[k][1] if line.part_sides else None,
                }
            )
        return {
            "territory": str(self.path) if self.path else None,
            "parties": list(self.parties),
            "areas_km2": {p: round(self.area_km2(p), 1) for p in self.parties},
            "total_length_km": round(line.length_m / 1000.0, 3),
            "main_length_km": round(line.part_lengths_m[0] / 1000.0, 3) if line.parts else 0.0,
            "n_parts": len(line.parts),
            "parts": parts,
            "warnings": list(self.warnings)
            + ([] if line.parts else ["no line of contact: no two parties share a boundary (within 1 m)"]),
        }
