"""Vectorized ellipsoidal geodesy and per-event local tangent planes for the analysis.

Acoustic ranging needs distances good to a few decimetres over tens of kilometres, so
every fit is done in an azimuthal-equidistant plane centred on that event's own current
estimate: distances and azimuths from the centre are exact geodesics (WGS84), and the
distortion elsewhere in a 30 km disc is below 0.1 m. A single projection for the whole
line would distort ranges by ~0.1 %, several times the achievable error.

Inverse geodesics, millions a day, come from a compiled Vincenty solution
(`kernels.geodesic_inverse`, within 10 micrometres of Karney's at these distances, 1.6x
faster than pyproj's call); nearly antipodal pairs and all forward geodesics from pyproj
(Karney's algorithm).
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")


def inverse(lon1, lat1, lon2, lat2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(azimuth 1->2 at point 1 deg, azimuth 2->1 at point 2 deg, distance m), broadcast arrays."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2))
    )
    shape = lon1.shape
    if lon1.size == 0:
        z = np.zeros(shape)
        return z, z.copy(), z.copy()
    from . import kernels

    x1, y1, x2, y2 = (np.ascontiguousarray(v, dtype=float).ravel() for v in (lon1, lat1, lon2, lat2))
    az12, az21, dist = np.empty(x1.size), np.empty(x1.size), np.empty(x1.size)
    ok = kernels.geodesic_inverse(x1, y1, x2, y2, _GEOD.a, _GEOD.f, az12, az21, dist)
    if not ok.all():  # nearly antipodal pairs: Karney's algorithm (pyproj)
        bad = ~ok
        az12[bad], az21[bad], dist[bad] = _GEOD.inv(x1[bad], y1[bad], x2[bad], y2[bad])
    return az12.reshape(shape), az21.reshape(shape), dist.reshape(shape)


def load_compiled() -> None:
    """Load the compiled inverse geodesic (and Numba itself) into this process now: pool
    workers forked afterwards inherit it, where each would otherwise load it from the cache
    on its first geodesic (0.2-0.4 s of CPU a worker, 26 workers a day's analysis)."""
    inverse(np.zeros(1), np.zeros(1), np.ones(1), np.ones(1))


def forward(lon, lat, az_deg, dist_m) -> tuple[np.ndarray, np.ndarray]:
    """Point reached from (lon, lat) along azimuth `az_deg` after `dist_m` metres."""
    lon, lat, az, d = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon, lat, az_deg, dist_m)))
    shape = lon.shape
    if lon.size == 0:
        return np.zeros(shape), np.zeros(shape)
    lo, la, _ = _GEOD.fwd(lon.ravel(), lat.ravel(), az.ravel(), d.ravel())
    return np.asarray(lo).reshape(shape), np.asarray(la).reshape(shape)


def to_local(lon0, lat0, lon, lat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuthal-equidistant east/north (m) of points about centres (lon0, lat0), plus the
    meridian convergence (deg): the azimuth at the point of the direction back to the
    centre minus the planar one, used to correct bearings measured at the point."""
    az12, az21, d = inverse(lon0, lat0, lon, lat)
    a = np.radians(az12)
    east, north = d * np.sin(a), d * np.cos(a)
    conv = (az21 - (az12 + 180.0) + 180.0) % 360.0 - 180.0
    return east, north, conv


def from_local(lon0, lat0, east, north) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `to_local` (exact on the ellipsoid: a geodesic from the centre)."""
    east = np.asarray(east, dtype=float)
    north = np.asarray(north, dtype=float)
    az = np.degrees(np.arctan2(east, north))
    return forward(lon0, lat0, az, np.hypot(east, north))


def project_region(lon, lat) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """One azimuthal-equidistant plane for a whole region (coarse work only: association,
    spatial indexing). Returns east, north and the centre used."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    lon0, lat0 = region_centre(lon, lat)
    e, n, _ = to_local(lon0, lat0, lon, lat)
    return e, n, (lon0, lat0)


def region_centre(lon, lat) -> tuple[float, float]:
    """Centre of `project_region`'s plane: the mean longitude (right across the antimeridian)
    and mean latitude of the finite points; (0, 0) when there are none."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    fin = np.isfinite(lon) & np.isfinite(lat)
    if not fin.any():
        return 0.0, 0.0
    return mean_longitude(lon[fin]), float(np.mean(lat[fin]))


def mean_longitude(lon) -> float:
    """Mean of longitudes (deg, in [-180, 180)) that is right across the antimeridian: the
    longitudes are unwrapped about their circular mean before averaging (a plain mean of
    179.9 and -179.9 is 0, the far side of the Earth)."""
    lon = np.asarray(lon, dtype=float)
    if float(lon.max() - lon.min()) < 180.0:  # no wrap: the plain mean (identical results elsewhere)
        return float(np.mean(lon))
    r = np.radians(lon)
    ref = math.degrees(math.atan2(float(np.mean(np.sin(r))), float(np.mean(np.cos(r)))))
    off = (lon - ref + 180.0) % 360.0 - 180.0
    return float((ref + np.mean(off) + 180.0) % 360.0 - 180.0)



_A = 6378137.0
_E2 = 6.69437999014e-3


def _ecef(lon: float, lat: float) -> tuple[float, float, float]:
    lo, la = math.radians(lon), math.radians(lat)
    sl, cl = math.sin(la), math.cos(la)
    N = _A / math.sqrt(1.0 - _E2 * sl * sl)
    return N * cl * math.cos(lo), N * cl * math.sin(lo), N * (1.0 - _E2) * sl


def to_local_near(lon0: float, lat0: float, lon: float, lat: float) -> tuple[float, float]:
    """Scalar east/north (m) of a point near (lon0, lat0) (a few km): the exact ellipsoidal
    tangent-plane (ENU) coordinates, which differ from `to_local`'s azimuthal-equidistant
    ones by (d/R)^2 relative (millimetres at 5 km). Much faster for one point (no pyproj
    call), for per-observation loops such as radar gating."""
    x0, y0, z0 = _ecef(lon0, lat0)
    x1, y1, z1 = _ecef(lon, lat)
    dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
    lo, la = math.radians(lon0), math.radians(lat0)
    so, co, sa, ca = math.sin(lo), math.cos(lo), math.sin(la), math.cos(la)
    east = -so * dx + co * dy
    north = -sa * co * dx - sa * so * dy + ca * dz
    return east, north


def from_local_near(lon0: float, lat0: float, east: float, north: float) -> tuple[float, float]:
    """Inverse of `to_local_near` (local radii of curvature, then Newton corrections)."""
    sa = math.sin(math.radians(lat0))
    w = 1.0 - _E2 * sa * sa
    N = _A / math.sqrt(w)
    M = _A * (1.0 - _E2) / w**1.5
    k_lat = math.degrees(1.0 / M)
    k_lon = math.degrees(1.0 / (N * max(math.cos(math.radians(lat0)), 1e-9)))
    lon, lat = lon0 + east * k_lon, lat0 + north * k_lat
    for _ in range(3):
        e, n = to_local_near(lon0, lat0, lon, lat)
        lon += (east - e) * k_lon
        lat += (north - n) * k_lat
    return lon, lat
