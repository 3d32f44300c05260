"""Local tangent frames and vectorized geodesics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.geo import GEOD, LocalFrame, geodesic_forward, geodesic_inverse


@settings(max_examples=80, deadline=None)
@given(
    st.floats(-179, 179),
    st.floats(-85, 85),
    st.lists(st.tuples(st.floats(-100_000, 100_000), st.floats(-100_000, 100_000)), min_size=1, max_size=20),
)
def test_en_round_trip_below_1mm(lon0, lat0, en):
    f = LocalFrame(lon0, lat0)
    e = np.array([x[0] for x in en])
    n = np.array([x[1] for x in en])
    lon, lat = f.from_en(e, n)
    e2, n2 = f.to_en(lon, lat)
    assert np.max(np.hypot(e2 - e, n2 - n)) < 1e-3


@settings(max_examples=60, deadline=None)
@given(st.floats(22, 40), st.floats(44, 52), st.floats(0, 360), st.floats(1, 100_000))
def test_frame_is_equidistant_from_centre(lon0, lat0, az, dist):
    f = LocalFrame(lon0, lat0)
    lon, lat = geodesic_forward(lon0, lat0, az, dist)
    e, n = f.to_en(lon, lat)
    assert float(np.hypot(e, n)) == pytest.approx(dist, rel=1e-9, abs=1e-6)
    bearing = np.degrees(np.arctan2(e, n)) % 360
    assert abs((float(bearing) - az + 180) % 360 - 180) < 1e-6


def test_geodesic_known_answer():
    # Kyiv -> Kharkiv, geodesic on WGS84 (pyproj Geod directly as the reference)
    az, d = geodesic_inverse(30.5234, 50.4501, 36.2304, 49.9935)
    ref = GEOD.inv(30.5234, 50.4501, 36.2304, 49.9935)
    assert float(d) == pytest.approx(ref[2]) and 400_000 < float(d) < 420_000
    assert float(az) == pytest.approx(ref[0] % 360)
    lon, lat = geodesic_forward(30.5234, 50.4501, az, d)
    assert float(lon) == pytest.approx(36.2304, abs=1e-9) and float(lat) == pytest.approx(49.9935, abs=1e-9)


def test_vectorized_broadcasting():
    lon = np.linspace(30, 31, 5)
    az, d = geodesic_inverse(lon, 48.0, 31.0, 48.0)
    assert az.shape == (5,) and d[-1] == 0 and (np.diff(d) < 0).all()
    lon2, lat2 = geodesic_forward(lon, 48.0, 90.0, np.array([0.0, 1, 2, 3, 4]))
    assert lon2.shape == (5,) and lon2[0] == pytest.approx(30.0)


def test_bad_centre():
    with pytest.raises(ValueError):
        LocalFrame(30, 95)
