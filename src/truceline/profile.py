"""The agreement profile: what the ceasefire forbids, where, and how sure a finding must be.

A profile is a TOML file (the shipped default is `truceline/data/profiles/default.toml`,
modelled on Minsk II and its 2015 addendum; its comments give the sources). It is parsed
into frozen dataclasses and validated strictly: an unknown key, a wrong type, a negative
distance, a threshold outside (0.5, 1], an unparseable ceasefire start or a duplicate rule
code raises `InputError` naming the file and the key path (`exclusion[0].distance_km`).

Extending: every top-level key is handled by an entry of `SECTIONS` (name -> parser).
A later stage adds a table (e.g. `remedies`, `coalition`) by writing a parser and
registering it with `register_section`, in this module or before `load_profile` is
called; its parsed value appears in `Profile.extra[name]`. Keys nobody registered
still error.

Withdrawal-band semantics: an exclusion entry applies to an object class and a calibre
range `min_caliber_mm <= calibre < max_caliber_mm` (min inclusive, max exclusive; either
may be omitted). The distance is measured from the line of contact into the object's own
side. When the calibre is unknown the *smallest* distance of that class is used: a
finding must hold whatever the true calibre is, so the conservative choice for accusing
a party is the least demanding band (documented in the default profile too).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from truceline.errors import InputError

DEFAULT_PROFILE_PATH = Path(__file__).resolve().parent / "data" / "profiles" / "default.toml"
RULE_KINDS = ("fire", "exclusion", "buffer")
# Combined drone confidence a sighting needs before a position rule (withdrawal, buffer)
# can be broken by it: see `truceline.analysis.rules` and the default profile's comment.
DEFAULT_SIGHTING_MIN_CONFIDENCE = 0.8
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_SUFFIX_RE = re.compile(r"^[a-z0-9_]+$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


@dataclass(frozen=True)
class ExclusionEntry:
    """One withdrawal band: objects of `object_class` in the calibre range stay `distance_km` back."""

    object_class: str
    distance_km: float
    rule: str
    description: str = ""
    min_caliber_mm: float | None = None
    max_caliber_mm: float | None = None

    @property
    def code(self) -> str:
        """The rule code of this band: `withdrawal.<rule>`."""
        return f"withdrawal.{self.rule}"

    @property
    def distance_m(self) -> float:
        return self.distance_km * 1000.0

    def matches(self, object_class: str, caliber_mm: float | None) -> bool:
        if object_class != self.object_class:
            return False
        if caliber_mm is None:
            return True
        lo = -math.inf if self.min_caliber_mm is None else self.min_caliber_mm
        hi = math.inf if self.max_caliber_mm is None else self.max_caliber_mm
        return lo <= caliber_mm < hi


@dataclass(frozen=True)
class Rule:
    """A rule the analysis checks; `params` holds kind-specific settings (free-form)."""

    code: str
    description: str
    applies_to: tuple[str, ...]
    kind: str
    classes: tuple[str, ...] = ()
    enabled: bool = True
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Profile:
    name: str
    parties: tuple[str, ...]
    ceasefire_start: str
    exclusion: tuple[ExclusionEntry, ...]
    buffer_zone_km: float
    attribution_threshold: float
    sector_km: float
    public_position_grid_m: float
    rules: tuple[Rule, ...]
    description: str = ""
    sighting_min_confidence: float = DEFAULT_SIGHTING_MIN_CONFIDENCE
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ceasefire_start_s(self) -> float:
        """Ceasefire start as Unix epoch seconds."""
        return _epoch(self.ceasefire_start)

    @property
    def buffer_zone_m(self) -> float:
        """Half-width of the buffer zone (metres on each side of the line)."""
        return self.buffer_zone_km * 1000.0

    def exclusion_entry(self, object_class: str, caliber_mm: float | None = None) -> ExclusionEntry | None:
        """The band that applies (see module docstring for the unknown-calibre choice)."""
        if caliber_mm is not None and (isinstance(caliber_mm, float) and math.isnan(caliber_mm)):
            caliber_mm = None
        hits = [e for e in self.exclusion if e.matches(object_class, caliber_mm)]
        if not hits:
            return None
        return min(hits, key=lambda e: e.distance_km)

    def exclusion_distance_m(self, object_class: str, caliber_mm: float | None = None) -> float | None:
        """Withdrawal distance (m, from the line into the own side), None when unrestricted."""
        e = self.exclusion_entry(object_class, caliber_mm)
        return None if e is None else e.distance_m

    def exclusion_distances_m(self, object_classes, calibers_mm=None) -> np.ndarray:
        """Vectorized `exclusion_distance_m`: NaN calibre = unknown, NaN result = unrestricted."""
        classes = np.asarray(object_classes, dtype=object)
        cal = (
            np.full(classes.shape, np.nan)
            if calibers_mm is None
            else np.broadcast_to(np.asarray(calibers_mm, dtype=float), classes.shape)
        )
        out = np.full(classes.shape, np.nan)
        known = ~np.isnan(cal)
        for cls in set(classes.ravel().tolist()):
            entries = [e for e in self.exclusion if e.object_class == cls]
            if not entries:
                continue
            sel = classes == cls
            out[sel & ~known] = min(e.distance_m for e in entries)
            for e in sorted(entries, key=lambda e: -e.distance_km):  # smaller distance wins on overlap
                lo = -np.inf if e.min_caliber_mm is None else e.min_caliber_mm
                hi = np.inf if e.max_caliber_mm is None else e.max_caliber_mm
                m = sel & known & (cal >= lo) & (cal < hi)
                out[m] = e.distance_m
        return out

    def rule(self, code: str) -> Rule:
        for r in self.rules:
            if r.code == code:
                return r
        raise KeyError(f"no rule {code!r} in profile {self.name!r}")

    def rules_for(self, event_type: str) -> tuple[Rule, ...]:
        """Enabled rules that apply to an event type."""
        return tuple(r for r in self.rules if r.enabled and event_type in r.applies_to)


# --------------------------------------------------------------------------------------
# validation helpers


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> InputError:
        return InputError(f"{self.source}: {path}: {message}")


def _epoch(text: str) -> float:
    from truceline.formats import parse_time

    return parse_time(text)


def _type_name(v: Any) -> str:
    return {str: "string", bool: "boolean", int: "integer", float: "float", list: "array", dict: "table"}.get(
        type(v), type(v).__name__
    )


def _check_keys(ctx: _Ctx, table: Mapping, path: str, allowed: set[str], required: set[str]) -> None:
    for k in table:
        if k not in allowed:
            where = f"{path}.{k}" if path else k
            raise ctx.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for k in sorted(required):
        if k not in table:
            where = f"{path}.{k}" if path else k
            raise ctx.fail(where, "missing required key")


def _str(ctx: _Ctx, v: Any, path: str, nonempty: bool = True) -> str:
    if not isinstance(v, str):
        raise ctx.fail(path, f"expected a string, got {_type_name(v)}")
    if nonempty and not v.strip():
        raise ctx.fail(path, "must not be empty")
    return v


def _num(ctx: _Ctx, v: Any, path: str, minimum: float | None = 0.0, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ctx.fail(path, f"expected a number, got {_type_name(v)}")
    x = float(v)
    if not math.isfinite(x):
        raise ctx.fail(path, "must be finite")
    if positive and x <= 0:
        raise ctx.fail(path, f"must be positive, got {x:g}")
    if minimum is not None and x < minimum:
        raise ctx.fail(path, f"must be >= {minimum:g}, got {x:g}")
    return x


def _bool(ctx: _Ctx, v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise ctx.fail(path, f"expected true or false, got {_type_name(v)}")
    return v


def _str_list(ctx: _Ctx, v: Any, path: str, nonempty: bool = True) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ctx.fail(path, f"expected an array of strings, got {_type_name(v)}")
    if nonempty and not v:
        raise ctx.fail(path, "must not be empty")
    out = tuple(_str(ctx, x, f"{path}[{i}]") for i, x in enumerate(v))
    if len(set(out)) != len(out):
        raise ctx.fail(path, "contains duplicates")
    return out


def _table(ctx: _Ctx, v: Any, path: str) -> dict:
    if not isinstance(v, dict):
        raise ctx.fail(path, f"expected a table, got {_type_name(v)}")
    return v


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return MappingProxyType({k: _freeze(x) for k, x in v.items()})
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


# --------------------------------------------------------------------------------------
# sections


def _parse_ceasefire_start(ctx: _Ctx, v: Any, path: str) -> str:
    if isinstance(v, datetime):
        if v.tzinfo is None or v.utcoffset() != UTC.utcoffset(None):
            raise ctx.fail(path, "must be a UTC time with Z suffix, e.g. 2026-01-06T00:00:00Z")
        v = v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{v.microsecond:06d}Z" if v.microsecond else "Z"
        )
    text = _str(ctx, v, path)
    if not _TIME_RE.match(text):
        raise ctx.fail(path, f"not an RFC 3339 UTC time with Z suffix: {text!r}")
    try:
        _epoch(text)
    except ValueError as exc:
        raise ctx.fail(path, f"not a valid time: {exc}") from None
    return text


def _parse_exclusion(ctx: _Ctx, v: Any, path: str) -> tuple[ExclusionEntry, ...]:
    if not isinstance(v, list):
        raise ctx.fail(path, f"expected an array of tables ([[exclusion]]), got {_type_name(v)}")
    allowed = {"class", "min_caliber_mm", "max_caliber_mm", "distance_km", "rule", "description"}
    out = []
    for i, item in enumerate(v):
        p = f"{path}[{i}]"
        t = _table(ctx, item, p)
        _check_keys(ctx, t, p, allowed, {"class", "distance_km", "rule"})
        cls = _str(ctx, t["class"], f"{p}.class")
        dist = _num(ctx, t["distance_km"], f"{p}.distance_km")
        rule = _str(ctx, t["rule"], f"{p}.rule")
        if not _SUFFIX_RE.match(rule):
            raise ctx.fail(f"{p}.rule", f"must be lower-case letters, digits and '_' (got {rule!r})")
        lo = _num(ctx, t["min_caliber_mm"], f"{p}.min_caliber_mm") if "min_caliber_mm" in t else None
        hi = (
            _num(ctx, t["max_caliber_mm"], f"{p}.max_caliber_mm", positive=True)
            if "max_caliber_mm" in t
            else None
        )
        if lo is not None and hi is not None and hi <= lo:
            raise ctx.fail(f"{p}.max_caliber_mm", f"must be greater than min_caliber_mm ({hi:g} <= {lo:g})")
        desc = _str(ctx, t.get("description", ""), f"{p}.description", nonempty=False)
        out.append(ExclusionEntry(cls, dist, rule, desc, lo, hi))
    # overlapping calibre ranges of one class would make the band ambiguous
    for i, a in enumerate(out):
        for j in range(i + 1, len(out)):
            b = out[j]
            if a.object_class != b.object_class:
                continue
            alo, ahi = a.min_caliber_mm or -math.inf, a.max_caliber_mm or math.inf
            blo, bhi = b.min_caliber_mm or -math.inf, b.max_caliber_mm or math.inf
            if alo < bhi and blo < ahi:
                raise ctx.fail(
                    f"{path}[{j}]",
                    f"calibre range of class {b.object_class!r} overlaps {path}[{i}] "
                    "(ranges are min inclusive, max exclusive)",
                )
    rules = [e.rule for e in out]
    dup = {r for r in rules if rules.count(r) > 1}
    if dup:
        raise ctx.fail(path, f"duplicate rule suffix {sorted(dup)[0]!r}")
    return tuple(out)


def _parse_rules(ctx: _Ctx, v: Any, path: str) -> tuple[Rule, ...]:
    if not isinstance(v, list):
        raise ctx.fail(path, f"expected an array of tables ([[rules]]), got {_type_name(v)}")
    allowed = {"code", "description", "applies_to", "kind", "classes", "enabled", "params"}
    out = []
    seen: dict[str, int] = {}
    for i, item in enumerate(v):
        p = f"{path}[{i}]"
        t = _table(ctx, item, p)
        _check_keys(ctx, t, p, allowed, {"code", "description", "applies_to", "kind"})
        code = _str(ctx, t["code"], f"{p}.code")
        if not _CODE_RE.match(code):
            raise ctx.fail(f"{p}.code", f"must be dotted lower-case words like 'fire.launch' (got {code!r})")
        if code in seen:
            raise ctx.fail(f"{p}.code", f"duplicate rule code {code!r} (also {path}[{seen[code]}])")
        seen[code] = i
        kind = _str(ctx, t["kind"], f"{p}.kind")
        if kind not in RULE_KINDS:
            raise ctx.fail(f"{p}.kind", f"must be one of {', '.join(RULE_KINDS)} (got {kind!r})")
        out.append(
            Rule(
                code=code,
                description=_str(ctx, t["description"], f"{p}.description"),
                applies_to=_str_list(ctx, t["applies_to"], f"{p}.applies_to"),
                kind=kind,
                classes=_str_list(ctx, t["classes"], f"{p}.classes", nonempty=False)
                if "classes" in t
                else (),
                enabled=_bool(ctx, t["enabled"], f"{p}.enabled") if "enabled" in t else True,
                params=_freeze(_table(ctx, t["params"], f"{p}.params"))
                if "params" in t
                else MappingProxyType({}),
            )
        )
    return tuple(out)


def _parse_parties(ctx: _Ctx, v: Any, path: str) -> tuple[str, ...]:
    parties = _str_list(ctx, v, path)
    if len(parties) < 2:
        raise ctx.fail(path, "an agreement needs at least two parties")
    return parties


def _parse_threshold(ctx: _Ctx, v: Any, path: str) -> float:
    x = _num(ctx, v, path, minimum=None)
    if not 0.5 < x <= 1.0:
        raise ctx.fail(path, f"must be in (0.5, 1], got {x:g}")
    return x


def _parse_unit_interval(ctx: _Ctx, v: Any, path: str) -> float:
    x = _num(ctx, v, path, minimum=None)
    if not 0.0 <= x <= 1.0:
        raise ctx.fail(path, f"must be in [0, 1], got {x:g}")
    return x


SectionParser = Callable[[_Ctx, Any, str], Any]

SECTIONS: dict[str, tuple[SectionParser, bool]] = {
    # name: (parser(ctx, value, key_path) -> parsed value, required)
    "name": (lambda c, v, p: _str(c, v, p), True),
    "description": (lambda c, v, p: _str(c, v, p, nonempty=False), False),
    "parties": (_parse_parties, True),
    "ceasefire_start": (_parse_ceasefire_start, True),
    "exclusion": (_parse_exclusion, True),
    "buffer_zone_km": (lambda c, v, p: _num(c, v, p), True),
    "attribution_threshold": (_parse_threshold, True),
    "sector_km": (lambda c, v, p: _num(c, v, p, positive=True), True),
    "public_position_grid_m": (lambda c, v, p: _num(c, v, p, positive=True), True),
    "rules": (_parse_rules, True),
    "sighting_min_confidence": (_parse_unit_interval, False),
}
_CORE = set(SECTIONS)


def register_section(name: str, parser: SectionParser, required: bool = False) -> None:
    """Accept a new top-level key; its parsed value lands in `Profile.extra[name]`.

    `parser(ctx, value, key_path)` validates and returns an immutable value; raise
    `ctx.fail(key_path, message)` for errors.
    """
    if name in _CORE:
        raise ValueError(f"profile section {name!r} is built in")
    SECTIONS[name] = (parser, required)


def _withdrawal_rules(exclusion: tuple[ExclusionEntry, ...]) -> list[Rule]:
    out = []
    for e in exclusion:
        band = []
        if e.min_caliber_mm is not None:
            band.append(f">= {e.min_caliber_mm:g} mm")
        if e.max_caliber_mm is not None:
            band.append(f"< {e.max_caliber_mm:g} mm")
        cal = f" ({', '.join(band)})" if band else ""
        desc = (
            e.description or f"{e.object_class}{cal} within {e.distance_km:g} km of the line on its own side"
        )
        out.append(
            Rule(
                code=e.code,
                description=desc,
                applies_to=("weapon_sighting",),
                kind="exclusion",
                classes=(e.object_class,),
                params=MappingProxyType(
                    {
                        "distance_km": e.distance_km,
                        "min_caliber_mm": e.min_caliber_mm,
                        "max_caliber_mm": e.max_caliber_mm,
                    }
                ),
            )
        )
    return out


def parse_profile(doc: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """Validate a parsed TOML document (dict) into a `Profile`."""
    ctx = _Ctx(source)
    for key in doc:
        if key not in SECTIONS:
            raise ctx.fail(key, f"unknown key (allowed: {', '.join(sorted(SECTIONS))})")
    for key, (_parser, required) in SECTIONS.items():
        if required and key not in doc:
            raise ctx.fail(key, "missing required key")
    parsed = {key: SECTIONS[key][0](ctx, value, key) for key, value in doc.items()}
    exclusion = parsed["exclusion"]
    explicit = list(parsed["rules"])
    have = {r.code for r in explicit}
    # withdrawal.<rule> are generated from the exclusion table unless written out explicitly
    rules = explicit + [r for r in _withdrawal_rules(exclusion) if r.code not in have]
    extra = {k: v for k, v in parsed.items() if k not in _CORE}
    return Profile(
        name=parsed["name"],
        parties=parsed["parties"],
        ceasefire_start=parsed["ceasefire_start"],
        exclusion=exclusion,
        buffer_zone_km=parsed["buffer_zone_km"],
        attribution_threshold=parsed["attribution_threshold"],
        sector_km=parsed["sector_km"],
        public_position_grid_m=parsed["public_position_grid_m"],
        rules=tuple(rules),
        description=parsed.get("description", ""),
        sighting_min_confidence=parsed.get("sighting_min_confidence", DEFAULT_SIGHTING_MIN_CONFIDENCE),
        source=source,
        extra=MappingProxyType(extra),
    )


def load_profile(path: str | Path | None = None) -> Profile:
    """Read and validate a profile TOML; `None` loads the shipped default."""
    p = Path(path) if path is not None else DEFAULT_PROFILE_PATH
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read profile: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{p}: profile is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML: {exc}") from None
    return parse_profile(doc, str(p))
