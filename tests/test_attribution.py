"""Attribution: the Gaussian-over-polygon integral, the threshold decision, impacts, calibration helpers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from shapely.geometry import box

from truceline.analysis import attribution as att
from truceline.geo import LocalFrame, load_territory

TERRITORY_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "territory_2026-01-06.geojson"


@pytest.fixture(scope="module")
def territory():
    return load_territory(TERRITORY_FILE)


def _cov(s1: float, s2: float, theta: float) -> np.ndarray:
    r = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return r @ np.diag([s1 * s1, s2 * s2]) @ r.T


def _monte_carlo(territory, lon0, lat0, cov, n, rng):
    frame = LocalFrame(lon0, lat0)
    x = rng.multivariate_normal([0.0, 0.0], cov, size=n)
    lon, lat = frame.from_en(x[:, 0], x[:, 1])
    out = {}
    for p in territory.parties:
        # clip to the samples' extent first: same answer, much faster point-in-polygon tests
        local = shapely.clip_by_rect(territory.polygon(p), lon.min(), lat.min(), lon.max(), lat.max())
        out[p] = float(np.mean(shapely.contains_xy(local, lon, lat)))
    return out


def _line_points(territory, k, seed):
    """k points on the real line of contact (spread along its main part), slightly displaced."""
    rng = np.random.default_rng(seed)
    line = territory.contact_line
    km = rng.uniform(0, line.part_lengths_m[0] / 1000.0, k)
    lon, lat, _az = line.point_at(km, 0)
    return np.asarray(lon) + rng.normal(0, 0.0015, k), np.asarray(lat) + rng.normal(0, 0.001, k)


def test_integral_matches_monte_carlo_on_real_polygons_near_the_line(territory):
    """Points straddling the real line, elongated and rotated covariances, 1e6 samples each."""
    rng = np.random.default_rng(20260106)
    lons, lats = _line_points(territory, 5, seed=7)
    covs = np.stack(
        [
            _cov(400.0, 40.0, 0.3),
            _cov(150.0, 150.0, 0.0),
            _cov(900.0, 60.0, 2.0),
            _cov(60.0, 8.0, 1.1),
            _cov(2500.0, 700.0, 2.7),
        ]
    )
    got = att.attribute_positions(territory, lons, lats, covs)
    straddling = 0
    for i in range(len(lons)):
        mc = _monte_carlo(territory, lons[i], lats[i], covs[i], 1_000_000, rng)
        for p in territory.parties:
            se = math.sqrt(max(mc[p] * (1 - mc[p]), 1e-6) / 1e6)
            assert abs(got[p][i] - mc[p]) < max(3 * se, 2e-4), (i, p, got[p][i], mc[p])
        straddling += all(0.01 < mc[p] < 0.99 for p in territory.parties)
    assert straddling >= 3  # the test really exercises boundary integration
    total = sum(got[p] for p in territory.parties)
    assert np.all(total <= 1.0 + 1e-12)


def test_mass_at_sea_is_undetermined(territory):
    """Near the Black Sea coast part of the mass lies outside every polygon: the sum stays < 1."""
    # A point on the coast of the Kinburn spit area, open sea to the south.
    coast = shapely.get_coordinates(territory.polygon("UA").exterior)
    lon0, lat0 = coast[np.argmin(coast[:, 1])]  # southernmost vertex of UA: on the sea shore
    cov = _cov(2000.0, 2000.0, 0.0)[None]
    got = att.attribute_positions(territory, [lon0], [lat0], cov)
    total = sum(float(v[0]) for v in got.values())
    mc = _monte_carlo(territory, lon0, lat0, cov[0], 400_000, np.random.default_rng(3))
    assert total < 0.9
    assert abs(total - sum(mc.values())) < 0.004


def test_far_from_the_line_is_certain_and_fast_path(territory):
    lon = np.array([30.52, 37.6, 34.1])  # Kyiv; Donetsk area (RU-held); Crimea (RU-held)
    lat = np.array([50.45, 48.0, 45.0])
    cov = np.stack([_cov(300.0, 100.0, 0.4)] * 3)
    got = att.attribute_positions(territory, lon, lat, cov)
    assert got["UA"].tolist() == [1.0, 0.0, 0.0]
    assert got["RU"].tolist() == [0.0, 1.0, 1.0]


def test_half_plane_known_answer():
    """A huge square whose west edge passes d metres east of the estimate: P = Phi(-d / sigma_e)."""
    lon0, lat0 = 0.0, 0.0
    for d_m, cov in [
        (30.0, _cov(50.0, 50.0, 0.0)),
        (-80.0, _cov(200.0, 20.0, 0.7)),
        (0.5, _cov(10.0, 3.0, 1.3)),
    ]:
        x_edge = d_m / 111_319.49079327357  # metres per degree of longitude at the equator
        terr = {"A": box(x_edge, -1.0, x_edge + 2.0, 1.0)}
        got = att.attribute_positions(terr, [lon0], [lat0], cov[None])["A"][0]
        sigma_e = math.sqrt(cov[0, 0])
        assert got == pytest.approx(norm.cdf(-d_m / sigma_e), abs=2e-7)


@settings(max_examples=60, deadline=None)
@given(
    s1=st.floats(1.0, 5000.0),
    ratio=st.floats(0.01, 1.0),
    theta=st.floats(0.0, math.pi),
    dx=st.floats(-4.0, 4.0),
    dy=st.floats(-4.0, 4.0),
    w=st.floats(0.2, 6.0),
)
def test_rectangle_property(s1, ratio, theta, dx, dy, w):
    """Rectangle with an axis-aligned (rotated only by 0 or 90 deg) covariance has a product answer; a
    rotated covariance must give the same total over the plane split into two halves (additivity)."""
    cov = _cov(s1, s1 * ratio, theta)
    m = 1.0 / 111_319.49079327357  # degrees of longitude per metre at the equator
    my = 1.0 / 110_574.2727  # degrees of latitude per metre at the equator (meridian radius)
    # two rectangles sharing an edge: their probabilities add up to the union's
    x0, x1, x2 = dx * s1 * m, (dx + w) * s1 * m, (dx + 2 * w) * s1 * m
    y0, y1 = dy * s1 * my, (dy + w) * s1 * my
    left, right, union = box(x0, y0, x1, y1), box(x1, y0, x2, y1), box(x0, y0, x2, y1)
    got = att.attribute_positions({"L": left, "R": right}, [0.0], [0.0], cov[None])
    whole = att.attribute_positions({"U": union}, [0.0], [0.0], cov[None])["U"][0]
    assert got["L"][0] + got["R"][0] == pytest.approx(whole, abs=1e-9)
    # axis-aligned covariance: exact product of one-dimensional probabilities
    diag = np.diag([s1 * s1, (s1 * ratio) ** 2])
    got_d = att.attribute_positions({"U": union}, [0.0], [0.0], diag[None])["U"][0]
    sx, sy = s1, s1 * ratio
    ex = (norm.cdf(x2 / m / sx) - norm.cdf(x0 / m / sx)) * (norm.cdf(y1 / my / sy) - norm.cdf(y0 / my / sy))
    # (an estimate exactly on a corner is nudged by 1 micrometre: allow for it)
    assert got_d == pytest.approx(ex, abs=2e-6 + 1e-6 / (s1 * ratio))


def test_estimate_exactly_on_a_vertex_and_edge():
    """A boundary point is measure-zero: the result must still be the continuous limit (1/2, 1/4)."""
    terr = {"A": box(0.0, -1.0, 1.0, 1.0), "B": box(-1.0, -1.0, 0.0, 1.0)}
    cov = _cov(100.0, 100.0, 0.0)[None]
    on_edge = att.attribute_positions(terr, [0.0], [0.0], cov)
    assert on_edge["A"][0] == pytest.approx(0.5, abs=1e-4)
    assert on_edge["B"][0] == pytest.approx(0.5, abs=1e-4)
    corner = att.attribute_positions({"C": box(0.0, 0.0, 1.0, 1.0)}, [0.0], [0.0], cov)
    assert corner["C"][0] == pytest.approx(0.25, abs=1e-4)


def test_invalid_covariance_rejected():
    with pytest.raises(ValueError, match="positive semidefinite"):
        att.attribute_positions({"A": box(0, 0, 1, 1)}, [0.5], [0.5], np.array([[[1.0, 5.0], [5.0, 1.0]]]))
    with pytest.raises(ValueError, match="non-finite"):
        att.attribute_positions({"A": box(0, 0, 1, 1)}, [0.5], [0.5], np.array([[[np.nan, 0.0], [0.0, 1.0]]]))


def test_zero_covariance_is_a_point():
    got = att.attribute_positions({"A": box(0, 0, 1, 1)}, [0.5, 1.5], [0.5, 0.5], np.zeros((2, 2, 2)))
    assert got["A"].tolist() == [1.0, 0.0]


def test_floor_widens_uncertainty():
    terr = {"A": box(0.0, -1.0, 1.0, 1.0)}
    x = -20.0 / 111_319.49079327357  # 20 m west of the edge, outside A
    cov = _cov(10.0, 10.0, 0.0)[None]
    plain = att.attribute_positions(terr, [x], [0.0], cov)["A"][0]
    floored = att.attribute_positions(terr, [x], [0.0], cov, floor_m=10.0)["A"][0]
    assert plain == pytest.approx(norm.cdf(-2.0), abs=1e-6)
    assert floored == pytest.approx(norm.cdf(-20.0 / math.sqrt(200.0)), abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Events: threshold, impacts, publication
# ---------------------------------------------------------------------------------------------


def _feature(eid, etype, lon, lat, cov, **extra):
    props = {"id": eid, "type": etype, "time": "2026-01-06T03:00:00Z", "cov_en_m2": cov, "reports": []}
    props.update(extra)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def _half_plane_terr():
    return {"EAST": box(0.0, -1.0, 1.0, 1.0), "WEST": box(-1.0, -1.0, 0.0, 1.0)}


def test_threshold_exactly_at_just_below_just_above():
    terr = _half_plane_terr()
    # 1.6449 sigma east of the border: P(EAST) ~ 0.95
    sigma = 100.0
    x = 164.4854 / 111_319.49079327357
    cov = [[sigma**2, 0.0], [0.0, sigma**2]]
    probe = [_feature("L1", "launch", x, 0.0, cov)]
    att.apply_attribution(probe, terr, {"attribution_threshold": 0.95})
    p = probe[0]["properties"]["attribution"]["EAST"]
    assert 0.949 < p < 0.951
    for threshold, expected in [(p, "EAST"), (math.nextafter(p, 0.0), "EAST"), (p + 1e-6, None)]:
        feats = [_feature("L1", "launch", x, 0.0, cov)]
        att.apply_attribution(feats, terr, {"attribution_threshold": threshold})
        assert feats[0]["properties"]["attribution"]["EAST"] == p
        assert feats[0]["properties"]["responsible"] == expected, threshold


def test_default_threshold_is_095_and_published_values_are_floored():
    terr = _half_plane_terr()
    cov = [[100.0**2, 0.0], [0.0, 100.0**2]]
    xs = [d / 111_319.49079327357 for d in (164.0, 165.0, 300.0)]
    feats = [_feature(f"L{i}", "launch", x, 0.0, cov) for i, x in enumerate(xs)]
    att.apply_attribution(feats, terr, None)
    exact = [norm.cdf(d / 100.0) for d in (164.0, 165.0, 300.0)]
    for f, e in zip(feats, exact, strict=True):
        a = f["properties"]["attribution"]
        assert a["EAST"] <= e and e - a["EAST"] < 1.01e-6  # floored to 1e-6, never rounded up
        assert sum(a.values()) <= 1.0
    assert [f["properties"]["responsible"] for f in feats] == [None, "EAST", "EAST"]


def test_bad_threshold_is_a_clear_error():
    from truceline.errors import TrucelineError

    with pytest.raises(TrucelineError, match="threshold"):
        att.apply_attribution([], _half_plane_terr(), {"attribution_threshold": 0.4})


def test_impact_follows_its_launch_and_orphan_impact_is_undetermined():
    terr = _half_plane_terr()
    cov = [[50.0**2, 0.0], [0.0, 50.0**2]]
    launch = _feature("L", "launch", -0.01, 0.0, cov, impact_event="I")  # ~1.1 km inside WEST
    impact = _feature("I", "impact", 0.02, 0.0, cov, launch_event="L")  # lands in EAST
    orphan = _feature("J", "impact", -0.02, 0.0, cov)  # lands in WEST: says nothing about who fired
    dangling = _feature("K", "impact", 0.02, 0.0, cov, launch_event="nope")
    launch2 = _feature("L2", "launch", 0.01, 0.0, cov, impact_event="I2")  # link written on the launch only
    impact2 = _feature("I2", "impact", -0.02, 0.0, cov)
    feats = [impact, orphan, launch, dangling, impact2, launch2]  # impacts listed before launches on purpose
    att.apply_attribution(feats, terr, None)
    assert impact2["properties"]["attribution"] == {"EAST": 1.0, "WEST": 0.0}
    assert impact2["properties"]["responsible"] == "EAST"
    assert launch["properties"]["attribution"] == {"EAST": 0.0, "WEST": 1.0}
    assert launch["properties"]["responsible"] == "WEST"
    assert impact["properties"]["attribution"] == {"EAST": 0.0, "WEST": 1.0}
    assert impact["properties"]["responsible"] == "WEST"
    for f in (orphan, dangling):
        assert f["properties"]["attribution"] == {}
        assert f["properties"]["responsible"] is None


def test_sighting_uses_position_and_other_types_are_undetermined():
    terr = _half_plane_terr()
    cov = [[30.0**2, 0.0], [0.0, 30.0**2]]
    sight = _feature("S", "weapon_sighting", 0.005, 0.0, cov, object="tank")
    thermal = _feature("T", "thermal", 0.005, 0.0, cov)
    monitor = _feature("M", "monitor_report", 0.005, 0.0, cov)
    bad_cov = _feature("B", "launch", 0.005, 0.0, [[1.0, 9.0], [9.0, 1.0]])
    no_cov = _feature("N", "launch", 0.005, 0.0, None)
    feats = [sight, thermal, monitor, bad_cov, no_cov]
    att.apply_attribution(feats, terr, None)
    assert sight["properties"]["attribution"] == {"EAST": 1.0, "WEST": 0.0}
    assert sight["properties"]["responsible"] == "EAST"
    for f in (thermal, monitor, bad_cov, no_cov):
        assert f["properties"]["attribution"] == {} and f["properties"]["responsible"] is None


def test_sighting_confidence_scales_attribution():
    """A decoy is nobody's weapon: a 0.6-confidence look deep inside EAST is not named."""
    terr = _half_plane_terr()
    cov = [[30.0**2, 0.0], [0.0, 30.0**2]]
    sure = _feature("S1", "weapon_sighting", 0.005, 0.0, cov, object="tank", confidence=0.99)
    doubtful = _feature("S2", "weapon_sighting", 0.005, 0.0, cov, object="tank", confidence=0.6)
    launch = _feature("L", "launch", 0.005, 0.0, cov, confidence=0.1)  # only sightings carry it
    att.apply_attribution([sure, doubtful, launch], terr, None)
    assert sure["properties"]["attribution"]["EAST"] == pytest.approx(0.99)
    assert sure["properties"]["responsible"] == "EAST"
    assert doubtful["properties"]["attribution"] == {"EAST": pytest.approx(0.6), "WEST": 0.0}
    assert doubtful["properties"]["responsible"] is None
    assert launch["properties"]["responsible"] == "EAST"


