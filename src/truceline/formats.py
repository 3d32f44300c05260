"""Shared primitives of the public interchange formats (spec `formats.md`).

Times are RFC 3339 UTC with a `Z` and at most six fraction digits; signatures are
Ed25519 over RFC 8785 (JCS) canonical JSON bytes with `sig` removed; keys and
signatures are standard base64. Every stage that reads or writes spec objects goes
through these helpers, so there is exactly one definition of each rule.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SENSOR_KINDS = ("acoustic", "radar", "uav", "satellite", "monitor")
ACOUSTIC_CLASSES = ("launch", "impact", "unknown")
RADAR_PROJECTILES = ("mortar", "shell", "rocket")
UAV_OBJECTS = ("tank", "artillery", "mlrs", "mortar", "apc", "truck", "personnel", "air_defence", "unknown")
SATELLITE_CONFIDENCE = ("low", "nominal", "high")
EVENT_TYPES = ("launch", "impact", "weapon_sighting", "thermal", "monitor_report")

_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$")


def parse_time(text: str) -> float:
    """Seconds since the Unix epoch for a spec time string; ValueError if it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"time must be a string, got {type(text).__name__}")
    m = _TIME_RE.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 UTC time with Z suffix: {text!r}")
    y, mo, d, h, mi, s, frac = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    micro = int(frac.ljust(6, "0")) if frac else 0
    return dt.timestamp() + micro / 1e6


def format_time(t: float) -> str:
    """Spec time string (microsecond precision, trailing `Z`) for epoch seconds."""
    micros = round(t * 1e6)
    secs, us = divmod(micros, 1_000_000)
    dt = datetime.fromtimestamp(secs, tz=UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{us:06d}Z" if us else f"{text}Z"


def loads_strict(text: str, duplicate_error: type[Exception] = ValueError) -> Any:
    """Parse JSON text as the spec reads it: a repeated key in an object raises
    `duplicate_error`; NaN, Infinity and -Infinity (not JSON) raise ValueError."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise duplicate_error(f"duplicate key {key!r}")
            out[key] = value
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=no_constant)


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON bytes of a JSON-compatible object (fast exact path
    in `truceline.jcs`, falling back to the `rfc8785` library whenever in doubt)."""
    from truceline.jcs import canonical_bytes as fast

    return fast(obj)


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64decode(text: str, expected_len: int | None = None) -> bytes:
    """Strict standard-base64 decode; ValueError on bad alphabet, padding or length."""
    if not isinstance(text, str):
        raise ValueError("base64 value must be a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not valid base64: {exc}") from None
    if expected_len is not None and len(raw) != expected_len:
        raise ValueError(f"base64 value decodes to {len(raw)} bytes, expected {expected_len}")
    return raw


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_from_b64(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b64decode(text, 32))


def private_key_to_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return b64encode(raw)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64encode(raw)


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(b64decode(text, 32))


def unsigned_view(report: dict[str, Any]) -> dict[str, Any]:
    """The report object with `sig` removed: what the signature covers."""
    return {k: v for k, v in report.items() if k != "sig"}


def sign_object(obj: dict[str, Any], key: Ed25519PrivateKey) -> str:
    """Base64 Ed25519 signature over the JCS bytes of `obj` without its `sig` field."""
    return b64encode(key.sign(canonical_bytes(unsigned_view(obj))))


def verify_object(obj: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True when `obj["sig"]` is a valid signature of the rest of `obj` by `public_key`."""
    try:
        sig = b64decode(obj["sig"], 64)
        public_key.verify(sig, canonical_bytes(unsigned_view(obj)))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True
