"""The line of contact and point queries on the real territory snapshots."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from truceline.geo import GEOD, default_territory_path, geodesic_forward, load_territory
from truceline.geo.territory import DATA_DIR


@pytest.fixture(scope="module")
def t2026():
    return load_territory(default_territory_path())


@pytest.fixture(scope="module")
def t2025():
    return load_territory(DATA_DIR / "territory_2025-07-15.geojson")


def independent_length_m(t) -> float:
    """Shared boundary by plain Shapely intersection of the two boundaries, measured with Geod."""
    a, b = (t.polygon(p) for p in t.parties)
    inter = shapely.intersection(shapely.boundary(a), shapely.boundary(b))
    lines = [g for g in shapely.get_parts(inter) if g.geom_type in ("LineString", "MultiLineString")]
    return sum(GEOD.geometry_length(shapely.segmentize(g, 0.01)) for g in lines)


def independent_distance_m(t, lon, lat) -> np.ndarray:
    """Brute force: geodesic distance to every vertex of the line densified to ~10 m.

    A cheap equirectangular pre-filter (5 % + 2 km margin) keeps the exact Geod.inv calls
    to the vertices that can possibly be nearest.
    """
    verts = np.concatenate([np.asarray(shapely.segmentize(g, 0.0001).coords) for g in t.contact_line.parts])
    out = []
    for x, y in zip(lon, lat, strict=True):
        approx = 111_195.0 * np.hypot(
            (verts[:, 0] - x) * np.cos(np.radians((y + verts[:, 1]) / 2)), verts[:, 1] - y
        )
        cand = verts[approx <= 1.05 * approx.min() + 2_000.0]
        _f, _b, d = GEOD.inv(np.full(len(cand), x), np.full(len(cand), y), cand[:, 0], cand[:, 1])
        out.append(d.min())
    return np.asarray(out)


@pytest.mark.parametrize("which", ["t2026", "t2025"])
def test_length_matches_independent_computation(which, request):
    t = request.getfixturevalue(which)
    ours = t.contact_line.length_m
    assert ours == pytest.approx(independent_length_m(t), rel=0.02)
    main = t.contact_line.part_lengths_m[0]
    assert 1_100_000 < main < 1_300_000


def test_parts_are_ordered_and_oriented(t2026):
    line = t2026.contact_line
    assert line.part_lengths_m == sorted(line.part_lengths_m, reverse=True)
    assert sum(line.part_lengths_m) == pytest.approx(line.length_m)
    for g in line.parts:
        assert g.coords[0][1] >= g.coords[-1][1]
    main = line.parts[0]
    # the main line runs from the Russian border in Kharkiv oblast to the Dnipro estuary
    assert main.coords[0][1] > 49.8 and main.coords[-1][0] < 33.0
    assert line.part_sides[0] == ("RU", "UA")  # walking south, Russian-held land is to the east (left)


@pytest.mark.parametrize(
    "name,lon,lat,party,km_range",
    [
        ("Kyiv", 30.52, 50.45, "UA", (250, 500)),
        ("Donetsk", 37.80, 48.00, "RU", (5, 100)),
        ("Simferopol", 34.10, 44.95, "RU", (150, 300)),
        ("Kharkiv", 36.23, 49.99, "UA", (10, 60)),
        ("Zaporizhzhia", 35.14, 47.84, "UA", (5, 60)),
    ],
)
def test_hand_checked_points(t2026, name, lon, lat, party, km_range):
    assert t2026.party_at(lon, lat)[()] == party
    d = float(t2026.distance_to_line_m(lon, lat))
    assert km_range[0] * 1000 < d < km_range[1] * 1000, name
    assert d == pytest.approx(independent_distance_m(t2026, [lon], [lat])[0], rel=1e-3, abs=20)
    s = float(t2026.signed_distance_m(lon, lat, "UA"))
    assert (s > 0) == (party == "UA") and abs(s) == pytest.approx(d)


def test_outside_every_polygon(t2026):
    # Black Sea south of Odesa, and Belgorod (Russia, outside the file)
    lon, lat = np.array([30.8, 36.58]), np.array([45.8, 50.60])
    assert list(t2026.party_at(lon, lat)) == ["", ""]
    assert (t2026.signed_distance_m(lon, lat, "UA") < 0).all()
    assert (t2026.signed_distance_m(lon, lat, "RU") < 0).all()


def test_distances_against_brute_force(t2026):
    rng = np.random.default_rng(7)
    line = t2026.contact_line
    km = rng.uniform(0, line.part_lengths_m[0] / 1000, 40)
    off = rng.uniform(-60_000, 60_000, 40)
    lon, lat, az = line.point_at(km, 0)
    lon, lat = geodesic_forward(lon, lat, az + 90, off)
    ours = t2026.distance_to_line_m(lon, lat)
    ref = independent_distance_m(t2026, lon, lat)
    # the brute force measures to vertices <= ~11 m apart, so it overestimates by < 1 m
    assert np.all(ours <= ref + np.maximum(1e-5 * ref, 0.01))
    assert np.all(ref - ours <= np.maximum(1e-3 * ref, 1.0))


def test_locate_and_point_at_agree(t2026):
    line = t2026.contact_line
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(33, 39, 500), rng.uniform(46, 51, 500)
    nlon, nlat, km, part = line.locate(lon, lat)
    assert (km >= 0).all() and (km <= np.asarray(line.part_lengths_m)[part] / 1000 + 1e-9).all()
    assert (line.distance_m(nlon, nlat) < 0.5).all()
    for p in np.unique(part):
        sel = part == p
        plon, plat, _az = line.point_at(km[sel], int(p))
        _f, _b, d = GEOD.inv(plon, plat, nlon[sel], nlat[sel])
        assert d.max() < 0.5


def test_offset_from_line(t2026):
    line = t2026.contact_line
    km = np.linspace(5, line.part_lengths_m[0] / 1000 - 5, 60)
    for party in ("UA", "RU"):
        for dist in (500.0, 3_000.0, 20_000.0):
            lon, lat = t2026.offset_from_line(km, dist, party)
            inside = t2026.party_at(lon, lat) == party
            assert inside.mean() >= 0.9, (party, dist, inside.mean())
            d = t2026.distance_to_line_m(lon, lat)
            assert (d <= dist + 0.5).all()
            assert np.median(d[inside]) > 0.6 * dist
    lon, lat = t2026.offset_from_line(600.0, 500.0, "RU")
    assert isinstance(lon, float)


def test_sectors(t2026):
    line = t2026.contact_line
    secs = t2026.sectors(50)
    names = [s.name for s in secs]
    assert len(set(names)) == len(names) and names[0] == "A-01"
    for p, L in enumerate(line.part_lengths_m):
        ps = [s for s in secs if s.part == p]
        assert ps[0].start_km == 0 and ps[-1].end_km == pytest.approx(L / 1000)
        assert all(s.length_km <= 50 + 1e-9 for s in ps)
        assert all(a.end_km == pytest.approx(b.start_km) for a, b in zip(ps, ps[1:], strict=False))
    mids = [s for s in secs if s.part == 0][:5]
    lon, lat, az = line.point_at(np.array([(s.start_km + s.end_km) / 2 for s in mids]), 0)
    lon, lat = geodesic_forward(lon, lat, az + 90, 200.0)
    assert list(t2026.sector_of(lon, lat, 50)) == [s.name for s in mids]


coords = st.tuples(st.floats(33.0, 39.5), st.floats(46.0, 51.0))


@settings(max_examples=60, deadline=None)
@given(st.lists(coords, min_size=1, max_size=30))
@example(pts=[(34.3515625, 47.484375)])  # 1.5 mm between the two distances, 120 m from the line
def test_properties(pts):
    t = _T[0] if _T else _T.append(load_territory(default_territory_path())) or _T[0]
    lon = np.array([p[0] for p in pts])
    lat = np.array([p[1] for p in pts])
    d = t.distance_to_line_m(lon, lat)
    assert (d >= 0).all()
    party = t.party_at(lon, lat)
    for p in t.parties:
        s = t.signed_distance_m(lon, lat, p)
        assert np.array_equal(s > 0, (party == p) & (d > 0))
        assert np.allclose(np.abs(s), d)
    nlon, nlat, _km, _part = t.contact_line.locate(lon, lat)
    assert (t.contact_line.distance_m(nlon, nlat) < 0.5).all()
    _f, _b, dn = GEOD.inv(lon, lat, nlon, nlat)
    # up to ~5 mm apart near the line (200,000 random points, docs/geo.md), 1e-5 relative beyond
    assert np.allclose(dn, d, rtol=1e-5, atol=0.01)


_T: list = []