def test_acoustic_fix_without_redundancy_is_not_attributed():
    terr = _half_plane_terr()
    cov = [[30.0**2, 0.0], [0.0, 30.0**2]]
    weak = _feature("A1", "launch", 0.005, 0.0, cov, sources={"acoustic": 4}, quality={"dof": 1.2})
    strong = _feature("A2", "launch", 0.005, 0.0, cov, sources={"acoustic": 9}, quality={"dof": 6.0})
    with_radar = _feature("A3", "launch", 0.005, 0.0, cov, sources={"acoustic": 4, "radar": 1},
                          quality={"dof": 1.2})
    impact = _feature("I1", "impact", -0.005, 0.0, cov, launch_event="A1")
    att.apply_attribution([weak, strong, with_radar, impact], terr, None)
    assert weak["properties"]["attribution"] == {} and weak["properties"]["responsible"] is None
    assert impact["properties"]["responsible"] is None
    assert strong["properties"]["responsible"] == "EAST"
    assert with_radar["properties"]["responsible"] == "EAST"


@pytest.mark.parametrize(("n", "azimuths", "share", "background", "named"), [
    (4, 0, 0.0, 0.01, True),  # four arrivals no other source predicts, quiet arrays: a source of its own
    (5, 0, 0.2, 0.01, True),  # one arrival predicted by chance, four of its own left
    (5, 0, 0.4, 0.01, False),  # two leftovers of other sources + three detections: not enough of its own
    (4, 0, 0.25, 0.01, False),
    (3, 1, 0.0, 0.01, True),  # three arrivals and an azimuth locate a source
    (3, 0, 0.0, 0.01, False),
    (4, 0, 0.0, 0.2, False),  # busy arrays: four clutter detections line up by chance there
    (4, 0, None, 0.01, False),  # the analysis did not check: stays undetermined
    (4, 0, 0.0, None, False),
])
def test_barely_determined_fix_is_named_only_when_its_arrivals_are_its_own(n, azimuths, share, background, named):
    terr = _half_plane_terr()
    cov = [[30.0**2, 0.0], [0.0, 30.0**2]]
    q = {"dof": 1.2, "n_azimuths": azimuths}
    if share is not None:
        q["explained_by_others"] = share
    if background is not None:
        q["background"] = background
    f = _feature("A1", "launch", 0.005, 0.0, cov, sources={"acoustic": n}, quality=q)
    att.apply_attribution([f], terr, None)
    assert (f["properties"]["responsible"] == "EAST") is named
    if not named:
        assert f["properties"]["attribution"] == {}
        assert "redundant measurements" in (att.withheld_reason(f["properties"]) or "")


