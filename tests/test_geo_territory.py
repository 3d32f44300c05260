"""Territory loading: validation errors, repairs, and the line of contact on synthetic inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.errors import InputError
from truceline.geo import GEOD, load_territory


def write_fc(tmp_path, features, name="t.geojson"):
    fc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": props, "geometry": geom} for props, geom in features],
    }
    path = tmp_path / name
    path.write_text(json.dumps(fc))
    return path


def poly(*rings):
    return {"type": "Polygon", "coordinates": [list(map(list, r)) for r in rings]}


WEST = poly([(30, 48), (31, 48), (31, 49), (30, 49), (30, 48)])
EAST = poly([(31, 48), (32, 48), (32, 49), (31, 49), (31, 48)])


def test_two_boxes_share_one_edge(tmp_path):
    t = load_territory(write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, EAST)]))
    line = t.contact_line
    assert t.parties == ("A", "B")
    assert len(line.parts) == 1
    expected = GEOD.inv(31, 48, 31, 49)[2]
    assert line.length_m == pytest.approx(expected, abs=0.5)  # ends trimmed by <= 0.1 m at the outer edge
    start, end = line.parts[0].coords[0], line.parts[0].coords[-1]
    assert start[1] == pytest.approx(49) and end[1] == pytest.approx(48)  # north first
    assert line.part_sides[0] == ("B", "A")  # walking south, east (B) is on the left


def test_not_json(tmp_path):
    p = tmp_path / "bad.geojson"
    p.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.geojson: not valid JSON"):
        load_territory(p)


def test_not_feature_collection(tmp_path):
    p = tmp_path / "fc.geojson"
    p.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": WEST}))
    with pytest.raises(InputError, match="not a GeoJSON FeatureCollection"):
        load_territory(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_territory(tmp_path / "nope.geojson")


def test_feature_without_party(tmp_path):
    p = write_fc(tmp_path, [({"party": "A"}, WEST), ({"name": "x"}, EAST)])
    with pytest.raises(InputError, match=r"feature 1: missing or empty 'party'"):
        load_territory(p)


def test_non_polygon_geometry(tmp_path):
    p = write_fc(
        tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, {"type": "Point", "coordinates": [31, 48]})]
    )
    with pytest.raises(InputError, match="'Point' is not Polygon or MultiPolygon"):
        load_territory(p)


def test_swapped_coordinates_rejected(tmp_path):
    bad = poly([(48, 100), (49, 100), (49, 101), (48, 101), (48, 100)])
    p = write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, bad)])
    with pytest.raises(InputError, match="outside lon"):
        load_territory(p)


def test_single_party(tmp_path):
    p = write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "A"}, EAST)])
    with pytest.raises(InputError, match=r"only one party \(A\)"):
        load_territory(p)


def test_same_party_features_are_unioned(tmp_path):
    north = poly([(32, 48), (33, 48), (33, 49), (32, 49), (32, 48)])
    t = load_territory(
        write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, EAST), ({"party": "A"}, north)])
    )
    assert t.polygon("A").geom_type == "MultiPolygon"
    # B now borders A on both its west and east edges
    assert t.contact_line.length_m == pytest.approx(2 * GEOD.inv(31, 48, 31, 49)[2], abs=1.0)


def test_overlapping_parties(tmp_path):
    shifted = poly([(30.9, 48), (32, 48), (32, 49), (30.9, 49), (30.9, 48)])
    p = write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, shifted)])
    with pytest.raises(InputError, match=r"parties A and B overlap by [0-9.]+ km2") as exc:
        load_territory(p)
    area = float(str(exc.value).split("overlap by ")[1].split(" km2")[0])
    assert 700 < area < 900  # 0.1 deg x 1 deg at 48.5N is ~7.4 km x 111 km


def test_bow_tie_is_repaired_with_warning(tmp_path):
    bow = poly([(31, 48), (32, 49), (32, 48), (31, 49), (31, 48)])
    t = load_territory(write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, bow)]))
    assert len(t.warnings) == 1
    assert t.warnings[0].startswith("repaired ") and "Self-intersection" in t.warnings[0]
    assert t.polygon("B").is_valid
    # the repaired bow-tie is two triangles; the western one keeps the closing edge along 31E
    assert t.area_km2("B") == pytest.approx(t.area_km2("A") / 2, rel=0.01)
    assert t.contact_line.length_m == pytest.approx(GEOD.inv(31, 48, 31, 49)[2], abs=0.5)


def test_unrepairable_polygon(tmp_path):
    flat = poly([(31, 48), (32, 48), (31.5, 48), (31, 48)])
    p = write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, flat)])
    with pytest.raises(InputError, match="cannot be repaired"):
        load_territory(p)


def test_sub_metre_gap_counts_as_shared_but_wider_gap_does_not(tmp_path):
    # B's west edge 0.5 m east of A's east edge (about 7.4e-6 deg of longitude at 48.5N)
    d = 0.5 / 74_000
    near = poly([(31 + d, 48), (32, 48), (32, 49), (31 + d, 49), (31 + d, 48)])
    t = load_territory(write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, near)]))
    assert t.contact_line.length_m == pytest.approx(GEOD.inv(31, 48, 31, 49)[2], rel=1e-4)
    d = 5.0 / 74_000
    far = poly([(31 + d, 48), (32, 48), (32, 49), (31 + d, 49), (31 + d, 48)])
    t = load_territory(write_fc(tmp_path, [({"party": "A"}, WEST), ({"party": "B"}, far)], "far.geojson"))
    assert t.contact_line.parts == []


def test_three_parties_with_mismatched_vertices(tmp_path):
    # A west; B north-east and C south-east, their common edge at 48.5N; B's edges have
    # extra vertices and sit 0.4 m off A's; C's top edge 0.4 m below B's.
    e = 0.4 / 74_000
    a = poly([(30, 48), (31, 48), (31, 49), (30, 49), (30, 48)])
    b = poly([(31 + e, 48.5), (32, 48.5), (32, 49), (31 + e, 49), (31 + e, 48.7), (31 + e, 48.5)])
    c = poly(
        [(31, 48), (32, 48), (32, 48.5 - 0.4 / 111_000), (31.3, 48.5 - 0.4 / 111_000), (31, 48.5), (31, 48)]
    )
    t = load_territory(write_fc(tmp_path, [({"party": "A"}, a), ({"party": "B"}, b), ({"party": "C"}, c)]))
    line = t.contact_line
    by_sides = {frozenset(sd): L for sd, L in zip(line.part_sides, line.part_lengths_m, strict=True)}
    assert len(line.parts) == 3  # three edges meeting at the triple junction
    assert by_sides[frozenset("AB")] == pytest.approx(GEOD.inv(31, 48.5, 31, 49)[2], abs=3)
    assert by_sides[frozenset("AC")] == pytest.approx(GEOD.inv(31, 48, 31, 48.5)[2], abs=3)
    # the B|C edge runs along the parallel (straight in lon/lat), a bit longer than the geodesic
    assert by_sides[frozenset("BC")] == pytest.approx(GEOD.inv(31, 48.5, 32, 48.5)[2], rel=1e-3)
    sides = {frozenset(s) for s in line.part_sides}
    assert sides == {frozenset("AB"), frozenset("AC"), frozenset("BC")}
    # the three parts meet: every end near the junction is within 3 m of (31, 48.5)
    ends = [p.coords[k] for p in line.parts for k in (0, -1)]
    near = [GEOD.inv(x, y, 31, 48.5)[2] for x, y in ends]
    assert sum(d < 3 for d in near) == 3


def test_enclave_is_a_closed_part(tmp_path):
    outer = poly(
        [(30, 48), (32, 48), (32, 49), (30, 49), (30, 48)],
        [(30.5, 48.2), (30.5, 48.6), (31, 48.6), (31, 48.2), (30.5, 48.2)],
    )
    hole = poly([(30.5, 48.2), (31, 48.2), (31, 48.6), (30.5, 48.6), (30.5, 48.2)])
    t = load_territory(write_fc(tmp_path, [({"party": "A"}, outer), ({"party": "B"}, hole)]))
    line = t.contact_line
    assert len(line.parts) == 1 and line.parts[0].is_closed
    assert line.parts[0].coords[0][1] == pytest.approx(48.6)  # starts at the northernmost vertex
    assert np.isclose(
        line.length_m,
        2 * GEOD.inv(30.5, 48.2, 30.5, 48.6)[2]
        + GEOD.inv(30.5, 48.2, 31, 48.2)[2]
        + GEOD.inv(30.5, 48.6, 31, 48.6)[2],
        rtol=1e-4,
    )
    assert t.party_at(30.75, 48.4)[()] == "B"
    assert t.signed_distance_m(30.75, 48.4, "B") > 0


@settings(max_examples=40, deadline=None)
@given(lat0=st.floats(-60.0, 60.0), dlon=st.floats(-0.5, 0.5).filter(lambda d: abs(d) > 1e-4),
       dlat=st.floats(-0.4, 0.4))
def test_line_of_contact_on_the_antimeridian(tmp_path_factory, lat0, dlon, dlat):
    """Parties split at +-180 as RFC 7946 asks (west: 179..180, east: -180..-179), even on
    the equator: the shared edge is found and distances are the geodesic ones to it."""
    tmp = tmp_path_factory.mktemp("am")
    lo, hi = lat0 - 1.0, lat0 + 1.0
    west = poly([(179, lo), (180, lo), (180, hi), (179, hi), (179, lo)])
    east = poly([(-180, lo), (-179, lo), (-179, hi), (-180, hi), (-180, lo)])
    t = load_territory(write_fc(tmp, [({"party": "W"}, west), ({"party": "E"}, east)]))
    assert t.contact_line.length_m == pytest.approx(GEOD.inv(180, lo, 180, hi)[2], rel=1e-6)
    lon = 180.0 + dlon if dlon < 0 else -180.0 + dlon
    lat = lat0 + dlat
    d = float(t.distance_to_line_m(lon, lat))
    along_parallel = GEOD.inv(lon, lat, 180.0, lat)[2]  # the nearest point is all but on the parallel
    assert along_parallel * (1 - 1e-4) - 0.01 <= d <= along_parallel * (1 + 1e-5) + 0.01  # docs/geo.md accuracy
    assert np.sign(float(t.signed_distance_m(lon, lat, "W"))) == (1 if dlon < 0 else -1)
