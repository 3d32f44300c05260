"""`events.ellipse`: the closed-form 95 % ellipse every event's Feature carries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 4.0), st.floats(0.0, 4.0), st.floats(0.0, 3.1416), st.integers(0, 3))
def test_closed_form_ellipse_equals_eigh(log_s1, log_s2, theta, rounding):
    """`events.ellipse` (closed form, used for every event's Feature) gives numpy's eigh
    answer: axes to 1e-6 relative (1e-6 m absolute) and the major-axis azimuth mod 180."""
    import math

    from truceline.analysis.events import ellipse

    s1, s2 = 10.0**log_s1, 10.0**log_s2
    r = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = r @ np.diag([s1 * s1, s2 * s2]) @ r.T
    cov = np.round(cov, rounding)  # as events.geojson carries it (3 decimals) and coarser
    w, v = np.linalg.eigh(cov)
    w = np.clip(w, 0.0, None)
    got = ellipse(cov, 5.991)
    assert math.isclose(got["semi_major_m"], math.sqrt(5.991 * w[1]), rel_tol=1e-6, abs_tol=1e-6)
    assert math.isclose(got["semi_minor_m"], math.sqrt(5.991 * w[0]), rel_tol=1e-6, abs_tol=1e-3)
    if w[1] - w[0] > 1e-6 * max(w[1], 1.0):  # the azimuth is defined only for a non-circle
        want = math.degrees(math.atan2(v[0, 1], v[1, 1])) % 180.0
        assert abs((got["azimuth_deg"] - want + 90.0) % 180.0 - 90.0) <= 0.006
