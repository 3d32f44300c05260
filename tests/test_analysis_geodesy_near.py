"""`geodesy.to_local_near`/`from_local_near` (scalar, for per-observation loops) agree with
the exact azimuthal-equidistant plane of `geodesy.to_local` near the centre."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.analysis import geodesy


@settings(max_examples=200, deadline=None)
@given(lon0=st.floats(-179.0, 179.0), lat0=st.floats(-80.0, 80.0),
       az=st.floats(0.0, 360.0), dist=st.floats(0.0, 10_000.0))
def test_near_plane_matches_geodesic_plane(lon0, lat0, az, dist):
    lon, lat = geodesy.forward(lon0, lat0, az, dist)
    e, n, _ = geodesy.to_local(lon0, lat0, lon, lat)
    e2, n2 = geodesy.to_local_near(lon0, lat0, float(lon), float(lat))
    assert math.hypot(float(e) - e2, float(n) - n2) < 0.02  # m, at up to 10 km
    lo3, la3 = geodesy.from_local_near(lon0, lat0, e2, n2)
    _, _, back = geodesy.inverse(lo3, la3, lon, lat)
    assert float(back) < 1e-3


@settings(max_examples=200, deadline=None)
@given(centre=st.floats(-180.0, 180.0), lat=st.floats(-60.0, 60.0),
       offsets=st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=20))
def test_mean_longitude_is_right_across_the_antimeridian(centre, lat, offsets):
    """Points within a few degrees of any meridian, including +-180: the region's centre is
    their unwrapped mean, never the far side of the Earth, and the plane keeps them near."""
    import numpy as np

    true_mean = centre + float(np.mean(offsets))
    lon = (centre + np.asarray(offsets) + 180.0) % 360.0 - 180.0
    m = geodesy.mean_longitude(lon)
    assert -180.0 <= m < 180.0
    assert abs((m - true_mean + 180.0) % 360.0 - 180.0) < 1e-9
    e, n, (lon0, _) = geodesy.project_region(lon, np.full(lon.size, lat))
    assert float(np.max(np.hypot(e, n))) < 450_000.0  # within 4 deg of longitude, not 20,000 km