def test_ellipse_95():
    major, minor, az = att.ellipse_95(_cov(100.0, 10.0, 0.0))  # major axis east
    k = math.sqrt(-2 * math.log(0.05))
    assert major == pytest.approx(100.0 * k) and minor == pytest.approx(10.0 * k)
    assert az == pytest.approx(90.0)
    _, _, az2 = att.ellipse_95([[100.0, 99.0], [99.0, 100.0]])  # north-east
    assert az2 == pytest.approx(45.0)


# ---------------------------------------------------------------------------------------------
# Calibration helpers
# ---------------------------------------------------------------------------------------------


def test_brier_score_known_values():
    assert att.brier_score([1.0, 0.0], [1, 0]) == 0.0
    assert att.brier_score([0.5, 0.5], [1, 0]) == 0.25
    assert att.brier_score([0.9, 0.2, 0.7], [True, False, False]) == pytest.approx((0.01 + 0.04 + 0.49) / 3)
    with pytest.raises(ValueError):
        att.brier_score([1.2], [1])
    with pytest.raises(ValueError):
        att.brier_score([0.5], [2])


def test_calibration_table_of_a_calibrated_predictor():
    rng = np.random.default_rng(11)
    p = rng.random(200_000)
    y = rng.random(200_000) < p
    rows = att.calibration_table(p, y, bins=10)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == 200_000
    for r in rows:
        assert r["bin_low"] <= r["mean_predicted"] < r["bin_high"]
        assert abs(r["observed_frequency"] - r["mean_predicted"]) < 0.01
        assert r["ci_low"] <= r["observed_frequency"] <= r["ci_high"]
    # an over-confident predictor is visibly off in the extreme bins
    bad = att.calibration_table(np.clip(p * 1.6 - 0.3, 0, 1), y, bins=10)
    assert bad[-1]["observed_frequency"] < bad[-1]["mean_predicted"] - 0.05


