"""Rule checking against the default profile on the real 2026-01-06 territory."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from shapely.geometry import shape

from truceline.analysis import rules as R
from truceline.errors import InputError
from truceline.formats import format_time, parse_time
from truceline.geo import Territory
from truceline.profile import load_profile, parse_profile

TERRITORY_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "territory_2026-01-06.geojson"


@pytest.fixture(scope="module")
def territory():
    doc = json.loads(TERRITORY_FILE.read_text())
    return Territory({f["properties"]["party"]: shape(f["geometry"]) for f in doc["features"]})


@pytest.fixture(scope="module")
def profile():
    return load_profile()


@pytest.fixture(scope="module")
def place(territory):
    """place(distance_m, party) -> (lon, lat) whose true distance to the line is within 0.5 % of it."""
    cache: dict = {}

    def _place(distance_m: float, party: str = "UA"):
        key = (distance_m, party)
        if key in cache:
            return cache[key]
        length_km = territory.contact_line.part_lengths_m[0] / 1000.0
        for km in np.linspace(50.0, length_km - 50.0, 97):
            try:
                lon, lat = territory.offset_from_line(float(km), distance_m, party)
            except InputError:
                continue
            d = float(territory.distance_to_line_m(lon, lat))
            if abs(d - distance_m) <= 0.005 * distance_m + 1.0 and territory.party_at(lon, lat) == party:
                cache[key] = (lon, lat)
                return lon, lat
        raise AssertionError(f"no place {distance_m} m from the line in {party}")

    return _place


def _event(eid, etype, lonlat, time, cov=((900.0, 0.0), (0.0, 900.0)), **extra):
    props = {"id": eid, "type": etype, "time": time, "cov_en_m2": [list(r) for r in cov], "reports": []}
    props.update(extra)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(lonlat)},
        "properties": props,
    }


def _after(profile, seconds=3600.0):
    return format_time(parse_time(profile.ceasefire_start) + seconds)


def _violations(features, territory, profile, **kw):
    R.evaluate_rules(features, territory, profile, **kw)
    return [f["properties"]["violations"] for f in features]


def test_fire_rules_before_and_after_the_ceasefire_start(territory, profile, place):
    pos = place(5000.0, "RU")
    after, before, exactly = _after(profile), _after(profile, -60.0), profile.ceasefire_start
    feats = [
        _event("L1", "launch", pos, after),
        _event("L0", "launch", pos, before),
        _event("L2", "launch", pos, exactly),
        _event("I1", "impact", pos, after),
        _event("I0", "impact", pos, before),
    ]
    assert _violations(feats, territory, profile) == [
        ["fire.launch"],
        [],
        ["fire.launch"],
        ["fire.impact"],
        [],
    ]


def test_fire_rule_with_uncertain_time_needs_the_threshold(territory, profile, place):
    pos = place(5000.0, "RU")
    close_before = _event("L", "launch", pos, _after(profile, 1.0), time_sigma_s=10.0)  # P(after) = 0.54
    well_after = _event("M", "launch", pos, _after(profile, 30.0), time_sigma_s=10.0)  # P(after) = 0.9987
    assert _violations([close_before, well_after], territory, profile) == [[], ["fire.launch"]]
    findings = R.check_rules([close_before], territory, profile)[0]
    assert findings[0].probability == pytest.approx(0.5398, abs=1e-3)
    assert not findings[0].broken


def _band_case(entry):
    """(object class, calibre) inside the calibre band of an exclusion entry."""
    if entry.min_caliber_mm is not None:
        return entry.object_class, float(entry.min_caliber_mm)
    if entry.max_caliber_mm is not None:
        return entry.object_class, float(entry.max_caliber_mm) - 1.0
    return entry.object_class, None


def test_every_withdrawal_rule_of_the_default_profile(territory, profile, place):
    assert len(profile.exclusion) >= 8
    for entry in profile.exclusion:
        cls, cal = _band_case(entry)
        extra = {"object": cls} | ({"caliber_mm": cal} if cal is not None else {})
        inside = place(entry.distance_m * 0.5, "UA")
        outside = place(entry.distance_m * 1.3, "RU")
        feats = [
            _event("in", "weapon_sighting", inside, _after(profile), **extra),
            _event("out", "weapon_sighting", outside, _after(profile), **extra),
            _event("early", "weapon_sighting", inside, _after(profile, -3600.0), **extra),
        ]
        got = _violations(feats, territory, profile)
        assert got[0] == [entry.code], (entry.code, got)
        assert got[1] == [] and got[2] == [], (entry.code, got)


def test_unknown_calibre_uses_the_smallest_band(territory, profile, place):
    """Artillery of unknown calibre at 12 km breaks the 15 km band whatever its calibre; at 20 km
    (inside 25 km only if the calibre were >= 100 mm) it breaks nothing."""
    feats = [
        _event("a", "weapon_sighting", place(12_000.0), _after(profile), object="artillery"),
        _event("b", "weapon_sighting", place(20_000.0), _after(profile), object="artillery"),
        _event("c", "weapon_sighting", place(20_000.0), _after(profile), object="artillery", caliber_mm=152),
        _event("d", "weapon_sighting", place(20_000.0), _after(profile), object="artillery", caliber_mm=82),
    ]
    assert _violations(feats, territory, profile) == [
        ["withdrawal.artillery_light"],
        [],
        ["withdrawal.artillery_100mm"],
        [],
    ]
    # the finding says the calibre was not observed (its code names the light band)
    ev = {f.code: f.evidence for f in R.check_rules(feats[:1], territory, profile)[0]}
    assert "no look reported the calibre" in ev["withdrawal.artillery_light"]
    ev_c = {f.code: f.evidence for f in R.check_rules(feats[2:3], territory, profile)[0]}
    assert "no look reported the calibre" not in ev_c["withdrawal.artillery_100mm"]


def test_buffer_presence(territory, profile, place):
    half = profile.buffer_zone_m
    near_ua, near_ru = place(0.4 * half, "UA"), place(0.4 * half, "RU")
    feats = [
        _event("apc", "weapon_sighting", near_ua, _after(profile), object="apc"),
        _event("tank", "weapon_sighting", near_ru, _after(profile), object="tank"),
        _event("truck", "weapon_sighting", near_ua, _after(profile), object="truck"),  # not a listed class
        _event("far", "weapon_sighting", place(2.0 * half), _after(profile), object="apc"),
        _event("early", "weapon_sighting", near_ua, _after(profile, -7200.0), object="apc"),
        _event("thermal", "thermal", near_ua, _after(profile)),
    ]
    got = _violations(feats, territory, profile)
    assert got == [["buffer.presence"], ["buffer.presence", "withdrawal.tank"], [], [], [], []]
    z = [f["properties"]["zone"] for f in feats]
    assert z[0] == "UA" and z[1] == "RU" and z[3] == "UA"  # the party; nearness is the distance
    d = feats[0]["properties"]["distance_to_line_m"]
    assert d == pytest.approx(0.4 * half, rel=0.01)


def test_coin_toss_position_does_not_break_a_rule(territory, profile, place):
    """A tank estimated right at the limit (P inside ~ 0.5) breaks nothing; 2.5 sigma inside it does."""
    sigma = 60.0
    cov = ((sigma**2, 0.0), (0.0, sigma**2))
    pos = place(15_000.0)
    d = float(territory.distance_to_line_m(*pos))

    def rule(limit_m, min_probability=None):
        params = {"distance_km": limit_m / 1000.0}
        if min_probability is not None:
            params["min_probability"] = min_probability
        return [
            {
                "code": "withdrawal.tank",
                "kind": "exclusion",
                "applies_to": ["weapon_sighting"],
                "description": "tanks",
                "classes": ["tank"],
                "params": params,
            }
        ]

    feats = [_event("a", "weapon_sighting", pos, _after(profile), cov=cov, object="tank")]
    at_limit = R.check_rules(feats, territory, profile, rules=rule(d))[0][0]
    inside = R.check_rules(feats, territory, profile, rules=rule(d + 2.5 * sigma))[0][0]
    outside = R.check_rules(feats, territory, profile, rules=rule(d - 2.5 * sigma))[0][0]
    assert at_limit.probability == pytest.approx(0.5, abs=0.01) and not at_limit.broken
    assert inside.probability == pytest.approx(norm.cdf(2.5), abs=0.01) and inside.broken
    assert outside.probability < 0.01 and not outside.broken
    assert "P(within" in inside.evidence and "exclusion band" in inside.evidence
    # a profile demanding only "more likely than not" flags a position slightly inside the limit
    assert _violations(feats, territory, profile, rules=rule(d + 0.5 * sigma, 0.6)) == [["withdrawal.tank"]]
    assert _violations(feats, territory, profile, rules=rule(d + 0.5 * sigma)) == [[]]


def test_missing_covariance_breaks_no_position_rule(territory, profile, place):
    f = _event("x", "weapon_sighting", place(1000.0), _after(profile), object="tank")
    f["properties"]["cov_en_m2"] = None
    findings = R.check_rules([f], territory, profile)[0]
    assert findings and all(not g.broken and g.probability is None for g in findings)


def test_band_probability_known_values():
    p = R.band_probability(np.array([0.0, 1000.0, 1000.0]), np.array([100.0, 100.0, 50.0]), 1000.0)
    assert p[0] == pytest.approx(1.0 - 2 * 7.6e-24, abs=1e-12)
    assert p[1] == pytest.approx(0.5, abs=1e-12)
    assert p[2] == pytest.approx(0.5, abs=1e-12)
    p2 = R.band_probability(np.array([800.0]), np.array([100.0]), 1000.0)[0]
    assert p2 == pytest.approx(0.5 * (math.erf(2 / math.sqrt(2)) + 1) - 0.5 * (math.erfc(18 / math.sqrt(2))))


def test_profile_with_wrong_fields_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    text = (Path(__file__).resolve().parents[1] / "src/truceline/data/profiles/default.toml").read_text()
    bad.write_text(text.replace('kind = "buffer"', 'kind = "bufer"'))
    with pytest.raises(InputError, match=r"bad.toml: rules\[2\]\.kind"):
        load_profile(bad)
    bad.write_text(text.replace("attribution_threshold = 0.95", "attribution_threshold = 1.5"))
    with pytest.raises(InputError, match="attribution_threshold"):
        load_profile(bad)


def _profile_doc(**overrides):
    """A minimal valid profile document (two parties, no exclusion bands) with overrides."""
    doc = {
        "name": "t",
        "parties": ["UA", "RU"],
        "ceasefire_start": "2026-01-06T00:00:00Z",
        "exclusion": [],
        "buffer_zone_km": 2.0,
        "attribution_threshold": 0.95,
        "sector_km": 50.0,
        "public_position_grid_m": 1000.0,
    }
    doc.update(overrides)
    return doc


def test_rule_params_the_checker_cannot_honour_are_errors(territory, profile):
    doc = _profile_doc(
        rules=[
            {
                "code": "fire.launch",
                "kind": "fire",
                "applies_to": ["launch"],
                "description": "d",
                "params": {"min_probabilty": 0.9},
            }
        ],
    )
    p = parse_profile(doc, "t.toml")
    with pytest.raises(InputError, match=r"rules\[0\] \(fire.launch\)\.params: unknown key 'min_probabilty'"):
        R.evaluate_rules([], territory, p)
    doc["rules"][0]["params"] = {"min_probability": 2}
    with pytest.raises(InputError, match="min_probability"):
        R.evaluate_rules([], territory, parse_profile(doc, "t.toml"))
    with pytest.raises(InputError, match="unknown rule kind"):
        R.evaluate_rules([], territory, p, rules=[{"code": "x.y", "kind": "zone", "applies_to": ["launch"]}])


def test_disabled_rule_and_effective_delay(territory, place, profile):
    doc = _profile_doc(
        exclusion=[{"class": "tank", "distance_km": 15.0, "rule": "tank"}],
        rules=[
            {
                "code": "fire.launch",
                "kind": "fire",
                "applies_to": ["launch"],
                "description": "d",
                "enabled": False,
            },
            {
                "code": "withdrawal.tank",
                "kind": "exclusion",
                "applies_to": ["weapon_sighting"],
                "classes": ["tank"],
                "description": "tanks 15 km back within 48 h",
                "params": {"distance_km": 15.0, "effective_after_h": 48},
            },
        ],
    )
    p = parse_profile(doc, "t.toml")
    pos = place(5000.0)
    feats = [
        _event("l", "launch", pos, "2026-01-07T00:00:00Z"),
        _event("t1", "weapon_sighting", pos, "2026-01-07T00:00:00Z", object="tank"),
        _event("t2", "weapon_sighting", pos, "2026-01-08T00:00:01Z", object="tank"),
    ]
    assert _violations(feats, territory, p) == [[], [], ["withdrawal.tank"]]


def test_doubtful_sighting_breaks_no_position_rule(territory, profile, place):
    """A sighting's combined confidence must reach the profile's sighting_min_confidence (or the
    rule's params.min_confidence) before a withdrawal or buffer finding rests on it."""
    deep_in_band = place(5_000.0, "UA")
    gate = profile.sighting_min_confidence
    feats = [
        _event("sure", "weapon_sighting", deep_in_band, _after(profile), object="tank", confidence=min(1.0, gate + 0.05)),
        _event("doubt", "weapon_sighting", deep_in_band, _after(profile), object="tank", confidence=gate - 0.05),
        _event("none", "weapon_sighting", deep_in_band, _after(profile), object="tank"),  # no confidence reported
    ]
    assert _violations(feats, territory, profile) == [["withdrawal.tank"], [], ["withdrawal.tank"]]
    findings = R.check_rules(feats[1:2], territory, profile)[0]
    assert "below" in findings[0].evidence and f"{gate:g}" in findings[0].evidence
    # a rule may set its own operating point
    strict = [{"code": "withdrawal.tank", "kind": "exclusion", "applies_to": ["weapon_sighting"], "classes": ["tank"],
               "params": {"distance_km": 15.0, "min_confidence": 0.99}}]
    assert _violations([feats[0]], territory, profile, rules=strict) == [[]]
    lax = parse_profile(_profile_doc(sighting_min_confidence=0.1, rules=[], exclusion=[{"class": "tank", "distance_km": 15.0,
                                                                               "rule": "tank"}]), "lax.toml")
    assert _violations([feats[1]], territory, lax) == [["withdrawal.tank"]]


def test_doubtful_sighting_in_a_band_is_listed_to_confirm(territory, profile, place):
    """A position that breaks a rule on a sighting too doubtful for a finding is listed in
    violations_to_confirm (where to send another look); nothing is listed for credible
    sightings (they are violations) or for positions that break nothing."""
    gate = profile.sighting_min_confidence
    feats = [
        _event("doubt_in", "weapon_sighting", place(5_000.0, "UA"), _after(profile), object="tank", confidence=gate / 2),
        _event("doubt_buffer", "weapon_sighting", place(500.0, "RU"), _after(profile), object="tank",
               confidence=gate / 2),
        _event("sure_in", "weapon_sighting", place(5_000.0, "UA"), _after(profile), object="tank", confidence=0.99),
        _event("doubt_out", "weapon_sighting", place(40_000.0, "UA"), _after(profile), object="tank",
               confidence=gate / 2),
    ]
    assert _violations(feats, territory, profile) == [[], [], ["withdrawal.tank"], []]
    listed = [f["properties"].get("violations_to_confirm") for f in feats]
    assert listed == [["withdrawal.tank"], ["buffer.presence", "withdrawal.tank"], None, None]  # profile order
    found = {f.code: f for f in R.check_rules(feats[:1], territory, profile)[0]}
    assert found["withdrawal.tank"].to_confirm and "another look" in found["withdrawal.tank"].evidence
    assert not found["buffer.presence"].to_confirm and "another look" not in found["buffer.presence"].evidence
    # a second pass with a credible confidence clears the list
    feats[0]["properties"]["confidence"] = 0.99
    assert _violations(feats[:1], territory, profile) == [["withdrawal.tank"]]
    assert "violations_to_confirm" not in feats[0]["properties"]


def test_sighting_min_confidence_must_be_a_probability(territory):
    with pytest.raises(InputError, match=r"x.toml: sighting_min_confidence: must be in \[0, 1\]"):
        parse_profile(_profile_doc(sighting_min_confidence=1.5, rules=[]), "x.toml")
    doc = _profile_doc(rules=[{"code": "buffer.presence", "kind": "buffer", "applies_to": ["weapon_sighting"], "description": "d",
                               "params": {"min_confidence": -0.1}}])
    with pytest.raises(InputError, match=r"params.min_confidence: must be a number in \[0, 1\]"):
        R.evaluate_rules([], territory, parse_profile(doc, "x.toml"))


def test_a_doubtful_radar_track_is_no_fire(territory, profile, place):
    """A radar-only launch the nearby arrays did not hear (quality.uncorroborated) breaks no fire
    rule: its existence is in doubt. The same launch without the flag does."""
    pos = place(8_000.0, "UA")
    doubtful = _event("L1", "launch", pos, _after(profile), quality={"uncorroborated": True, "near_arrays": 6})
    sure = _event("L2", "launch", pos, _after(profile), quality={"near_arrays": 6, "heard_arrays": 6})
    assert _violations([doubtful, sure], territory, profile) == [[], ["fire.launch"]]
    finding = R.check_rules([doubtful], territory, profile)[0][0]
    assert finding.code == "fire.launch" and not finding.broken and "in doubt" in finding.evidence
