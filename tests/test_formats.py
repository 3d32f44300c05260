"""Spec primitives: time strings, canonical bytes and the spec's signed example reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truceline import formats

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec"


def test_example_reports_verify_with_registry_keys():
    sensors = {s["id"]: s for s in json.loads((SPEC / "examples_sensors.json").read_text())}
    reports = [json.loads(line) for line in (SPEC / "examples_reports.jsonl").read_text().splitlines() if line]
    assert len(reports) == 11
    for report in reports:
        key = formats.public_key_from_b64(sensors[report["sensor"]]["public_key"])
        assert formats.verify_object(report, key), report["id"]
        tampered = dict(report, seq=report["seq"] + 1)
        assert not formats.verify_object(tampered, key)


def test_sign_then_verify_roundtrip():
    key = formats.new_private_key()
    obj = {"id": "x", "body": {"b": 1.5, "a": [1, 2]}, "time": "2026-01-06T00:00:00Z"}
    obj["sig"] = formats.sign_object(obj, key)
    pub = formats.public_key_from_b64(formats.public_key_b64(key))
    assert formats.verify_object(obj, pub)
    assert not formats.verify_object(dict(obj, sig="AAAA"), pub)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1970-01-01T00:00:00Z", 0.0),
        ("2026-01-06T03:14:15.123456Z", 1767669255.123456),
        ("2026-01-06T03:14:15.5Z", 1767669255.5),
    ],
)
def test_parse_time_known_values(text, expected):
    assert formats.parse_time(text) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    "bad",
    ["2026-01-06 03:14:15Z", "2026-01-06T03:14:15", "2026-01-06T03:14:15+00:00",
     "2026-13-06T03:14:15Z", "2026-01-06T03:14:15.1234567Z", "", "now"],
)
def test_parse_time_rejects(bad):
    with pytest.raises(ValueError):
        formats.parse_time(bad)


@given(st.integers(min_value=0, max_value=4_102_444_800_000_000))
def test_format_parse_roundtrip(micros):
    t = micros / 1e6
    text = formats.format_time(t)
    assert text.endswith("Z")
    assert abs(formats.parse_time(text) - t) < 1e-6


def test_loads_strict_refuses_what_json_does_not_allow():
    assert formats.loads_strict('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}

    class Dup(Exception):
        pass

    with pytest.raises(Dup, match="duplicate key 'a'"):
        formats.loads_strict('{"b": {"a": 1, "a": 2}}', duplicate_error=Dup)
    with pytest.raises(ValueError, match="duplicate key"):
        formats.loads_strict('{"a": 1, "a": 1}')
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError, match="is not JSON"):
            formats.loads_strict(f'{{"x": {constant}}}')