def test_calibration_table_edges_and_empty_bins():
    rows = att.calibration_table([0.0, 1.0, 1.0, 0.25], [0, 1, 0, 1], bins=4)
    assert [r["count"] for r in rows] == [1, 1, 0, 2]
    assert rows[3]["observed_frequency"] == 0.5
    assert math.isnan(rows[2]["mean_predicted"])


@pytest.mark.parametrize("offset_m", [-5e-6, 5e-6, -3e-4, 3e-4])
def test_estimate_within_the_lens_between_edge_and_chord(offset_m):
    """Edges are straight in lon/lat; in the tangent plane they bow slightly away from their chords.
    An estimate micrometres from a long diagonal edge at 60 N must still be ~50/50 and the two
    parties' probabilities must sum to one (the side test and the edge integral agree)."""
    a0, a1 = (10.0, 60.0), (10.04, 60.03)
    terr = {
        "A": shapely.Polygon([a0, a1, (10.04, 59.9), (10.0, 59.9)]),
        "B": shapely.Polygon([a0, (10.0, 60.1), (10.04, 60.1), a1]),
    }
    f = 0.37
    lon, lat = a0[0] + f * (a1[0] - a0[0]), a0[1] + f * (a1[1] - a0[1])
    c = math.cos(math.radians(lat))
    ux, uy = (a1[0] - a0[0]) * c * 111_320.0, (a1[1] - a0[1]) * 111_000.0
    norm_len = math.hypot(ux, uy)
    lon += -uy / norm_len * offset_m / (111_320.0 * c)
    lat += ux / norm_len * offset_m / 111_000.0
    cov = _cov(0.5, 0.2, 0.4)[None]
    got = att.attribute_positions(terr, [lon], [lat], cov)
    assert got["A"][0] + got["B"][0] == pytest.approx(1.0, abs=1e-6)
    assert abs(got["A"][0] - 0.5) < 2e-3


