"""The fast RFC 8785 canonicalizer equals `rfc8785.dumps` byte for byte."""

from __future__ import annotations

import math
import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.jcs import canonical_bytes, canonical_bytes_checked

SAFE = 2**53 - 1

scalars = (
    st.none() | st.booleans() | st.integers(-SAFE, SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e-5, max_value=1e-5)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=1e15, max_value=1e22)
    | st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]).filter(math.isfinite)
    | st.text() | st.text(alphabet=st.characters(max_codepoint=0x7F))
    | st.sampled_from(["\u2028", "\x7f", "/", "\\", '"', "\x00\x1f", "\U0001f600", "\ue000", "é"])
)
values = st.recursive(
    scalars,
    lambda ch: st.lists(ch, max_size=5) | st.dictionaries(st.text(max_size=6) | st.sampled_from(
        ["\U0001f600", "\ue000", "a", "b", "é", "€"]), ch, max_size=5),
    max_leaves=25,
)


@settings(max_examples=800, deadline=None)
@given(values)
def test_equals_rfc8785(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value,expected", [
    (2.0, b"2"), (-0.0, b"0"), (1e21, b"1e+21"), (1e-7, b"1e-7"), (1e-6, b"0.000001"), (1e16, b"10000000000000000"),
    (123456789.123, b"123456789.123"), (5e-324, b"5e-324"), (1.7976931348623157e308, b"1.7976931348623157e+308"),
    ({"b": 1, "a": [1.0, "x:2.0,"]}, b'{"a":[1,"x:2.0,"],"b":1}'),
    ({"\ue000": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ue000":1}'.encode()),  # UTF-16 order
    ("\u2028\x7f\x1f", b'"\xe2\x80\xa8\x7f\\u001f"'),
])
def test_known_answers(value, expected):
    assert canonical_bytes(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [2**53], {"a": -(2**60)}, "\ud800"])
def test_unrepresentable_refused(value):
    with pytest.raises(Exception):  # noqa: B017 - rfc8785 raises its own error classes
        canonical_bytes(value)
    assert canonical_bytes_checked(value) is None


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "body", "id", "sig", "sih", "sif", "z"]), values, min_size=1),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=12))
def test_signed_message_cut_out_of_entry(obj, sig):
    """The message the signature covers, cut out of the full entry, equals the JCS of the
    report without `sig` (including reports whose body repeats a "sig" member)."""
    from truceline.ingest.validate import _without_sig

    report = {**obj, "sig": sig}
    if isinstance(report.get("body"), dict) and len(sig) % 2:
        report["body"] = {**report["body"], "sig": sig}  # nested duplicate of the member text
    entry = rfc8785.dumps(report)
    unsigned = {k: v for k, v in report.items() if k != "sig"}
    assert _without_sig(entry, report) == rfc8785.dumps(unsigned)
