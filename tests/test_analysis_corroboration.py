"""Radar-only launches contradicted by silent nearby arrays are not attributed."""

from __future__ import annotations

import numpy as np

from truceline.analysis import attribution as att
from truceline.analysis.corroboration import mark_uncorroborated, silent_array_counts
from truceline.analysis.events import Event, event_to_feature
from truceline.geo.local import geodesic_forward
from truceline.ingest.registry import Sensor


def test_counts_match_brute_force_geodesic():
    rng = np.random.default_rng(3)
    alon, alat = 37.0 + rng.uniform(0, 0.6, 200), 48.0 + rng.uniform(0, 0.4, 200)
    plon, plat = 37.0 + rng.uniform(0, 0.6, 50), 48.0 + rng.uniform(0, 0.4, 50)
    from truceline.geo.local import geodesic_inverse

    _, d = geodesic_inverse(plon[:, None], plat[:, None], alon[None, :], alat[None, :])
    assert np.array_equal(silent_array_counts(plon, plat, alon, alat, 10_000.0), (d <= 10_000.0).sum(axis=1))


def _event(eid, lon, lat, kinds, **kw):
    return Event(id=eid, type="launch", time=0.0, lon=lon, lat=lat, cov_en_m2=np.eye(2) * 400.0,
                 reports=list(kinds), report_kinds=kinds, **kw)


def test_radar_only_launch_among_silent_arrays_is_withheld():
    lon0, lat0 = 37.5, 48.5
    ring = [geodesic_forward(lon0, lat0, az, 4_000.0) for az in (0.0, 120.0, 240.0)]
    registry = {f"a{i}": Sensor(id=f"a{i}", kind="acoustic", public_key=b"\0" * 32, lat=float(la), lon=float(lo))
                for i, (lo, la) in enumerate(ring)}
    near = _event("near", lon0, lat0, {"r1": "radar"})
    far_lon, far_lat = geodesic_forward(lon0, lat0, 90.0, 40_000.0)
    far = _event("far", float(far_lon), float(far_lat), {"r2": "radar"})
    heard = _event("heard", lon0, lat0, {"r3": "radar", "x1": "acoustic"})
    mark_uncorroborated([near, far, heard], registry)
    assert near.quality == {"silent_arrays": 3, "uncorroborated": True}
    assert far.quality == {"silent_arrays": 0}
    assert heard.quality == {}

    from shapely.geometry import box

    terr = {"EAST": box(36.0, 47.0, 39.0, 50.0), "WEST": box(30.0, 47.0, 36.0, 50.0)}
    feats = [event_to_feature(e) for e in (near, far)]
    att.apply_attribution(feats, terr, None)
    assert feats[0]["properties"]["responsible"] is None and feats[0]["properties"]["attribution"] == {}
    assert feats[1]["properties"]["responsible"] == "EAST"
