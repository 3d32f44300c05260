"""Stateless checks of one report line: parse, schema, sensor, signature.

This is the part of ingest that needs no memory of other lines, so it runs in worker
processes. The stateful checks (`conflict`, `replay`, duplicates) happen afterwards, in
input order, in `truceline.ingest.pipeline`.

Decisions on hostile input (documented in docs/evidence.md, tested with a fixture corpus
and hypothesis):

* bytes that are not UTF-8, NaN/Infinity, trailing garbage, nesting deeper than the JSON
  parser's limit, a line longer than `MAX_LINE_BYTES`, and any JSON value that is not an
  object are `malformed`;
* a UTF-8 byte-order mark is tolerated at the very start of the input (line 1) only;
  anywhere else it makes the line `malformed`;
* a JSON object that is valid JSON but not I-JSON (RFC 7493), so that it has no RFC 8785
  form to sign, is `schema`: duplicate member names, escaped lone surrogates, numbers
  that overflow a double, integers beyond +-(2**53 - 1);
* unknown extra fields (envelope or body) are allowed: the spec lets producers add
  optional fields, and they are covered by the signature and logged as received.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import orjson

from truceline import formats
from truceline.ingest import ed25519
from truceline.jcs import canonical_bytes_checked

MAX_LINE_BYTES = 1 << 20
RAW_KEEP_CHARS = 65536
BOM = b"\xef\xbb\xbf"

MALFORMED = "malformed"
SCHEMA = "schema"
UNKNOWN_SENSOR = "unknown_sensor"
BAD_SIGNATURE = "bad_signature"
CONFLICT = "conflict"
REPLAY = "replay"
REASONS = (MALFORMED, SCHEMA, UNKNOWN_SENSOR, BAD_SIGNATURE, CONFLICT, REPLAY)

_KEY_RE = re.compile(rb'"[ \t\r\n]*:')
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_SAFE_INT = (1 << 53) - 1


class SchemaError(Exception):
    """A report violates the spec schema; the message is the quarantine `detail`."""


# ---------------------------------------------------------------------------- raw text


def raw_text(raw: bytes) -> str:
    """Text kept in quarantine for a raw line: the line itself when it is valid UTF-8
    without NUL, else a lossless backslash-escaped rendering of the bytes (so it fits a
    PostgreSQL text column); cut at RAW_KEEP_CHARS characters."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "backslashreplace")
    if "\x00" in text:
        text = text.replace("\\", "\\\\").replace("\x00", "\\x00")
    if len(text) > RAW_KEEP_CHARS:
        text = text[:RAW_KEEP_CHARS] + f"...[{len(raw)} bytes, cut]"
    return text


# ---------------------------------------------------------------------------- parsing


def _check_ijson(value: Any, depth: int = 0) -> None:
    """Raise SchemaError for values without an RFC 8785 form (slow path only)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            _check_ijson(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_ijson(v, depth + 1)
    elif isinstance(value, str):
        _check_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise SchemaError("number overflows an IEEE double")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INT:
        raise SchemaError(f"integer {value} outside the I-JSON range +-(2**53-1)")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SchemaError("string holds a lone surrogate (not I-JSON)") from None


def parse_line(raw: bytes) -> dict[str, Any]:
    """Parse one line into a dict; raises ValueError (malformed) or SchemaError."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        obj = _slow_parse(raw, str(exc))
    else:
        if not isinstance(obj, dict):
            raise ValueError(f"JSON {type(obj).__name__} is not an object")
        if b"\\" in raw:
            # Escapes can hide a key's closing quote from the fast count: re-parse exactly.
            _slow_parse(raw, "")
    return obj


def raw_key_count(raw: bytes) -> int:
    """Object keys written in a line without backslashes: each is a string whose closing
    quote is followed (after optional whitespace) by a colon, and no string can contain
    a quote without a backslash. Equals `len(_KEY_RE.findall(raw))`; when no whitespace
    byte directly precedes a colon anywhere, no key has whitespace before its colon and
    a plain count (one C scan) gives the same number."""
    if b"\t" in raw or b"\r" in raw or b"\n" in raw or b" :" in raw:  # 1-byte searches are memchr
        return len(_KEY_RE.findall(raw))
    return raw.count(b'":')


