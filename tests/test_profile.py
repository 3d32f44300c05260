"""Agreement profile: shipped defaults and every validation error."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from truceline.errors import InputError
from truceline.profile import DEFAULT_PROFILE_PATH, SECTIONS, load_profile, parse_profile, register_section


@pytest.fixture()
def base() -> dict:
    return tomllib.loads(DEFAULT_PROFILE_PATH.read_text())


def test_defaults():
    p = load_profile()
    assert p.parties == ("UA", "RU")
    assert p.attribution_threshold == 0.95 and p.sector_km == 50 and p.public_position_grid_m == 1000
    assert p.buffer_zone_m == 2000
    assert p.ceasefire_start_s == 1767657600.0  # 2026-01-06T00:00:00Z
    # Minsk II per-side distances and the 2015 addendum
    assert p.exclusion_distance_m("artillery", 152) == 25_000
    assert p.exclusion_distance_m("artillery", 100) == 25_000  # min inclusive
    assert p.exclusion_distance_m("artillery", 85) == 15_000
    assert p.exclusion_distance_m("mlrs", 122) == 35_000
    assert p.exclusion_distance_m("mlrs", 300) == 70_000
    assert p.exclusion_distance_m("tank") == 15_000
    assert p.exclusion_distance_m("mortar", 120) == 15_000
    assert p.exclusion_distance_m("mortar", 240) == 25_000
    # unknown calibre -> the smallest band of the class (conservative for accusing)
    assert p.exclusion_distance_m("artillery") == 15_000
    assert p.exclusion_distance_m("mlrs") == 35_000
    assert p.exclusion_distance_m("truck") is None and p.exclusion_distance_m("unknown") is None
    codes = [r.code for r in p.rules]
    assert len(set(codes)) == len(codes)
    assert {
        "fire.launch",
        "fire.impact",
        "buffer.presence",
        "withdrawal.artillery_100mm",
        "withdrawal.mlrs_heavy",
    } <= set(codes)
    assert [r.code for r in p.rules_for("launch")] == ["fire.launch"]
    w = p.rule("withdrawal.mlrs_heavy")
    assert w.kind == "exclusion" and w.classes == ("mlrs",) and w.params["distance_km"] == 70.0


def test_vectorized_lookup_matches_scalar():
    p = load_profile()
    classes = np.array(
        ["artillery", "artillery", "mlrs", "mlrs", "truck", "mortar", "tank", "mortar"], dtype=object
    )
    cal = np.array([np.nan, 152, 122, 300, np.nan, 82, np.nan, 121])
    got = p.exclusion_distances_m(classes, cal)
    for c, k, g in zip(classes, cal, got, strict=True):
        want = p.exclusion_distance_m(c, None if math.isnan(k) else float(k))
        assert (math.isnan(g) and want is None) or g == want


def test_profile_is_frozen():
    p = load_profile()
    with pytest.raises(AttributeError):
        p.sector_km = 10  # type: ignore[misc]


def _err(doc, match):
    with pytest.raises(InputError, match=match):
        parse_profile(doc, "p.toml")


def test_unknown_top_level_key(base):
    base["remedies"] = {}
    _err(base, r"p\.toml: remedies: unknown key")


def test_missing_key(base):
    del base["parties"]
    _err(base, r"p\.toml: parties: missing required key")


def test_unknown_nested_key(base):
    base["exclusion"][0]["range_km"] = 3
    _err(base, r"exclusion\[0\]\.range_km: unknown key")


def test_wrong_type(base):
    base["exclusion"][0]["distance_km"] = "25"
    _err(base, r"exclusion\[0\]\.distance_km: expected a number, got string")
    base["exclusion"][0]["distance_km"] = True
    _err(base, r"exclusion\[0\]\.distance_km: expected a number, got boolean")


def test_negative_distance(base):
    base["exclusion"][1]["distance_km"] = -1
    _err(base, r"exclusion\[1\]\.distance_km: must be >= 0")
    base["exclusion"][1]["distance_km"] = 15
    base["buffer_zone_km"] = -2
    _err(base, r"buffer_zone_km: must be >= 0")


@pytest.mark.parametrize("value", [0.5, 0.3, 1.01, "high"])
def test_threshold_range(base, value):
    base["attribution_threshold"] = value
    _err(base, r"attribution_threshold: ")


def test_threshold_one_is_allowed(base):
    base["attribution_threshold"] = 1
    assert parse_profile(base).attribution_threshold == 1.0


@pytest.mark.parametrize("value", ["2026-01-06", "2026-01-06T00:00:00+01:00", "2026-13-06T00:00:00Z", 5])
def test_bad_ceasefire_start(base, value):
    base["ceasefire_start"] = value
    _err(base, r"ceasefire_start: ")


def test_toml_datetime_ceasefire_start(tmp_path):
    text = DEFAULT_PROFILE_PATH.read_text().replace(
        'ceasefire_start = "2026-01-06T00:00:00Z"', "ceasefire_start = 2026-02-01T12:00:00Z"
    )
    f = tmp_path / "p.toml"
    f.write_text(text)
    assert load_profile(f).ceasefire_start == "2026-02-01T12:00:00Z"


def test_duplicate_rule_code(base):
    base["rules"].append(dict(base["rules"][0]))
    _err(base, r"rules\[3\]\.code: duplicate rule code 'fire\.launch'")


def test_bad_rule_kind_and_code(base):
    base["rules"][0]["kind"] = "shooting"
    _err(base, r"rules\[0\]\.kind: must be one of fire, exclusion, buffer")
    base["rules"][0]["kind"] = "fire"
    base["rules"][0]["code"] = "Fire Launch"
    _err(base, r"rules\[0\]\.code: must be dotted")


def test_overlapping_calibre_bands(base):
    base["exclusion"][1]["max_caliber_mm"] = 120  # light artillery now overlaps the >= 100 mm band
    _err(base, r"exclusion\[1\]: calibre range of class 'artillery' overlaps exclusion\[0\]")


def test_inverted_calibre_range(base):
    base["exclusion"][0]["max_caliber_mm"] = 90
    _err(base, r"exclusion\[0\]\.max_caliber_mm: must be greater than min_caliber_mm")


def test_parties(base):
    base["parties"] = ["UA"]
    _err(base, r"parties: an agreement needs at least two parties")
    base["parties"] = ["UA", "UA"]
    _err(base, r"parties: contains duplicates")


def test_sector_km_positive(base):
    base["sector_km"] = 0
    _err(base, r"sector_km: must be positive")


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(InputError, match=r"bad\.toml: not valid TOML"):
        load_profile(bad)
    with pytest.raises(InputError, match="cannot read profile"):
        load_profile(tmp_path / "missing.toml")


def test_explicit_withdrawal_rule_overrides_generated(base):
    base["rules"].append(
        {
            "code": "withdrawal.tank",
            "kind": "exclusion",
            "applies_to": ["weapon_sighting"],
            "description": "custom",
        }
    )
    p = parse_profile(base)
    assert [r.description for r in p.rules if r.code == "withdrawal.tank"] == ["custom"]


def test_registered_section(base):
    def parse_remedies(ctx, value, path):
        if not isinstance(value, dict) or "steps" not in value:
            raise ctx.fail(f"{path}.steps", "missing required key")
        return tuple(value["steps"])

    register_section("remedies_test", parse_remedies)
    try:
        base["remedies_test"] = {"steps": ["warning", "report"]}
        assert parse_profile(base).extra["remedies_test"] == ("warning", "report")
        base["remedies_test"] = {}
        _err(base, r"remedies_test\.steps: missing required key")
    finally:
        SECTIONS.pop("remedies_test")