def test_attribution_is_calibrated_when_the_covariance_is_honest(territory):
    """End to end: true positions uniform in a 4 km band along the real line, estimates drawn from
    the stated covariance; the predicted probability of the estimate's party must match how often
    the truth lies there (reliability table), and the Brier score must beat a constant predictor."""
    rng = np.random.default_rng(42)
    n = 20_000
    line_km = territory.contact_line.part_lengths_m[0] / 1000.0
    km = rng.uniform(20.0, line_km - 20.0, n)
    dist = rng.uniform(0.0, 2000.0, n)
    side = rng.random(n) < 0.5
    tlon, tlat = np.empty(n), np.empty(n)
    for party, sel in (("UA", side), ("RU", ~side)):
        tlon[sel], tlat[sel] = territory.offset_from_line(km[sel], dist[sel], party)
    s1 = rng.uniform(50.0, 600.0, n)
    s2 = s1 * rng.uniform(0.2, 1.0, n)
    th = rng.uniform(0.0, math.pi, n)
    c, s = np.cos(th), np.sin(th)
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0] = c * c * s1**2 + s * s * s2**2
    cov[:, 1, 1] = s * s * s1**2 + c * c * s2**2
    cov[:, 0, 1] = cov[:, 1, 0] = c * s * (s1**2 - s2**2)
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(cov), rng.standard_normal((n, 2)))
    elon = tlon + noise[:, 0] / (111_320.0 * np.cos(np.radians(tlat)))
    elat = tlat + noise[:, 1] / 110_950.0
    probs = att.attribute_positions(territory, elon, elat, cov)
    truth = territory.party_at(tlon, tlat)
    p = probs["UA"]
    outcome = truth == "UA"
    rows = att.calibration_table(p, outcome, bins=10)
    for r in rows:
        if r["count"] >= 300:
            se = math.sqrt(max(r["mean_predicted"] * (1 - r["mean_predicted"]), 0.01) / r["count"])
            assert abs(r["observed_frequency"] - r["mean_predicted"]) < max(4 * se, 0.015), r
    assert att.brier_score(p, outcome) < 0.5 * att.brier_score(np.full(n, outcome.mean()), outcome)
    # of the events a party would be named for (p >= 0.95), the truth is that party's >= 95 % of the time
    named = p >= 0.95
    assert named.sum() > 1000 and outcome[named].mean() >= 0.95
