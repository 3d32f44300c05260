"""`geodesy.inverse` (compiled Vincenty, pyproj for what it cannot do) against pyproj's
Karney geodesics, the reference: anywhere on Earth, across the antimeridian, at the poles,
for coincident and nearly antipodal points."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from truceline.analysis import geodesy

GEOD = Geod(ellps="WGS84")


def _angle_diff(a, b):
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


def _agrees(lon1, lat1, lon2, lat2, dist_tol, side_tol):
    az12, az21, d = geodesy.inverse(lon1, lat1, lon2, lat2)
    r12, r21, rd = GEOD.inv(lon1, lat1, lon2, lat2)
    assert np.all(np.abs(d - rd) <= dist_tol)
    far = rd > 1.0  # directions are defined apart from coincident points
    # a direction error, as the sideways miss it makes at the far point
    assert np.all(np.radians(_angle_diff(az12, r12))[far] * rd[far] <= side_tol)
    assert np.all(np.radians(_angle_diff(az21, r21))[far] * rd[far] <= side_tol)


@settings(max_examples=200, deadline=None)
@given(lon=st.floats(-180.0, 180.0), lat=st.floats(-89.9, 89.9), az=st.floats(-180.0, 180.0),
       dist=st.floats(0.0, 200_000.0))
def test_short_geodesics_match_karney_to_ten_micrometres(lon, lat, az, dist):
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, dist)
    _agrees(np.array([lon]), np.array([lat]), np.array([lon2]), np.array([lat2]), 1e-5, 1e-5)


def test_long_geodesics_the_whole_globe_over():
    rng = np.random.default_rng(3)
    n = 20_000
    lon1, lat1 = rng.uniform(-180, 180, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon2, lat2, _ = GEOD.fwd(lon1, lat1, rng.uniform(-180, 180, n), rng.uniform(0, 5_000_000, n))
    _agrees(lon1, lat1, lon2, lat2, 1e-4, 1e-4)


def test_special_points():
    cases = np.array([
        (0.0, 0.0, 10.0, 0.0),  # along the equator
        (179.9, 10.0, -179.9, 10.0),  # across the antimeridian
        (0.0, 90.0, 10.0, 80.0),  # from the pole
        (0.0, 89.99, 180.0, 89.99),  # over the pole
        (30.0, 48.0, 30.0, 48.0),  # coincident
        (0.0, 0.0, 179.5, 0.1),  # nearly antipodal: Vincenty does not converge
        (10.0, -30.0, -170.2, 30.05),  # nearly antipodal
    ])
    _agrees(*cases.T, 1e-4, 1e-4)
    _, _, d = geodesy.inverse(30.0, 48.0, 30.0, 48.0)
    assert float(d) == 0.0


def test_shapes_broadcast():
    az12, az21, d = geodesy.inverse(30.0, 48.0, np.full((3, 4), 30.1), np.full((3, 4), 48.1))
    assert az12.shape == az21.shape == d.shape == (3, 4)
    assert np.allclose(d, GEOD.inv(30.0, 48.0, 30.1, 48.1)[2])
