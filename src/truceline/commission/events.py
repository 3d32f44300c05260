"""Reading spec section 4 events (``events.geojson``) for the commission.

Only what the commission needs is validated strictly (id, type, time, position,
attribution, responsible, violations, reports); unknown extra properties are kept so a
case carries the analysis output exactly as it was written. Optional properties used
when present: ``sector``, ``zone``, ``distance_to_line_m``, and the non-spec
``casualties`` (integer) and ``damage`` (label) that a reviewer may also set on a case.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truceline.errors import InputError
from truceline.formats import parse_time


@dataclass(frozen=True)
class Event:
    """One fused event of the analysis output, as the commission uses it."""

    id: str
    type: str
    time: str
    t: float
    lon: float
    lat: float
    attribution: dict[str, float]
    responsible: str | None
    violations: tuple[str, ...]
    reports: tuple[str, ...]
    sector: str | None = None
    zone: str | None = None
    distance_to_line_m: float | None = None
    casualties: int | None = None
    damage: str | None = None
    feature: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def day(self) -> str:
        return self.time[:10]


def _fail(source: str, where: str, msg: str) -> InputError:
    return InputError(f"{source}: {where}: {msg}")


def parse_feature(feature: Any, source: str, index: int) -> Event:
    """Validate one GeoJSON Feature into an :class:`Event` (InputError naming the field)."""
    where = f"features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _fail(source, where, "not a GeoJSON Feature")
    geom = feature.get("geometry")
    if not isinstance(geom, dict) or geom.get("type") != "Point":
        raise _fail(source, f"{where}.geometry", "must be a Point")
    coords = geom.get("coordinates")
    if (
        not isinstance(coords, list) or len(coords) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
    ):
        raise _fail(source, f"{where}.geometry.coordinates", "must be [lon, lat]")
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise _fail(source, f"{where}.geometry.coordinates", f"not a WGS84 position: {coords[:2]}")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise _fail(source, f"{where}.properties", "missing")
    pw = f"{where}.properties"
    eid = props.get("id")
    if not isinstance(eid, str) or not eid:
        raise _fail(source, f"{pw}.id", "must be a non-empty string")
    pw = f"{where} (event {eid})"
    etype = props.get("type")
    if not isinstance(etype, str) or not etype:
        raise _fail(source, f"{pw}.type", "must be a string")
    time = props.get("time")
    try:
        t = parse_time(time)
    except ValueError as exc:
        raise _fail(source, f"{pw}.time", str(exc)) from None
    attribution = props.get("attribution")
    if not isinstance(attribution, dict):
        raise _fail(source, f"{pw}.attribution", "must be an object party -> probability")
    attr: dict[str, float] = {}
    for party, p in attribution.items():
        if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise _fail(source, f"{pw}.attribution.{party}", f"must be a probability in [0, 1], got {p!r}")
        attr[str(party)] = float(p)
    if sum(attr.values()) > 1.0 + 1e-3:  # tolerate rounding in the writer
        raise _fail(source, f"{pw}.attribution", f"probabilities sum to {sum(attr.values()):.6g} > 1")
    responsible = props.get("responsible")
    if responsible is not None and not isinstance(responsible, str):
        raise _fail(source, f"{pw}.responsible", "must be a party code or null")
    violations = props.get("violations")
    if not isinstance(violations, list) or not all(isinstance(v, str) and v for v in violations):
        raise _fail(source, f"{pw}.violations", "must be a list of rule codes")
    reports = props.get("reports")
    if not isinstance(reports, list) or not all(isinstance(r, str) for r in reports):
        raise _fail(source, f"{pw}.reports", "must be a list of report ids")
    sector = props.get("sector")
    casualties = props.get("casualties")
    if casualties is not None and (not isinstance(casualties, int) or isinstance(casualties, bool) or casualties < 0):
        raise _fail(source, f"{pw}.casualties", "must be a non-negative integer")
    damage = props.get("damage")
    if damage is not None and not isinstance(damage, str):
        raise _fail(source, f"{pw}.damage", "must be a label")
    dist = props.get("distance_to_line_m")
    if dist is not None and (not isinstance(dist, int | float) or isinstance(dist, bool)):
        raise _fail(source, f"{pw}.distance_to_line_m", "must be a number")
    zone = props.get("zone")
    return Event(
        id=eid, type=etype, time=time, t=t, lon=lon, lat=lat, attribution=attr, responsible=responsible,
        violations=tuple(violations), reports=tuple(reports),
        sector=None if sector is None else str(sector),
        zone=None if zone is None else str(zone),
        distance_to_line_m=None if dist is None else float(dist),
        casualties=casualties, damage=damage, feature=feature,
    )


def parse_events(doc: Any, source: str) -> list[Event]:
    """Validate a parsed FeatureCollection; event ids must be unique."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
        doc.get("features"), list
    ):
        raise InputError(f"{source}: not a GeoJSON FeatureCollection with a 'features' list")
    events, seen = [], set()
    for i, feat in enumerate(doc["features"]):
        ev = parse_feature(feat, source, i)
        if ev.id in seen:
            raise _fail(source, f"features[{i}].properties.id", f"duplicate event id {ev.id!r}")
        seen.add(ev.id)
        events.append(ev)
    return events


def load_events(path: str | Path) -> list[Event]:
    """Read and validate an ``events.geojson`` file."""
    p = Path(path)
    try:
        doc = json.loads(p.read_bytes())
    except OSError as exc:
        raise InputError(f"{p}: cannot read events: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"{p}: invalid JSON: {exc}") from None
    return parse_events(doc, str(p))
