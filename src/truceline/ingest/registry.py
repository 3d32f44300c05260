"""Sensor registry (spec formats.md section 1): loading and strict validation.

A bad registry is a user error (`InputError`) whose message names the file, the entry
index and the field, because every later decision (kind check, signature check) trusts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truceline import formats
from truceline.errors import InputError

_OPTIONAL_NUMBERS = ("alt", "timing_sigma_s", "azimuth_sigma_deg", "wind_sigma_mps", "wind_sigma_deg")
_NONNEGATIVE = ("timing_sigma_s", "azimuth_sigma_deg", "wind_sigma_mps", "wind_sigma_deg")


@dataclass(frozen=True, slots=True)
class Sensor:
    """One registry entry; `public_key` is the raw 32-byte Ed25519 key."""

    id: str
    kind: str
    public_key: bytes
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    timing_sigma_s: float | None = None
    azimuth_sigma_deg: float | None = None
    wind_sigma_mps: float | None = None
    wind_sigma_deg: float | None = None
    operator: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The spec form of this entry (public key back to base64, absent fields omitted)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "public_key": formats.b64encode(self.public_key)}
        for name in ("lat", "lon", *_OPTIONAL_NUMBERS, "operator"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sensor_from_json(entry: Any, where: str) -> Sensor:
    """Validate one registry object; `where` prefixes error messages (file and index)."""
    if not isinstance(entry, dict):
        raise InputError(f"{where}: entry is not a JSON object")
    sid = entry.get("id")
    if not isinstance(sid, str) or not sid or not sid.isprintable():
        raise InputError(f"{where}: field 'id' must be a non-empty string of printable characters")
    kind = entry.get("kind")
    if kind not in formats.SENSOR_KINDS:
        raise InputError(f"{where} ({sid}): field 'kind' must be one of {', '.join(formats.SENSOR_KINDS)}")
    try:
        key = formats.b64decode(entry.get("public_key"), 32)
    except ValueError as exc:
        raise InputError(f"{where} ({sid}): field 'public_key' is not base64 of 32 bytes: {exc}") from None
    values: dict[str, Any] = {}
    for name in ("lat", "lon", *_OPTIONAL_NUMBERS):
        if name in entry:
            value = entry[name]
            if not _is_number(value):
                raise InputError(f"{where} ({sid}): field {name!r} must be a finite number")
            values[name] = float(value)
    if "lat" in values and not -90.0 <= values["lat"] <= 90.0:
        raise InputError(f"{where} ({sid}): field 'lat' outside -90..90")
    if "lon" in values and not -180.0 <= values["lon"] <= 180.0:
        raise InputError(f"{where} ({sid}): field 'lon' outside -180..180")
    if ("lat" in values) != ("lon" in values):
        raise InputError(f"{where} ({sid}): 'lat' and 'lon' must be given together")
    for name in _NONNEGATIVE:
        if name in values and values[name] < 0:
            raise InputError(f"{where} ({sid}): field {name!r} must not be negative")
    operator = entry.get("operator")
    if operator is not None and not isinstance(operator, str):
        raise InputError(f"{where} ({sid}): field 'operator' must be a string")
    return Sensor(id=sid, kind=kind, public_key=key, operator=operator, **values)


def registry_from_json(entries: Any, source: str = "<registry>") -> dict[str, Sensor]:
    """Registry dict (id -> Sensor) from the parsed JSON array; ids must be unique."""
    if not isinstance(entries, list):
        raise InputError(f"{source}: a sensor registry must be a JSON array of objects")
    registry: dict[str, Sensor] = {}
    for index, entry in enumerate(entries):
        sensor = sensor_from_json(entry, f"{source}: entry {index}")
        if sensor.id in registry:
            raise InputError(f"{source}: entry {index}: field 'id' duplicates sensor {sensor.id!r}")
        registry[sensor.id] = sensor
    return registry


def load_registry(path: str | Path) -> dict[str, Sensor]:
    """Read and validate `sensors.json`; InputError names file, entry index and field."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read sensor registry: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: sensor registry is not UTF-8: {exc}") from None
    try:
        entries = formats.loads_strict(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: sensor registry is not valid JSON: {exc}") from None
    return registry_from_json(entries, str(path))
