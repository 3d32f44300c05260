"""The commission's own configuration (TOML): members, chair, staff, decision rule,
permissions, grouping, severity, escalation ladder, remedies menu, required force, hubs.

Loaded once into frozen dataclasses and validated eagerly, so that a mistake in the file
is reported as one line naming the file and the key (``ConfigError``) instead of failing
later in the middle of a vote. The shipped default lives in
``truceline/data/commission/commission.toml``; it is illustrative (the real commission's
procedures are not public).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truceline.commission.errors import ConfigError

DECISION_RULES = ("simple_majority", "qualified_majority", "consensus")
# "user": any identity not listed in the file (e.g. an analyst account of the web layer).
ROLES = ("member", "chair", "staff", "user")
COMMANDS = ("open", "review", "vote", "adopt", "dismiss", "remedy", "publish")
REMEDY_CATEGORIES = (
    "military_capabilities",
    "intelligence_logistics",
    "diplomatic_initiatives",
    "additional_sanctions",
)
# Kept here (not in coalition.py) so the config can validate remedy domains without a cycle.
PLEDGE_DOMAINS = ("land", "sea", "air", "training", "air_defence", "enablers", "funding", "unspecified")


@dataclass(frozen=True)
class Identity:
    """A known actor: a voting member state, the chair, or a staff user."""

    id: str
    name: str
    role: str


@dataclass(frozen=True)
class DecisionRule:
    rule: str
    quorum: float
    qualified_fraction: float
    chair_votes: bool
    chair_casting_vote: bool


@dataclass(frozen=True)
class Step:
    at: int
    points: int


@dataclass(frozen=True)
class Severity:
    default_rule_weight: int
    rule_weights: dict[str, int]
    type_points: dict[str, int]
    casualty_steps: tuple[Step, ...]
    damage_points: dict[str, int]
    count_steps: tuple[Step, ...]
    levels: tuple[tuple[int, str], ...]

    def level(self, score: int) -> str:
        label = self.levels[0][1]
        for min_score, name in self.levels:
            if score >= min_score:
                label = name
        return label


@dataclass(frozen=True)
class Remedy:
    id: str
    category: str
    title: str
    domains: tuple[str, ...]
    requires_responsible: bool


@dataclass(frozen=True)
class Ladder:
    rungs: tuple[str, ...]
    recurrence_window_days: float
    recurrence_step: int


@dataclass(frozen=True)
class CommissionConfig:
    """Everything the commission procedure needs besides the agreement profile."""

    source: str
    name: str
    illustrative: bool
    attribution_threshold: float
    chair: Identity
    members: tuple[Identity, ...]
    staff: tuple[Identity, ...]
    decision: DecisionRule
    permissions: dict[str, tuple[str, ...]]
    severe_event_score: int
    fallback_cell_km: float
    severity: Severity
    ladder: Ladder
    remedies: dict[str, Remedy]
    required_troops: int
    required_source: str
    hub_min_distance_km: float
    wording_bounds: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def member_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.members)

    def identity(self, actor_id: str) -> Identity | None:
        """The identity with this id, or None when it is not known to the commission."""
        if actor_id == self.chair.id:
            return self.chair
        for ident in (*self.members, *self.staff):
            if ident.id == actor_id:
                return ident
        return None

    def voters(self) -> tuple[str, ...]:
        """Ids allowed to vote: the members, plus the chair when it votes."""
        return self.member_ids + ((self.chair.id,) if self.decision.chair_votes else ())


class _Reader:
    """Typed access to a TOML table with errors naming the file and the dotted key."""

    def __init__(self, source: str, table: dict[str, Any], prefix: str = "") -> None:
        self.source, self.table, self.prefix = source, table, prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: key '{self._key(key)}': {msg}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"expected {'/'.join(k.__name__ for k in kinds)}, got a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            raise self.fail(key, f"expected {'/'.join(k.__name__ for k in kinds)}, got {type(value).__name__}")
        return value

    def sub(self, key: str, default: Any = ...) -> _Reader:
        value = self.get(key, dict, {} if default is not ... else ...)
        return _Reader(self.source, value, f"{self._key(key)}.")

    def items(self, key: str) -> list[_Reader]:
        rows = self.get(key, list, [])
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise self.fail(f"{key}[{i}]", "expected a table")
            out.append(_Reader(self.source, row, f"{self._key(key)}[{i}]."))
        return out

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _identity(r: _Reader, role: str) -> Identity:
    r.check_keys({"id", "name"})
    ident = r.get("id", str)
    if not ident.strip() or any(c.isspace() for c in ident):
        raise r.fail("id", f"must be a non-empty id without spaces, got {ident!r}")
    return Identity(ident, r.get("name", str, ident), role)


def _steps(r: _Reader, key: str, default: list[dict[str, int]]) -> tuple[Step, ...]:
    if key not in r.table:
        r = _Reader(r.source, {key: default}, r.prefix)
    steps = []
    for row in r.items(key):
        row.check_keys({"at", "points"})
        at, points = row.get("at", int), row.get("points", int)
        if at < 0:
            raise row.fail("at", "must be >= 0")
        steps.append(Step(at, points))
    return tuple(sorted(steps, key=lambda s: s.at))


def _int_map(r: _Reader, key: str, default: dict[str, int]) -> dict[str, int]:
    table = r.get(key, dict, default)
    for k, v in table.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise r.fail(f"{key}.{k}", f"expected an integer, got {v!r}")
    return dict(table)


def parse_config(data: dict[str, Any], source: str) -> CommissionConfig:
    """Validate a parsed TOML document into a :class:`CommissionConfig`."""
    top = _Reader(source, data)
    top.check_keys({
        "commission", "chair", "members", "staff", "decision", "permissions", "grouping",
        "severity", "ladder", "remedies", "required_force", "hubs", "wording_bounds",
    })
    com = top.sub("commission")
    com.check_keys({"name", "illustrative", "attribution_threshold"})
    threshold = com.get("attribution_threshold", float, 0.95)
    if not 0.5 <= threshold <= 1.0:
        raise com.fail("attribution_threshold", f"must be in [0.5, 1], got {threshold}")

    chair = _identity(top.sub("chair"), "chair")
    members = tuple(_identity(r, "member") for r in top.items("members"))
    if not members:
        raise top.fail("members", "the commission needs at least one member")
    staff = tuple(_identity(r, "staff") for r in top.items("staff"))
    seen: set[str] = set()
    for ident in (chair, *members, *staff):
        if ident.id in seen:
            raise top.fail("members", f"identity id {ident.id!r} is defined twice")
        seen.add(ident.id)

    dec = top.sub("decision")
    dec.check_keys({"rule", "quorum", "qualified_fraction", "chair_votes", "chair_casting_vote"})
    rule = dec.get("rule", str)
    if rule not in DECISION_RULES:
        raise dec.fail("rule", f"must be one of {', '.join(DECISION_RULES)}, got {rule!r}")
    quorum = dec.get("quorum", float, 0.5)
    if not 0.0 < quorum <= 1.0:
        raise dec.fail("quorum", f"must be a fraction in (0, 1], got {quorum}")
    qf = dec.get("qualified_fraction", float, 2 / 3)
    if not 0.5 < qf <= 1.0:
        raise dec.fail("qualified_fraction", f"must be in (0.5, 1], got {qf}")
    decision = DecisionRule(
        rule, quorum, qf, dec.get("chair_votes", bool, False), dec.get("chair_casting_vote", bool, False)
    )

    perm = top.sub("permissions")
    perm.check_keys(set(COMMANDS))
    permissions: dict[str, tuple[str, ...]] = {}
    defaults = {"open": ["member", "chair", "staff", "user"], "review": ["chair", "staff"], "vote": ["member"],
                "adopt": ["chair"], "dismiss": ["chair"], "remedy": ["chair"], "publish": ["chair", "staff"]}
    for cmd in COMMANDS:
        roles = perm.get(cmd, list, defaults.get(cmd, list(ROLES)))
        for role in roles:
            if role not in ROLES:
                raise perm.fail(cmd, f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        permissions[cmd] = tuple(roles)
    if decision.chair_votes and "chair" not in permissions["vote"]:
        permissions["vote"] = (*permissions["vote"], "chair")  # a voting chair must be allowed to vote

    grp = top.sub("grouping")
    grp.check_keys({"severe_event_score", "fallback_cell_km"})
    severe = grp.get("severe_event_score", int, 3)
    cell = grp.get("fallback_cell_km", float, 50.0)
    if cell <= 0:
        raise grp.fail("fallback_cell_km", "must be > 0")

    sev = top.sub("severity")
    sev.check_keys({
        "default_rule_weight", "rule_weights", "type_points", "casualty_steps", "damage_points",
        "count_steps", "levels",
    })
    levels = []
    for row in sev.items("levels") or []:
        row.check_keys({"min_score", "label"})
        levels.append((row.get("min_score", int), row.get("label", str)))
    if not levels:
        levels = [(1, "minor"), (2, "moderate"), (3, "serious"), (5, "grave")]
    severity = Severity(
        default_rule_weight=sev.get("default_rule_weight", int, 1),
        rule_weights=_int_map(sev, "rule_weights", {}),
        type_points=_int_map(sev, "type_points", {}),
        casualty_steps=_steps(sev, "casualty_steps", []),
        damage_points=_int_map(sev, "damage_points", {"none": 0}),
        count_steps=_steps(sev, "count_steps", []),
        levels=tuple(sorted(levels)),
    )

    remedies: dict[str, Remedy] = {}
    for r in top.items("remedies"):
        r.check_keys({"id", "category", "title", "domains", "requires_responsible"})
        rid = r.get("id", str)
        category = r.get("category", str)
        if category not in REMEDY_CATEGORIES:
            raise r.fail("category", f"must be one of {', '.join(REMEDY_CATEGORIES)}, got {category!r}")
        domains = tuple(r.get("domains", list, []))
        for d in domains:
            if d not in PLEDGE_DOMAINS:
                raise r.fail("domains", f"unknown pledge domain {d!r} (domains: {', '.join(PLEDGE_DOMAINS)})")
        if rid in remedies:
            raise r.fail("id", f"remedy {rid!r} is defined twice")
        remedies[rid] = Remedy(rid, category, r.get("title", str), domains, r.get("requires_responsible", bool, True))
    if not remedies:
        raise top.fail("remedies", "the remedies menu is empty")

    lad = top.sub("ladder")
    lad.check_keys({"rungs", "recurrence_window_days", "recurrence_step"})
    rungs = tuple(lad.get("rungs", list))
    if not rungs:
        raise lad.fail("rungs", "the escalation ladder needs at least one rung")
    for rung in rungs:
        if rung not in remedies:
            raise lad.fail("rungs", f"rung {rung!r} is not in the remedies menu ({', '.join(remedies)})")
    if all(remedies[r].requires_responsible for r in rungs):
        raise lad.fail("rungs", "at least one rung must be usable when responsibility is undetermined")
    window = lad.get("recurrence_window_days", float, 30.0)
    if window < 0:
        raise lad.fail("recurrence_window_days", "must be >= 0")
    ladder = Ladder(rungs, window, lad.get("recurrence_step", int, 1))

    force = top.sub("required_force")
    force.check_keys({"troops", "source"})
    troops = force.get("troops", int, 150000)
    if troops <= 0:
        raise force.fail("troops", "must be > 0")
    hubs = top.sub("hubs")
    hubs.check_keys({"min_distance_km"})
    hub_km = hubs.get("min_distance_km", float, 100.0)
    if hub_km < 0:
        raise hubs.fail("min_distance_km", "must be >= 0")

    bounds: dict[str, tuple[int, int]] = {}
    wb = top.sub("wording_bounds")
    for phrase, value in wb.table.items():
        if (
            not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]
        ):
            raise wb.fail(phrase, f"expected [min, max] integers with min <= max, got {value!r}")
        bounds[phrase.lower()] = (value[0], value[1])

    return CommissionConfig(
        source=source,
        name=com.get("name", str, "Special commission"),
        illustrative=com.get("illustrative", bool, False),
        attribution_threshold=threshold,
        chair=chair,
        members=members,
        staff=staff,
        decision=decision,
        permissions=permissions,
        severe_event_score=severe,
        fallback_cell_km=cell,
        severity=severity,
        ladder=ladder,
        remedies=remedies,
        required_troops=troops,
        required_source=force.get("source", str, ""),
        hub_min_distance_km=hub_km,
        wording_bounds=bounds,
    )


DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_CONFIG_PATH = DATA_DIR / "commission" / "commission.toml"


def load_config(path: str | Path | None = None) -> CommissionConfig:
    """Load and validate a commission TOML file (the shipped default when ``path`` is None)."""
    p = DEFAULT_CONFIG_PATH if path is None else Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read commission configuration: {exc.strerror}") from None
    source = str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return parse_config(data, source)
