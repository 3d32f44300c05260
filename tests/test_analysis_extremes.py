"""Any spec-shaped input within the generator's range gives events, never an exception:
property-based over extreme scenarios (tests/scenario_gen.py) — one array or twenty-five, a
500 m or 400 km network, arrays that hear nothing or 100 false detections an hour, a minute
or a day, anywhere on Earth, salvos, radar and drones."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_gen import make_scenario
from truceline.analysis import analyze_reports

scenarios = st.fixed_dictionaries({
    "seed": st.integers(0, 10_000),
    "n_arrays": st.integers(1, 25),
    "n_shots": st.integers(0, 25),
    "extent_m": st.sampled_from([500.0, 5000.0, 40000.0, 200000.0, 400000.0]),
    "detect_range_m": st.sampled_from([2000.0, 20000.0, 80000.0]),
    "p_detect": st.floats(0.1, 1.0),
    "false_rate_per_array_h": st.sampled_from([0.0, 5.0, 100.0]),
    "azimuth_fraction": st.sampled_from([0.0, 0.5, 1.0]),
    "wind_fraction": st.sampled_from([0.0, 0.3, 1.0]),
    "duration_s": st.sampled_from([60.0, 3600.0, 86400.0]),
    "lat0": st.floats(-85.0, 85.0),
    "lon0": st.floats(-180.0, 180.0),
    "salvo_rounds": st.sampled_from([1, 4]),
    "radar_fraction": st.sampled_from([0.0, 0.5]),
    "uav_objects": st.sampled_from([0, 3]),
})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kw=scenarios)
def test_extreme_scenarios_give_events_with_proper_covariances(kw):
    sc = make_scenario(**kw)
    events = analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors}, workers=1)
    reported = {r["id"] for r in sc.reports}
    for e in events:
        c = np.asarray(e.cov_en_m2)
        assert np.all(np.isfinite(c)) and np.linalg.eigvalsh(c).min() > 0, (e.id, c)
        assert -180.0 <= e.lon <= 180.0 and -90.0 <= e.lat <= 90.0
        assert e.reports and set(e.reports) <= reported