def _slow_parse(raw: bytes, fast_error: str) -> dict[str, Any]:
    """Exact parse with Python's json (duplicate keys, lone surrogates, overflow)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        obj = formats.loads_strict(text, duplicate_error=SchemaError)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except SchemaError:
        raise
    except ValueError as exc:
        raise ValueError(f"not JSON: {fast_error or exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"JSON {type(obj).__name__} is not an object")
    if fast_error:
        _check_ijson(obj)
        raise SchemaError(f"not I-JSON: {fast_error}")
    return obj


# ---------------------------------------------------------------------------- schema


_NUMBER_TYPES = (int, float)  # exact classes: parsed JSON has no subclasses (bool is one)


def _num(obj: dict[str, Any], name: str, where: str, required: bool = True) -> float | None:
    value = obj.get(name)
    if value.__class__ in _NUMBER_TYPES:  # the common case, one check
        return value
    if name not in obj:
        if required:
            raise SchemaError(f"missing {where}{name}")
        return None
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{where}{name} must be a number, got {type(value).__name__}")
    return value


def _nonneg(obj: dict[str, Any], name: str, where: str, required: bool = True) -> None:
    value = _num(obj, name, where, required)
    if value is not None and value < 0:
        raise SchemaError(f"{where}{name} is negative")


def _latlon(obj: dict[str, Any], where: str) -> None:
    lat = obj.get("lat")
    if lat.__class__ not in _NUMBER_TYPES:
        lat = _num(obj, "lat", where)
    lon = obj.get("lon")
    if lon.__class__ not in _NUMBER_TYPES:
        lon = _num(obj, "lon", where)
    if not -90.0 <= lat <= 90.0:
        raise SchemaError(f"{where}lat {lat} outside -90..90")
    if not -180.0 <= lon <= 180.0:
        raise SchemaError(f"{where}lon {lon} outside -180..180")


def _str(obj: dict[str, Any], name: str, where: str, required: bool = True) -> str | None:
    value = obj.get(name)
    if value.__class__ is str:
        return value
    if name not in obj:
        if required:
            raise SchemaError(f"missing {where}{name}")
        return None
    value = obj[name]
    if not isinstance(value, str):
        raise SchemaError(f"{where}{name} must be a string, got {type(value).__name__}")
    return value


def _enum(obj: dict[str, Any], name: str, allowed: tuple[str, ...], where: str) -> None:
    value = _str(obj, name, where)
    if value not in allowed:
        raise SchemaError(f"{where}{name} {value!r} not one of {', '.join(allowed)}")


_DAY_START: dict[str, float] = {}


def parse_time(text: str) -> float:
    """`formats.parse_time` with the start of each calendar day cached: the same regex
    decides what is a time, and the result is the same float (integer seconds are exact
    in a double, and the fraction is added the same way). Anything unusual is left to
    `formats.parse_time`, which raises its own error."""
    m = formats._TIME_RE.match(text) if text.__class__ is str else None
    if m is None:
        return formats.parse_time(text)
    day = _DAY_START.get(text[:10])
    if day is None:
        day = formats.parse_time(text[:10] + "T00:00:00Z")  # ValueError on a bad date
        if len(_DAY_START) < 100_000:
            _DAY_START[text[:10]] = day
    h, mi, sec, frac = int(text[11:13]), int(text[14:16]), int(text[17:19]), m.group(7)
    if h > 23 or mi > 59 or sec > 59:
        return formats.parse_time(text)
    t = day + (h * 3600 + mi * 60 + sec)
    return t + int(frac.ljust(6, "0")) / 1e6 if frac else t + 0.0


def _time(obj: dict[str, Any], name: str, where: str) -> float:
    value = _str(obj, name, where)
    try:
        return parse_time(value)
    except ValueError:
        raise SchemaError(f"{where}{name} {value!r} is not an RFC 3339 UTC time (…Z)") from None
    except OverflowError:
        raise SchemaError(f"{where}{name} {value!r} is out of range") from None


def _covariance(obj: dict[str, Any], where: str) -> None:
    """`cov_en_m2`: 2x2 list of numbers, symmetric and positive semi-definite.

    Symmetry allows a relative difference of 1e-6 (producers round the two off-diagonal
    entries independently); positive semi-definite means ee >= 0, nn >= 0 and
    ee*nn - en**2 >= -1e-9 * ee*nn (rounding), i.e. the matrix is a real covariance.
    """
    cov = obj.get("cov_en_m2")
    n = _NUMBER_TYPES
    if not (cov.__class__ is list and len(cov) == 2 and cov[0].__class__ is list and cov[1].__class__ is list
            and len(cov[0]) == 2 and len(cov[1]) == 2 and cov[0][0].__class__ in n and cov[0][1].__class__ in n
            and cov[1][0].__class__ in n and cov[1][1].__class__ in n):  # else: find the error
        if cov is None:
            raise SchemaError(f"missing {where}cov_en_m2")
        if not (isinstance(cov, list) and len(cov) == 2 and all(isinstance(r, list) and len(r) == 2 for r in cov)):
            raise SchemaError(f"{where}cov_en_m2 must be a 2x2 array [[ee, en], [en, nn]]")
        for row in cov:
            for v in row:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise SchemaError(f"{where}cov_en_m2 entries must be numbers")
    (ee, en1), (en2, nn) = cov
    if ee < 0 or nn < 0:
        raise SchemaError(f"{where}cov_en_m2 has a negative variance")
    if abs(en1 - en2) > 1e-6 * max(abs(en1), abs(en2), 1e-300):
        raise SchemaError(f"{where}cov_en_m2 is not symmetric")
    if ee * nn - en1 * en2 < -1e-9 * ee * nn:
        raise SchemaError(f"{where}cov_en_m2 is not positive semi-definite")


def _body_acoustic(body: dict[str, Any]) -> None:
    _enum(body, "class", formats.ACOUSTIC_CLASSES, "body.")
    _num(body, "azimuth_deg", "body.", False)
    temp = _num(body, "air_temp_c", "body.", False)
    if temp is not None and temp <= -273.15:
        raise SchemaError("body.air_temp_c at or below absolute zero")
    _nonneg(body, "wind_speed_mps", "body.", False)
    _num(body, "wind_from_deg", "body.", False)
    _num(body, "snr_db", "body.", False)


def _body_radar(body: dict[str, Any]) -> None:
    for end in ("launch", "impact"):
        point = body.get(end)
        if not isinstance(point, dict):
            raise SchemaError(f"body.{end} must be an object {{lat, lon, cov_en_m2}}")
        _latlon(point, f"body.{end}.")
        _covariance(point, f"body.{end}.")
    _time(body, "launch_time", "body.")
    _time(body, "impact_time", "body.")
    _enum(body, "projectile", formats.RADAR_PROJECTILES, "body.")


def _body_uav(body: dict[str, Any]) -> None:
    _latlon(body, "body.")
    _nonneg(body, "cep_m", "body.")
    _enum(body, "object", formats.UAV_OBJECTS, "body.")
    _nonneg(body, "caliber_mm", "body.", False)
    if "count" in body:
        count = body["count"]
        if isinstance(count, bool) or not isinstance(count, int):
            raise SchemaError("body.count must be an integer")
        if count < 0:
            raise SchemaError("body.count is negative")
    conf = _num(body, "confidence", "body.", False)
    if conf is not None and not 0.0 <= conf <= 1.0:
        raise SchemaError("body.confidence outside 0..1")
    media = _str(body, "media_sha256", "body.", False)
    if media is not None and _HEX64.fullmatch(media) is None:
        raise SchemaError("body.media_sha256 must be 64 hex digits")


def _body_satellite(body: dict[str, Any]) -> None:
    _latlon(body, "body.")
    _nonneg(body, "radius_m", "body.")
    _nonneg(body, "frp_mw", "body.")
    _enum(body, "confidence", formats.SATELLITE_CONFIDENCE, "body.")


def _body_monitor(body: dict[str, Any]) -> None:
    _latlon(body, "body.")
    _str(body, "category", "body.")
    _str(body, "text", "body.")


BODY_CHECKS = {
    "acoustic": _body_acoustic,
    "radar": _body_radar,
    "uav": _body_uav,
    "satellite": _body_satellite,
    "monitor": _body_monitor,
}


def check_schema(report: dict[str, Any]) -> tuple[float, bytes]:
    """Validate envelope and body; returns (time in epoch seconds, raw signature)."""
    rid = report.get("id")
    if not isinstance(rid, str) or not rid:
        raise SchemaError("id must be a non-empty string" if "id" in report else "missing id")
    if not rid.isprintable():
        raise SchemaError("id must not contain control or unprintable characters")
    sensor = report.get("sensor")
    if not isinstance(sensor, str) or not sensor:
        raise SchemaError("sensor must be a non-empty string" if "sensor" in report else "missing sensor")
    if not sensor.isprintable():
        raise SchemaError("sensor must not contain control or unprintable characters")
    kind = _str(report, "kind", "")
    if kind not in BODY_CHECKS:
        raise SchemaError(f"kind {kind!r} not one of {', '.join(formats.SENSOR_KINDS)}")
    seq = report.get("seq")
    if seq.__class__ is not int:
        raise SchemaError("missing seq" if "seq" not in report else "seq must be an integer")
    if seq < 0:
        raise SchemaError("seq is negative")
    t = _time(report, "time", "")
    body = report.get("body")
    if not isinstance(body, dict):
        raise SchemaError("missing body" if "body" not in report else "body must be an object")
    sig_text = report.get("sig")
    if not isinstance(sig_text, str):
        raise SchemaError("missing sig" if "sig" not in report else "sig must be a string")
    try:
        sig = formats.b64decode(sig_text, 64)
    except ValueError as exc:
        raise SchemaError(f"sig: {exc}") from None
    BODY_CHECKS[kind](body)
    return t, sig


# ---------------------------------------------------------------------------- one line

# Outcome tuples (cheap to pickle between processes):
#   ("ok", line, id, sensor, seq, kind, time_text, time_s, entry_bytes, leaf_hash)
#   ("q", line, id_or_None, reason, detail, raw_text)
Outcome = tuple


def check_line(line_no: int, raw: bytes, keys: dict[str, tuple[str, bytes]]) -> Outcome:
    """All stateless checks of one non-blank line, in the spec's precedence order.

    `keys` maps sensor id -> (kind, raw public key). Never raises for any input bytes.
    """
    try:
        report = parse_line(raw)
    except SchemaError as exc:
        return ("q", line_no, None, SCHEMA, str(exc), raw_text(raw))
    except (ValueError, RecursionError, OverflowError) as exc:
        return ("q", line_no, None, MALFORMED, str(exc) or "not a JSON object", raw_text(raw))
    rid = report.get("id")
    rid = rid if isinstance(rid, str) and rid.isprintable() else None  # storable as text anywhere
    try:
        t, sig = check_schema(report)
        entry = canonical_bytes_checked(report)
        if entry is None:
            _check_ijson(report)
            raise SchemaError("report has no RFC 8785 canonical form")
        # Duplicate keys (lines with backslashes were checked exactly while parsing): the
        # canonical bytes hold one `":` per key of the parsed object, the line one per key
        # written; fewer in the parsed object means a key was repeated.
        if b"\\" not in raw and raw_key_count(raw) != entry.count(b'":'):
            raise SchemaError("duplicate key in object")
    except SchemaError as exc:
        return ("q", line_no, rid, SCHEMA, str(exc), raw_text(raw))
    except Exception as exc:  # defensive: a checker bug must not crash ingest
        return ("q", line_no, rid, SCHEMA, f"unexpected value: {type(exc).__name__}: {exc}", raw_text(raw))
    sensor = report["sensor"]
    known = keys.get(sensor)
    if known is None:
        return ("q", line_no, rid, UNKNOWN_SENSOR, f"sensor {sensor!r} not in the registry", raw_text(raw))
    if known[0] != report["kind"]:
        return ("q", line_no, rid, UNKNOWN_SENSOR,
                f"kind {report['kind']!r} differs from the registry's {known[0]!r} for {sensor!r}", raw_text(raw))
    message = _without_sig(entry, report)
    if message is None or not ed25519.verify(sig, message, known[1]):
        return ("q", line_no, rid, BAD_SIGNATURE, f"signature does not verify with the key of {sensor!r}",
                raw_text(raw))
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    return ("ok", line_no, rid, sensor, report["seq"], report["kind"], report["time"], t, entry, leaf)


def _without_sig(entry: bytes, report: dict[str, Any]) -> bytes | None:
    """JCS bytes of the report without `sig`, cut out of the JCS bytes with it.

    A JCS object is its sorted members joined by commas, so dropping the top-level
    `"sig":"..."` member (and one adjacent comma) yields exactly the JCS of the object
    without it. The member is found by its full text; if that text is not unique (a
    nested object repeats it), fall back to canonicalizing the unsigned copy.
    """
    member = b'"sig":' + orjson.dumps(report["sig"])
    if entry.count(member) == 1:
        at = entry.index(member)
        end = at + len(member)
        if entry[end:end + 1] == b",":
            return entry[:at] + entry[end + 1:]
        if entry[at - 1:at] == b",":
            return entry[:at - 1] + entry[end:]
        return entry[:at] + entry[end:]
    unsigned = dict(report)
    del unsigned["sig"]
    return canonical_bytes_checked(unsigned)


def check_chunk(chunk: list[tuple[int, bytes]], keys: dict[str, tuple[str, bytes]]) -> list[Outcome]:
    """`check_line` over a chunk (the unit of work sent to a worker process)."""
    return [check_line(n, raw, keys) for n, raw in chunk]
