"""Fast, exact RFC 8785 (JCS) canonical JSON bytes.

`rfc8785.dumps` is exact but costs ~18 us per report; `orjson.dumps(..., OPT_SORT_KEYS)`
costs under 1 us and produces the same bytes whenever

* every number is rendered the way ECMAScript's shortest round-trip form renders it
  (orjson and ECMAScript agree on the digits; they differ only in notation: orjson writes
  `2.0`, `-0.0`, `1e+16`, `1e-6` where JCS wants `2`, `0`, `10000000000000000`,
  `0.000001`, and orjson writes `null` for NaN/Infinity where JCS must refuse), and
  integers are within the I-JSON range (JCS treats numbers as IEEE doubles; integers
  above 2**53 are not representable exactly, and `rfc8785` refuses them);
* strings need no escaping beyond what JCS requires (both escape only `"`, `\\` and
  U+0000..U+001F, with the same short forms and lowercase `\\u00xx`);
* integer-valued floats lose their ".0" (orjson "2.0", JCS "2");
* object keys sort the same by UTF-8 bytes (orjson) as by UTF-16 code units (JCS): true
  unless a key holds characters above U+FFFF.

`canonical_bytes` renders with orjson, then looks (substring searches, in C) for anything
that could differ; integer-valued floats are converted to ints and rendered again, and
anything else suspicious (exponents, `null`, 16+ digit runs, characters above U+FFFF)
falls back to `rfc8785`, so the result is always exactly JCS. A search can also hit
inside a string (e.g. a text containing `e-5` or `null`); that only costs the exact
path, never a wrong answer. Equivalence with `rfc8785` is property-tested (tests/test_jcs.py). Shared by every stage through `truceline.formats.canonical_bytes`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import rfc8785

_SORT = orjson.OPT_SORT_KEYS
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_SIXTEEN_DIGITS = b"0" * 16
_EXPONENT = re.compile(rb"\de[-+]\d")
_ASTRAL_LEAD = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # UTF-8 lead bytes above U+FFFF


def _ints_for_integral_floats(value: Any) -> Any:
    """Copy of `value` with integer-valued floats below 1e16 as ints (JCS writes 2.0 as 2)."""
    if value.__class__ is float:
        return int(value) if value.is_integer() and abs(value) < 1e16 else value
    if isinstance(value, dict):
        return {k: _ints_for_integral_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ints_for_integral_floats(v) for v in value]
    return value


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of `obj` (exact; fast for typical reports).

    Raises `rfc8785.CanonicalizationError` subclasses (ValueError-like) for values JCS
    cannot represent: NaN/Infinity, integers outside +-(2**53 - 1), lone surrogates.
    All checks are substring searches in C; a hit inside a string only costs the exact
    (slow) path, never a wrong answer.
    """
    try:
        out = orjson.dumps(obj, option=_SORT)
        if b".0," in out or b".0}" in out or b".0]" in out or out.endswith(b".0"):
            out = orjson.dumps(_ints_for_integral_floats(obj), option=_SORT)
    except (orjson.JSONEncodeError, TypeError):
        return rfc8785.dumps(obj)
    if (
        (b"e-" in out or b"e+" in out) and _EXPONENT.search(out) is not None  # exponent notation
        or b"null" in out  # orjson writes NaN/Infinity as null
        or _SIXTEEN_DIGITS in out.translate(_DIGITS_TO_ZERO)  # integers that may exceed 2**53
        or (not out.isascii() and any(lead in out for lead in _ASTRAL_LEAD))  # key order by UTF-16
    ):
        return rfc8785.dumps(obj)
    return out


def canonical_bytes_checked(obj: Any) -> bytes | None:
    """Like `canonical_bytes` but returns None instead of raising for unrepresentable values."""
    try:
        return canonical_bytes(obj)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, OverflowError):
        return None
