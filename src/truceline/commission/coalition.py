"""Coalition registry: member states, their pledges by domain and status, the national
procedure each deployment needs, hubs, and the public statements they come from.

The shipped dataset (``data/coalition/statements_2026-01.toml``) transcribes public
statements up to January 2026. Statements are intentions, so pledges are ``intention``;
troop numbers are kept as quoted wording with unknown (None) bounds unless a source
states a number. Loading validates every cross-reference (state, statement, source) and
every controlled vocabulary, raising ``ConfigError`` naming the file and the entry.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truceline.commission.config import DATA_DIR, PLEDGE_DOMAINS
from truceline.commission.errors import ConfigError

PLEDGE_STATUSES = ("intention", "national_approval_pending", "approved", "deployed", "withdrawn")
# Statuses at which a pledge counts as firm (approved by its national procedure or in place).
FIRM_STATUSES = ("approved", "deployed")
NATIONAL_PROCEDURES = ("parliamentary_mandate", "parliamentary_vote", "presidential_order", "not_stated")
STANCES = ("offers_troops", "open", "support_without_ground_troops", "rules_out_troops")
STATEMENT_KINDS = ("framework", "state", "force_estimate", "context")
# Domains whose pledges are (or may be) troops counted against the required force.
TROOP_DOMAINS = ("land", "sea", "air", "training", "air_defence", "enablers", "unspecified")

DEFAULT_DATASET = DATA_DIR / "coalition" / "statements_2026-01.toml"


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    note: str = ""


@dataclass(frozen=True)
class State:
    code: str
    name: str
    stance: str
    national_procedure: str
    procedure_wording: str
    source: str


@dataclass(frozen=True)
class Statement:
    id: str
    kind: str
    state: str | None
    date: str
    text: str
    source: str
    ref: str


@dataclass(frozen=True)
class Pledge:
    """One contribution a state has announced, with honest (possibly unknown) size."""

    id: str
    state: str
    domain: str
    status: str
    deployment: bool
    description: str
    statement: str
    troops_min: int | None = None
    troops_max: int | None = None
    troops_wording: str | None = None
    quantity_wording: str | None = None
    amount: int | None = None
    currency: str | None = None
    amount_eur_approx: int | None = None
    amount_wording: str | None = None
    location: str | None = None

    @property
    def is_firm(self) -> bool:
        return self.status in FIRM_STATUSES

    @property
    def troops_stated(self) -> bool:
        return self.troops_min is not None or self.troops_max is not None


@dataclass(frozen=True)
class Hub:
    """A hub run by a coalition state; lon/lat None when the place has not been stated."""

    id: str
    state: str
    description: str
    statement: str | None
    lon: float | None = None
    lat: float | None = None
    location_wording: str = ""
    hypothetical: bool = False


@dataclass(frozen=True)
class Registry:
    """The coalition registry: states, pledges, hubs, statements and their sources."""

    source: str
    meta: dict[str, Any]
    sources: dict[str, Source]
    states: dict[str, State]
    statements: dict[str, Statement]
    pledges: tuple[Pledge, ...]
    hubs: tuple[Hub, ...]

    def pledges_of(self, state: str) -> list[Pledge]:
        return [p for p in self.pledges if p.state == state]

    def procedure_of(self, pledge: Pledge) -> str:
        """The national procedure a pledge needs (a deployment needs its state's procedure)."""
        return self.states[pledge.state].national_procedure if pledge.deployment else "not_stated"

    def pledges_in(self, domains: Iterable[str], states: Iterable[str] | None = None) -> list[Pledge]:
        """Pledges (not withdrawn) in any of `domains`, optionally only of `states`."""
        doms, sts = set(domains), None if states is None else set(states)
        return [
            p for p in self.pledges
            if p.domain in doms and p.status != "withdrawn" and (sts is None or p.state in sts)
        ]


def _fail(source: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: {where}: {msg}")


def _opt(row: dict[str, Any], key: str, kind: type, source: str, where: str) -> Any:
    if key not in row:
        return None
    value = row[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise _fail(source, f"{where}.{key}", f"expected {kind.__name__}, got {value!r}")
    return value


def _req(row: dict[str, Any], key: str, kind: type, source: str, where: str) -> Any:
    if key not in row:
        raise _fail(source, f"{where}.{key}", "missing")
    return _opt(row, key, kind, source, where)


def _check_keys(row: dict[str, Any], allowed: set[str], source: str, where: str) -> None:
    for key in row:
        if key not in allowed:
            raise _fail(source, f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _vocab(value: str, allowed: tuple[str, ...], source: str, where: str) -> str:
    if value not in allowed:
        raise _fail(source, where, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def parse_registry(data: dict[str, Any], source: str) -> Registry:
    """Validate a parsed registry document (see the shipped TOML for the layout)."""
    for key in data:
        if key not in {"meta", "sources", "states", "statements", "pledges", "hubs"}:
            raise _fail(source, key, "unknown table")
    sources: dict[str, Source] = {}
    for i, row in enumerate(data.get("sources", [])):
        w = f"sources[{i}]"
        _check_keys(row, {"id", "title", "note"}, source, w)
        s = Source(_req(row, "id", str, source, w), _req(row, "title", str, source, w),
                   _opt(row, "note", str, source, w) or "")
        sources[s.id] = s

    def src_ref(row: dict[str, Any], w: str) -> str:
        sid = _req(row, "source", str, source, w)
        if sid not in sources:
            raise _fail(source, f"{w}.source", f"unknown source {sid!r}")
        return sid

    states: dict[str, State] = {}
    for i, row in enumerate(data.get("states", [])):
        w = f"states[{i}]"
        _check_keys(row, {"code", "name", "stance", "national_procedure", "procedure_wording", "source"}, source, w)
        code = _req(row, "code", str, source, w)
        if code in states:
            raise _fail(source, f"{w}.code", f"state {code!r} defined twice")
        states[code] = State(
            code, _req(row, "name", str, source, w),
            _vocab(_req(row, "stance", str, source, w), STANCES, source, f"{w}.stance"),
            _vocab(_req(row, "national_procedure", str, source, w), NATIONAL_PROCEDURES, source,
                   f"{w}.national_procedure"),
            _opt(row, "procedure_wording", str, source, w) or "",
            src_ref(row, w),
        )

    def state_ref(row: dict[str, Any], w: str, required: bool = True) -> str | None:
        code = _req(row, "state", str, source, w) if required else _opt(row, "state", str, source, w)
        if code is not None and code not in states:
            raise _fail(source, f"{w}.state", f"unknown state {code!r}")
        return code

    statements: dict[str, Statement] = {}
    for i, row in enumerate(data.get("statements", [])):
        w = f"statements[{i}]"
        _check_keys(row, {"id", "kind", "state", "date", "text", "source", "ref"}, source, w)
        st = Statement(
            _req(row, "id", str, source, w),
            _vocab(_req(row, "kind", str, source, w), STATEMENT_KINDS, source, f"{w}.kind"),
            state_ref(row, w, required=False),
            _opt(row, "date", str, source, w) or "",
            _req(row, "text", str, source, w),
            src_ref(row, w),
            _opt(row, "ref", str, source, w) or "",
        )
        if st.id in statements:
            raise _fail(source, f"{w}.id", f"statement {st.id!r} defined twice")
        statements[st.id] = st

    def stmt_ref(row: dict[str, Any], w: str, required: bool = True) -> str | None:
        sid = _req(row, "statement", str, source, w) if required else _opt(row, "statement", str, source, w)
        if sid is not None and sid not in statements:
            raise _fail(source, f"{w}.statement", f"unknown statement {sid!r}")
        return sid

    pledges: list[Pledge] = []
    seen: set[str] = set()
    pledge_keys = {
        "id", "state", "domain", "status", "deployment", "description", "statement", "troops_min",
        "troops_max", "troops_wording", "quantity_wording", "amount", "currency", "amount_eur_approx",
        "amount_wording", "location",
    }
    for i, row in enumerate(data.get("pledges", [])):
        w = f"pledges[{i}]"
        _check_keys(row, pledge_keys, source, w)
        p = Pledge(
            id=_req(row, "id", str, source, w),
            state=state_ref(row, w) or "",
            domain=_vocab(_req(row, "domain", str, source, w), PLEDGE_DOMAINS, source, f"{w}.domain"),
            status=_vocab(_req(row, "status", str, source, w), PLEDGE_STATUSES, source, f"{w}.status"),
            deployment=_req(row, "deployment", bool, source, w),
            description=_req(row, "description", str, source, w),
            statement=stmt_ref(row, w) or "",
            troops_min=_opt(row, "troops_min", int, source, w),
            troops_max=_opt(row, "troops_max", int, source, w),
            troops_wording=_opt(row, "troops_wording", str, source, w),
            quantity_wording=_opt(row, "quantity_wording", str, source, w),
            amount=_opt(row, "amount", int, source, w),
            currency=_opt(row, "currency", str, source, w),
            amount_eur_approx=_opt(row, "amount_eur_approx", int, source, w),
            amount_wording=_opt(row, "amount_wording", str, source, w),
            location=_opt(row, "location", str, source, w),
        )
        if p.id in seen:
            raise _fail(source, f"{w}.id", f"pledge {p.id!r} defined twice")
        seen.add(p.id)
        if p.troops_min is not None and p.troops_max is not None and p.troops_min > p.troops_max:
            raise _fail(source, f"{w}.troops_min", "troops_min exceeds troops_max")
        for key in ("troops_min", "troops_max", "amount", "amount_eur_approx"):
            v = getattr(p, key)
            if v is not None and v < 0:
                raise _fail(source, f"{w}.{key}", "must be >= 0")
        if p.amount is not None and not p.currency:
            raise _fail(source, f"{w}.currency", "an amount needs its currency")
        if p.domain == "funding" and p.troops_stated:
            raise _fail(source, f"{w}.troops_min", "a funding pledge has no troops")
        pledges.append(p)

    hubs: list[Hub] = []
    for i, row in enumerate(data.get("hubs", [])):
        w = f"hubs[{i}]"
        _check_keys(row, {"id", "state", "description", "statement", "lon", "lat", "location_wording",
                          "hypothetical"}, source, w)
        lon, lat = _opt(row, "lon", float, source, w), _opt(row, "lat", float, source, w)
        if (lon is None) != (lat is None):
            raise _fail(source, f"{w}.lon", "give both lon and lat, or neither")
        if lon is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _fail(source, f"{w}.lat", f"not a WGS84 position: lon={lon}, lat={lat}")
        hubs.append(Hub(
            id=_req(row, "id", str, source, w),
            state=state_ref(row, w) or "",
            description=_req(row, "description", str, source, w),
            statement=stmt_ref(row, w, required=False),
            lon=lon, lat=lat,
            location_wording=_opt(row, "location_wording", str, source, w) or "",
            hypothetical=bool(_opt(row, "hypothetical", bool, source, w)),
        ))
    return Registry(source, dict(data.get("meta", {})), sources, states, statements, tuple(pledges), tuple(hubs))


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate a coalition registry TOML (the shipped dataset when ``path`` is None)."""
    p = DEFAULT_DATASET if path is None else Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read coalition registry: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return parse_registry(data, str(p))


# --------------------------------------------------------------------------- gap view


@dataclass(frozen=True)
class Range:
    """A troop count known only within bounds; None bounds mean unknown."""

    min: int | None
    max: int | None

    def as_dict(self) -> dict[str, int | None]:
        return {"min": self.min, "max": self.max}


@dataclass
class GapView:
    """Pledged and firm contributions compared with a required force."""

    required_troops: int
    required_source: str
    pledge_counts: dict[str, dict[str, int]]  # domain -> status -> count
    stated_troops: Range  # sum of numbers stated by sources, pledged (not withdrawn)
    firm_troops: Range  # same, approved or deployed only
    interpreted_troops: Range  # stated numbers plus wording read through wording_bounds
    unquantified: list[dict[str, str]]  # troop pledges without stated numbers
    funding: dict[str, dict[str, int]]  # currency -> {"pledged": x, "firm": y}
    gap_firm: int  # required minus firm troops (lower bound)
    gap_interpreted: Range  # required minus interpreted troops (can be negative only if over-pledged)
    states_ruling_out: list[str] = field(default_factory=list)
    states_by_procedure: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "required_troops": self.required_troops,
            "required_source": self.required_source,
            "pledge_counts": self.pledge_counts,
            "stated_troops": self.stated_troops.as_dict(),
            "firm_troops": self.firm_troops.as_dict(),
            "interpreted_troops": self.interpreted_troops.as_dict(),
            "unquantified": self.unquantified,
            "funding": self.funding,
            "gap_firm": self.gap_firm,
            "gap_interpreted": self.gap_interpreted.as_dict(),
            "states_ruling_out": self.states_ruling_out,
            "states_by_procedure": self.states_by_procedure,
        }


def _sum_bounds(pairs: list[tuple[int | None, int | None]]) -> Range:
    """Sum of ranges; a missing min counts as 0, a missing max makes the max unknown."""
    lo = sum(a or 0 for a, _ in pairs)
    hi = None if any(b is None for _, b in pairs) else sum(b for _, b in pairs if b is not None)
    return Range(lo, hi)


def gap_view(
    registry: Registry,
    required_troops: int,
    required_source: str = "",
    wording_bounds: dict[str, tuple[int, int]] | None = None,
) -> GapView:
    """Compare what is pledged and what is firm (approved/deployed) with the required force.

    Stated numbers only are summed in ``stated_troops``/``firm_troops``; vague wording is
    never turned into a number there. ``interpreted_troops`` additionally reads wording
    through ``wording_bounds`` (an explicit, configurable interpretation); pledges neither
    stated nor interpretable make its maximum unknown (None).
    """
    bounds = {k.lower(): v for k, v in (wording_bounds or {}).items()}
    counts: dict[str, dict[str, int]] = {d: {s: 0 for s in PLEDGE_STATUSES} for d in PLEDGE_DOMAINS}
    stated: list[tuple[int | None, int | None]] = []
    firm: list[tuple[int | None, int | None]] = []
    interp: list[tuple[int | None, int | None]] = []
    unquantified: list[dict[str, str]] = []
    funding: dict[str, dict[str, int]] = {}
    for p in registry.pledges:
        counts[p.domain][p.status] += 1
        if p.status == "withdrawn":
            continue
        if p.domain == "funding":
            if p.amount is not None and p.currency:
                f = funding.setdefault(p.currency, {"pledged": 0, "firm": 0})
                f["pledged"] += p.amount
                if p.is_firm:
                    f["firm"] += p.amount
            continue
        if p.domain not in TROOP_DOMAINS or not p.deployment:
            continue
        if p.troops_stated:
            pair = (p.troops_min, p.troops_max)
            stated.append(pair)
            interp.append(pair)
            if p.is_firm:
                firm.append(pair)
            continue
        wording = (p.troops_wording or "").lower()
        unquantified.append({
            "pledge": p.id, "state": p.state, "domain": p.domain, "status": p.status,
            "wording": p.troops_wording or "not stated",
        })
        if wording in bounds:
            interp.append(bounds[wording])
        else:
            interp.append((None, None))
        if p.is_firm:
            firm.append((None, None))
    stated_r, firm_r, interp_r = _sum_bounds(stated), _sum_bounds(firm), _sum_bounds(interp)
    gap_interp = Range(
        None if interp_r.max is None else required_troops - interp_r.max,
        required_troops - (interp_r.min or 0),
    )
    by_proc: dict[str, list[str]] = {}
    for st in registry.states.values():
        by_proc.setdefault(st.national_procedure, []).append(st.code)
    return GapView(
        required_troops=required_troops,
        required_source=required_source,
        pledge_counts={d: {s: n for s, n in c.items() if n} for d, c in counts.items() if any(c.values())},
        stated_troops=stated_r,
        firm_troops=firm_r,
        interpreted_troops=interp_r,
        unquantified=unquantified,
        funding=funding,
        gap_firm=required_troops - (firm_r.min or 0),
        gap_interpreted=gap_interp,
        states_ruling_out=[s.code for s in registry.states.values() if s.stance == "rules_out_troops"],
        states_by_procedure=by_proc,
    )


# --------------------------------------------------------------------------- hubs


@dataclass(frozen=True)
class HubCheck:
    hub: Hub
    distance_km: float | None  # None when the hub has no stated location
    flagged: bool
    reason: str


def check_hubs(
    hubs: Iterable[Hub],
    distance_to_line_m: Callable[[float, float], float],
    min_distance_km: float,
) -> list[HubCheck]:
    """Flag hubs closer to the line of contact than ``min_distance_km``.

    ``distance_to_line_m(lon, lat)`` is typically ``territory.distance_to_line_m`` from
    ``truceline.geo``; hubs without a stated location are reported, never guessed.
    """
    out = []
    for hub in hubs:
        if hub.lon is None or hub.lat is None:
            out.append(HubCheck(hub, None, False, "location not stated: cannot check the distance to the line"))
            continue
        d_km = float(distance_to_line_m(hub.lon, hub.lat)) / 1000.0
        if d_km < min_distance_km:
            out.append(HubCheck(hub, d_km, True,
                                f"{d_km:.1f} km from the line, inside the minimum distance of {min_distance_km:g} km"))
        else:
            out.append(HubCheck(hub, d_km, False, f"{d_km:.1f} km from the line (minimum {min_distance_km:g} km)"))
    return out
