"""Geodesy helpers: local east/north frames and vectorized WGS84 geodesics.

Everything here works on NumPy arrays (scalars are accepted and come back as 0-d
arrays or floats) and uses the WGS84 ellipsoid through pyproj, never planar degrees.

- `LocalFrame(lon0, lat0)`: an azimuthal-equidistant tangent frame centred on a point.
  Distances and azimuths from the centre are exact; for points within 100 km of the
  centre, distances between two arbitrary points are distorted by < 0.02 % (the AEQD
  scale error grows like (d/R)^2/6), which is what localization and covariance
  bookkeeping in metres need.
- `geodesic_inverse` / `geodesic_forward`: the two classic geodesic problems, vectorized.
- `metric_crs_for(bounds, lons)`: the conformal (oblique stereographic) projection centred on
  an extent that the territory uses internally to find nearest points; distances are
  then corrected geodesically, so its scale error never reaches a reported number.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Geod, Transformer

GEOD = Geod(ellps="WGS84")
"""The one ellipsoid used for every length, area and azimuth in truceline."""

WGS84_LONLAT = CRS.from_user_input("OGC:CRS84")


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def geodesic_inverse(lon1, lat1, lon2, lat2) -> tuple[np.ndarray, np.ndarray]:
    """Forward azimuth (degrees clockwise from north, in [0, 360)) and distance (m) from 1 to 2.

    Arrays broadcast against each other. The azimuth of coincident points is 0.
    """
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(_arr(lon1), _arr(lat1), _arr(lon2), _arr(lat2))
    az, _back, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    az = np.mod(np.asarray(az, dtype=np.float64), 360.0)
    return az, np.asarray(dist, dtype=np.float64)


def geodesic_forward(lon, lat, azimuth_deg, distance_m) -> tuple[np.ndarray, np.ndarray]:
    """The point reached from (lon, lat) after `distance_m` along azimuth `azimuth_deg`."""
    lon, lat, az, dist = np.broadcast_arrays(_arr(lon), _arr(lat), _arr(azimuth_deg), _arr(distance_m))
    lon2, lat2, _back = GEOD.fwd(lon, lat, az, dist)
    return np.asarray(lon2, dtype=np.float64), np.asarray(lat2, dtype=np.float64)


def geodesic_length_m(lon: np.ndarray, lat: np.ndarray) -> float:
    """Geodesic length of a polyline given by vertex arrays."""
    if len(lon) < 2:
        return 0.0
    return float(GEOD.line_length(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)))


@lru_cache(maxsize=256)
def _aeqd_transformers(lon0: float, lat0: float) -> tuple[Transformer, Transformer]:
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +x_0=0 +y_0=0 +datum=WGS84 +units=m")
    fwd = Transformer.from_crs(WGS84_LONLAT, crs, always_xy=True)
    inv = Transformer.from_crs(crs, WGS84_LONLAT, always_xy=True)
    return fwd, inv


class LocalFrame:
    """East/north metres in an azimuthal-equidistant tangent frame centred on (lon0, lat0).

    `to_en` and `from_en` are vectorized inverses of each other (round trip well below
    1 mm for ranges < 1000 km). Use one frame per locality (a sensor cluster, an event):
    within 100 km of the centre the frame is metric to better than 0.02 %.
    """

    __slots__ = ("lon0", "lat0", "_fwd", "_inv")

    def __init__(self, lon0: float, lat0: float) -> None:
        lon0 = float(lon0)
        lat0 = float(lat0)
        if not (np.isfinite(lon0) and np.isfinite(lat0) and -90.0 <= lat0 <= 90.0):
            raise ValueError(f"LocalFrame centre out of range: lon={lon0}, lat={lat0}")
        self.lon0 = lon0
        self.lat0 = lat0
        self._fwd, self._inv = _aeqd_transformers(lon0, lat0)

    def __repr__(self) -> str:
        return f"LocalFrame(lon0={self.lon0!r}, lat0={self.lat0!r})"

    def to_en(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """East and north metres of points given in lon/lat degrees."""
        lon, lat = np.broadcast_arrays(_arr(lon), _arr(lat))
        e, n = self._fwd.transform(lon, lat)
        return np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)

    def from_en(self, e, n) -> tuple[np.ndarray, np.ndarray]:
        """Lon/lat degrees of points given in east/north metres of this frame."""
        e, n = np.broadcast_arrays(_arr(e), _arr(n))
        lon, lat = self._inv.transform(e, n)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def crs(self) -> CRS:
        """The frame as a pyproj CRS (e.g. for geodesically correct buffers)."""
        return self._fwd.target_crs


def densify_lonlat(geom, max_deg: float):
    """Insert vertices so no edge is longer than `max_deg` degrees; works on any geometry.

    Polygons are densified ring by ring: `shapely.segmentize` on polygons goes through
    GEOS's densifier, which "repairs" its output with buffer(0) and was seen to drop
    whole parts of a valid MultiPolygon (GEOS 3.14), so it is never used on areas here.
    """
    import shapely

    def ring(r):
        return np.asarray(shapely.segmentize(shapely.LineString(np.asarray(r.coords)[:, :2]), max_deg).coords)

    gt = geom.geom_type
    if gt == "Polygon":
        if geom.is_empty:
            return geom
        return shapely.Polygon(ring(geom.exterior), [ring(r) for r in geom.interiors])
    if gt in ("MultiPolygon", "GeometryCollection"):
        parts = [densify_lonlat(g, max_deg) for g in shapely.get_parts(geom)]
        return shapely.MultiPolygon(parts) if gt == "MultiPolygon" else shapely.GeometryCollection(parts)
    return shapely.segmentize(geom, max_deg)


def metric_crs_for(bounds: tuple[float, float, float, float], lons=None) -> CRS:
    """Oblique stereographic CRS centred on a lon/lat extent (conformal, metres).

    Conformal so that the nearest point found in projected space is the geodesically
    nearest point up to a second-order effect; the scale factor over a 1,500 km extent
    varies by ~0.2 %, which only the final geodesic correction has to absorb. `lons`: the
    extent's vertex longitudes, so that an extent across the antimeridian is centred right.
    """
    minx, miny, maxx, maxy = bounds
    lon0 = round((minx + maxx) / 2.0, 6)
    lat0 = round((miny + maxy) / 2.0, 6)
    if lons is not None and maxx - minx > 180.0:
        # an extent split at +-180 (RFC 7946 asks for that): centre on its real middle, the
        # midpoint of the longitudes taken in 0..360, not on the far side of the Earth
        east = np.where(np.asarray(lons, float) < 0.0, np.asarray(lons, float) + 360.0, np.asarray(lons, float))
        if float(east.max() - east.min()) < maxx - minx:
            lon0 = round(((float(east.min()) + float(east.max())) / 2.0 + 180.0) % 360.0 - 180.0, 6)
    return CRS.from_proj4(f"+proj=stere +lat_0={lat0} +lon_0={lon0} +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m")


def transformers_for(crs: CRS) -> tuple[Transformer, Transformer]:
    """(lon/lat -> crs, crs -> lon/lat) transformers, always lon-first."""
    return (
        Transformer.from_crs(WGS84_LONLAT, crs, always_xy=True),
        Transformer.from_crs(crs, WGS84_LONLAT, always_xy=True),
    )
