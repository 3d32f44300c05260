"""The commission's service layer: every operation on cases, over a store, by an actor.

The CLI (`truceline case ...`) and the web dashboard call these functions; nothing here
prints. Each state-changing function

1. resolves the actor (``--as`` / ``TRUCELINE_ACTOR``) against the commission's
   identities and the command's permitted roles (``AccessError`` otherwise),
2. runs in ONE write transaction (``Store.write()``): checks, evidence-log appends
   (votes, findings, dismissals, remedies, publications, as ``decision`` leaves) and the
   commission rows commit together or not at all, so a refusal changes nothing,
3. records a history row: action, from/to state, actor, time, reason.

Decisions are logged as JSON objects with an ``id`` (the decision id): ``truceline log
prove <decision id>`` proves them; a published case bundles the proofs, the signed tree
head and the log key so anyone can check them offline (``truceline verify``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update

from truceline import formats
from truceline.commission.coalition import Registry, load_registry
from truceline.commission.config import CommissionConfig, Identity, load_config
from truceline.commission.errors import (
    AccessError,
    AttributionError,
    CommissionError,
    DecisionError,
    NotFoundError,
    TransitionError,
    VoteError,
)
from truceline.commission.events import Event
from truceline.commission.grouping import UNDETERMINED, CaseDraft, compute_sectors, group_events
from truceline.commission.model import MOTION_KINDS, VOTE_CHOICES, CaseState, check_transition
from truceline.commission.remedies import Proposal, called_commitments, propose
from truceline.commission.rules import Tally, tally
from truceline.commission.severity import Assessment, assess_case
from truceline.store import Store
from truceline.store.commission_tables import (
    commission_case_events as t_events,
)
from truceline.store.commission_tables import (
    commission_cases as t_cases,
)
from truceline.store.commission_tables import (
    commission_decisions as t_decisions,
)
from truceline.store.commission_tables import (
    commission_history as t_history,
)
from truceline.store.commission_tables import (
    commission_motions as t_motions,
)
from truceline.store.commission_tables import (
    commission_votes as t_votes,
)

ACTOR_ENV = "TRUCELINE_ACTOR"
LOG_KIND = "decision"
SCHEMA = "truceline.commission/1"


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    """What the procedure needs besides the store: configuration, registry, threshold.

    ``threshold`` is the agreement profile's attribution threshold when a profile is
    given, else the commission file's fallback. ``parties`` (from the profile) restricts
    which codes a finding may name. ``territory``/``sector_km`` locate events without a
    ``sector`` property along the line of contact.
    """

    config: CommissionConfig
    registry: Registry
    threshold: float
    parties: tuple[str, ...] | None = None
    territory: Any = None
    sector_km: float = 50.0
    clock: Callable[[], float] = time.time
    log_key_file: str | Path | None = None
    from_profile: bool = False

    def now(self) -> str:
        return formats.format_time(float(int(self.clock())))

    @property
    def cell_km(self) -> float:
        """Grid cell standing in for a sector when neither the event nor a territory gives one:
        the profile's sector length when a profile is loaded, else the commission file's value."""
        return self.sector_km if self.from_profile else self.config.fallback_cell_km


def make_context(
    config: CommissionConfig | str | Path | None = None,
    registry: Registry | str | Path | None = None,
    profile: Any = None,
    territory: Any = None,
    clock: Callable[[], float] | None = None,
    log_key_file: str | Path | None = None,
) -> Context:
    """Build a :class:`Context` from files or loaded objects (None: the shipped defaults).

    ``profile`` is a ``truceline.profile`` object (duck-typed: ``attribution_threshold``,
    ``parties``, ``sector_km`` are read when present).
    """
    cfg = config if isinstance(config, CommissionConfig) else load_config(config)
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    threshold = cfg.attribution_threshold
    parties = None
    sector_km = 50.0
    if profile is not None:
        threshold = float(getattr(profile, "attribution_threshold", threshold))
        raw = getattr(profile, "parties", None)
        if raw:
            parties = tuple(p if isinstance(p, str) else getattr(p, "code", str(p)) for p in raw)
        sector_km = float(getattr(profile, "sector_km", sector_km) or sector_km)
    return Context(cfg, reg, threshold, parties, territory, sector_km, clock or time.time, log_key_file,
                   profile is not None)


# --------------------------------------------------------------------------- helpers


def _json(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def _load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def resolve_actor(ctx: Context, actor: str | None, command: str) -> Identity:
    """The identity performing ``command``; AccessError when missing, unknown or not allowed."""
    actor = actor or os.environ.get(ACTOR_ENV) or None
    if not actor:
        raise AccessError(f"'{command}' changes the record: say who you are with --as ID (or set {ACTOR_ENV})")
    actor = actor.strip()
    if not actor or any(c.isspace() or not c.isprintable() for c in actor) or len(actor) > 64:
        raise AccessError(f"--as {actor!r}: an identity is 1-64 printable characters without spaces")
    ident = ctx.config.identity(actor)
    allowed = ctx.config.permissions[command]
    if ident is None:
        if "user" in allowed:
            return Identity(actor, actor, "user")
        known = ", ".join([ctx.config.chair.id, *ctx.config.member_ids, *(s.id for s in ctx.config.staff)])
        raise AccessError(f"unknown identity {actor!r} may not {command} (identities in {ctx.config.source}: {known})")
    if ident.role not in allowed:
        raise AccessError(f"{actor} ({ident.role}) may not {command}: that needs the role {' or '.join(allowed)}")
    return ident


def _case_row(conn: Connection, case_id: str) -> dict[str, Any]:
    row = conn.execute(select(t_cases).where(t_cases.c.case_id == case_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no case {case_id!r} (see `truceline case list`)")
    return dict(row)


def _hist_row(
    case_id: str, action: str, actor: str, when: str, reason: str,
    from_state: str | None = None, to_state: str | None = None, detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"case_id": case_id, "action": action, "from_state": from_state, "to_state": to_state, "actor": actor,
            "time": when, "reason": reason, "detail": _json(detail or {})}


def _history(
    conn: Connection, case_id: str, action: str, actor: str, when: str, reason: str,
    from_state: str | None = None, to_state: str | None = None, detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(t_history.insert().values(
        **_hist_row(case_id, action, actor, when, reason, from_state, to_state, detail)))


def _set_state(conn: Connection, case: dict[str, Any], target: CaseState, when: str, **values: Any) -> None:
    check_transition(case["case_id"], case["state"], target)
    res = conn.execute(
        update(t_cases)
        .where((t_cases.c.case_id == case["case_id"]) & (t_cases.c.state == case["state"]))
        .values(state=target.value, updated_at=when, **values)
    )
    if res.rowcount != 1:  # somebody else moved the case first
        raise TransitionError(f"case {case['case_id']}: changed concurrently, try again")


def _append_decisions(conn: Connection, objects: Sequence[dict[str, Any]]) -> list[int]:
    """Append decision objects to the evidence log inside the caller's transaction."""
    from truceline.evidence import merkle
    from truceline.evidence.log import Appender, LogRow

    rows = []
    for obj in objects:
        entry = formats.canonical_bytes(obj)
        rows.append(LogRow(LOG_KIND, obj["id"], entry, merkle.leaf_hash(entry)))
    appender = Appender()
    appender.sync(conn)
    first = appender.append(conn, rows)
    return [first + i for i in range(len(rows))]


def _record_decision(conn: Connection, case_id: str, kind: str, actor: str, obj: dict[str, Any]) -> int:
    (leaf,) = _append_decisions(conn, [obj])
    conn.execute(t_decisions.insert().values(
        decision_id=obj["id"], case_id=case_id, kind=kind, actor=actor, time=obj["time"], leaf_index=leaf,
        json=formats.canonical_bytes(obj).decode(),
    ))
    return leaf


def _case_events(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(t_events).where(t_events.c.case_id == case_id).order_by(t_events.c.time_s, t_events.c.event_id)
    ).mappings().all()
    return [
        {
            "id": r["event_id"], "time": r["time"], "type": r["type"], "responsible": r["responsible"],
            "attribution": _load(r["attribution"]), "violations": _load(r["violations"]),
            "reports": _load(r["reports"]), "feature": _load(r["feature"]),
        }
        for r in rows
    ]


def _events_as_model(rows: Sequence[dict[str, Any]]) -> list[Event]:
    from truceline.commission.events import parse_feature

    return [parse_feature(r["feature"], "store", i) for i, r in enumerate(rows)]


def case_attribution(events: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Case-level attribution: for each party, the weakest per-event probability (min).

    A finding naming a party must hold for every event of the case, so the weakest event
    decides; a party missing from an event's attribution counts 0 for it.
    """
    if not events:
        return {}
    parties = sorted({p for e in events for p in e["attribution"]})
    return {p: min(float(e["attribution"].get(p, 0.0)) for e in events) for p in parties}


def _check_responsible(ctx: Context, case_id: str, party: str, events: Sequence[dict[str, Any]]) -> float:
    if ctx.parties is not None and party not in ctx.parties:
        raise AttributionError(f"case {case_id}: {party!r} is not a party of the agreement ({', '.join(ctx.parties)})")
    if not events:
        raise AttributionError(f"case {case_id}: the case holds no events, so no attribution can name {party}")
    attr = case_attribution(events)
    p = attr.get(party, 0.0)
    if p < ctx.threshold:
        weakest = min(events, key=lambda e: e["attribution"].get(party, 0.0))
        raise AttributionError(
            f"case {case_id}: attribution to {party} is {p:.3f} (weakest event {weakest['id']}), below the "
            f"threshold {ctx.threshold:g}; propose a finding with responsibility undetermined instead"
        )
    return p


def _last_case_number(conn: Connection, day: str) -> int:
    """Highest sequence number of the cases ``C-YYYYMMDD-NNN`` of a day (0 when none)."""
    prefix = f"C-{day.replace('-', '')}-"
    ids = conn.execute(select(t_cases.c.case_id).where(t_cases.c.day == day)).scalars()
    return max((int(i[len(prefix):]) for i in ids if i.startswith(prefix) and i[len(prefix):].isdigit()),
               default=0)


def _case_id(day: str, n: int) -> str:
    return f"C-{day.replace('-', '')}-{n:03d}"


def _next_case_id(conn: Connection, day: str) -> str:
    return _case_id(day, _last_case_number(conn, day) + 1)


def _event_row(case_id: str, ev: Event) -> dict[str, Any]:
    return {
        "case_id": case_id, "event_id": ev.id, "time": ev.time, "time_s": ev.t, "type": ev.type,
        "responsible": ev.responsible, "attribution": _json(ev.attribution), "violations": _json(list(ev.violations)),
        "reports": _json(list(ev.reports)), "feature": _json(ev.feature),
    }


def _title(rule: str, party: str, sector: str, day: str, n: int, severe: bool) -> str:
    who = "responsibility undetermined" if party == UNDETERMINED else f"by {party}"
    kind = "severe single event" if severe else f"{n} event{'s' if n != 1 else ''}"
    return f"{rule} {who}, sector {sector}, {day} ({kind})"


# --------------------------------------------------------------------------- opening cases


@dataclass
class OpenResult:
    opened: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    events_added: int = 0
    events_skipped: int = 0  # already in a case
    events_without_violation: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened, "extended": self.extended, "events_added": self.events_added,
            "events_skipped": self.events_skipped, "events_without_violation": self.events_without_violation,
        }


def open_cases_from_events(store: Store, actor: str | None, events: Sequence[Event], ctx: Context) -> OpenResult:
    """Open cases for the violations among ``events`` (idempotent per event id).

    Events already in a case are skipped; events whose group matches a case that is
    still ``open`` join it; other groups open new cases (a severe event always alone).
    One transaction, batched reads and inserts.
    """
    ident = resolve_actor(ctx, actor, "open")
    result = OpenResult(events_without_violation=sum(1 for e in events if not e.violations))
    violating = [e for e in events if e.violations]
    sectors = compute_sectors(violating, ctx.territory, ctx.sector_km, ctx.cell_km)
    with store.write() as conn:
        known: set[str] = set()
        ids = [e.id for e in violating]
        for i in range(0, len(ids), 500):
            known.update(conn.execute(
                select(t_events.c.event_id).where(t_events.c.event_id.in_(ids[i:i + 500]))).scalars())
        fresh = [e for e in violating if e.id not in known]
        result.events_skipped = len(violating) - len(fresh)
        when = ctx.now()
        drafts = group_events(ctx.config, fresh, sectors)
        keys = sorted({d.key for d in drafts if not d.severe})
        existing: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            for row in conn.execute(select(t_cases.c.case_id, t_cases.c.group_key, t_cases.c.time_s).where(
                    t_cases.c.group_key.in_(keys[i:i + 500]) & (t_cases.c.state == CaseState.OPEN.value))).mappings():
                existing.setdefault(row["group_key"], dict(row))
        last: dict[str, int] = {}
        case_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        hist_rows: list[dict[str, Any]] = []
        extended: dict[str, tuple[dict[str, Any], CaseDraft]] = {}
        for draft in drafts:
            old = None if draft.severe else existing.get(draft.key)
            if old is not None:
                case_id = old["case_id"]
                extended[case_id] = (old, draft)
                result.extended.append(case_id)
                hist_rows.append(_hist_row(case_id, "events_added", ident.id, when,
                                           f"{len(draft.events)} further event(s) of the same rule, party, "
                                           "sector and day", detail={"events": [e.id for e in draft.events]}))
            else:
                if draft.day not in last:
                    last[draft.day] = _last_case_number(conn, draft.day)
                last[draft.day] += 1
                case_id = _case_id(draft.day, last[draft.day])
                case_rows.append({
                    "case_id": case_id, "state": CaseState.OPEN.value, "origin": "auto", "group_key": draft.key,
                    "rule": draft.rule, "rules": _json(list(draft.rules)), "party": draft.party,
                    "sector": draft.sector, "day": draft.day, "severe": draft.severe,
                    "title": _title(draft.rule, draft.party, draft.sector, draft.day, len(draft.events),
                                    draft.severe),
                    "time_s": draft.events[0].t, "casualties": None, "damage": None, "responsible": None,
                    "finding_id": None, "remedy_id": None, "publication_id": None,
                    "opened_by": ident.id, "opened_at": when, "updated_at": when,
                })
                why = ("severe single event opens its own case" if draft.severe
                       else "violations grouped by rule, party, sector and day")
                hist_rows.append(_hist_row(case_id, "open", ident.id, when, why, None, CaseState.OPEN.value,
                                           {"group_key": draft.key, "events": [e.id for e in draft.events]}))
                result.opened.append(case_id)
            event_rows.extend(_event_row(case_id, e) for e in draft.events)
            result.events_added += len(draft.events)
        for rows, table in ((case_rows, t_cases), (event_rows, t_events), (hist_rows, t_history)):
            for i in range(0, len(rows), 1000):
                conn.execute(table.insert(), rows[i:i + 1000])
        for case_id, (old, draft) in extended.items():
            evs = _case_events(conn, case_id)
            rules = sorted({r for e in evs for r in e["violations"]})
            conn.execute(update(t_cases).where(t_cases.c.case_id == case_id).values(
                rules=_json(rules), time_s=min(old["time_s"], min(e.t for e in draft.events)), updated_at=when,
                title=_title(draft.rule, draft.party, draft.sector, draft.day, len(evs), False)))
    return result


def open_case(
    store: Store, actor: str | None, ctx: Context, *, events: Sequence[Event] = (), rule: str | None = None,
    title: str | None = None, reason: str = "", day: str | None = None, sector: str | None = None,
) -> str:
    """Open a case by hand, with the given events (may be none, e.g. a monitor's account)."""
    ident = resolve_actor(ctx, actor, "open")
    if not reason.strip():
        raise CommissionError("opening a case by hand needs a reason (--reason)")
    rules = sorted({r for e in events for r in e.violations} | ({rule} if rule else set()))
    if not rules:
        raise CommissionError("a case needs a rule code: pass --rule or events that break a rule")
    main_rule = rule or rules[0]
    when = ctx.now()
    evs = sorted(events, key=lambda e: (e.t, e.id))
    the_day = day or (evs[0].day if evs else when[:10])
    if len(the_day) != 10:
        raise CommissionError(f"--day must be YYYY-MM-DD, got {the_day!r}")
    parties = {e.responsible or UNDETERMINED for e in evs}
    party = parties.pop() if len(parties) == 1 else UNDETERMINED
    if sector is None:
        sectors = compute_sectors(evs, ctx.territory, ctx.sector_km, ctx.cell_km)
        uniq = sorted(set(sectors.values()))
        sector = uniq[0] if len(uniq) == 1 else ("several" if uniq else "unknown")
    with store.write() as conn:
        if evs:
            taken = conn.execute(select(t_events.c.event_id, t_events.c.case_id).where(
                t_events.c.event_id.in_([e.id for e in evs]))).all()
            if taken:
                raise CommissionError(
                    f"event {taken[0][0]} is already in case {taken[0][1]}; an event belongs to one case")
        case_id = _next_case_id(conn, the_day)
        conn.execute(t_cases.insert().values(
            case_id=case_id, state=CaseState.OPEN.value, origin="manual", group_key=None, rule=main_rule,
            rules=_json(rules), party=party, sector=sector, day=the_day, severe=False,
            title=title or _title(main_rule, party, sector, the_day, len(evs), False),
            time_s=evs[0].t if evs else formats.parse_time(f"{the_day}T00:00:00Z"),
            opened_by=ident.id, opened_at=when, updated_at=when,
        ))
        if evs:
            conn.execute(t_events.insert(), [_event_row(case_id, e) for e in evs])
        _history(conn, case_id, "open", ident.id, when, reason, None, CaseState.OPEN.value,
                 {"manual": True, "events": [e.id for e in evs]})
    return case_id


# --------------------------------------------------------------------------- reading


def list_cases(store: Store, state: str | None = None, day: str | None = None) -> list[dict[str, Any]]:
    """Cases (newest day first), optionally filtered by state and day."""
    q = select(t_cases, func.count(t_events.c.event_id).label("n_events")).select_from(
        t_cases.outerjoin(t_events, t_events.c.case_id == t_cases.c.case_id)).group_by(t_cases.c.case_id)
    if state:
        try:
            CaseState(state)
        except ValueError:
            raise CommissionError(
                f"unknown state {state!r} (states: {', '.join(s.value for s in CaseState)})") from None
        q = q.where(t_cases.c.state == state)
    if day:
        q = q.where(t_cases.c.day == day)
    q = q.order_by(t_cases.c.day.desc(), t_cases.c.case_id)
    with store.engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [
        {
            "case_id": r["case_id"], "state": r["state"], "day": r["day"], "rule": r["rule"],
            "rules": _load(r["rules"]), "party": r["party"], "sector": r["sector"], "severe": bool(r["severe"]),
            "events": int(r["n_events"]), "responsible": r["responsible"], "title": r["title"],
            "origin": r["origin"],
        }
        for r in rows
    ]


def _current_motion(conn: Connection, case_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(t_motions).where(t_motions.c.case_id == case_id).order_by(t_motions.c.number.desc()).limit(1)
    ).mappings().first()
    return None if row is None else dict(row)


def _votes(conn: Connection, case_id: str, motion: int) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(t_votes).where((t_votes.c.case_id == case_id) & (t_votes.c.motion == motion)))
    return {r["member"]: dict(r) for r in rows.mappings()}


def _assessment(ctx: Context, case: dict[str, Any], events: Sequence[dict[str, Any]]) -> Assessment:
    return assess_case(ctx.config.severity, _events_as_model(events), case["casualties"], case["damage"])


def _prior_findings(conn: Connection, case: dict[str, Any], party: str) -> list[tuple[str, float]]:
    rows = conn.execute(select(t_cases.c.case_id, t_cases.c.time_s).where(
        (t_cases.c.responsible == party) & (t_cases.c.case_id != case["case_id"])
        & t_cases.c.state.in_([CaseState.FINDING_ADOPTED.value, CaseState.REMEDY_DECIDED.value,
                               CaseState.PUBLISHED.value])
        & (t_cases.c.time_s <= case["time_s"])
    )).all()
    return [(cid, float(t)) for cid, t in rows]


def _proposal(conn: Connection, ctx: Context, case: dict[str, Any], events: Sequence[dict[str, Any]]) -> Proposal:
    responsible = case["responsible"]
    prior = _prior_findings(conn, case, responsible) if responsible else []
    return propose(ctx.config, _assessment(ctx, case, events), responsible, prior, case["time_s"])


def get_case(store: Store, case_id: str, ctx: Context) -> dict[str, Any]:
    """Everything about a case: events, attribution, history, motion and votes, decisions,
    severity, the remedy proposal (once a finding is adopted) and which reports of its
    events are in the evidence log (leaf index)."""
    from truceline.store.log_tables import log_entries

    with store.engine.connect() as conn:
        case = _case_row(conn, case_id)
        events = _case_events(conn, case_id)
        history = [
            {k: (_load(v) if k == "detail" else v) for k, v in dict(r).items() if k != "case_id"}
            for r in conn.execute(
                select(t_history).where(t_history.c.case_id == case_id).order_by(t_history.c.seq)).mappings()
        ]
        motion = _current_motion(conn, case_id)
        votes = _votes(conn, case_id, motion["number"]) if motion else {}
        decisions = [
            {"id": r["decision_id"], "kind": r["kind"], "actor": r["actor"], "time": r["time"],
             "leaf_index": r["leaf_index"]}
            for r in conn.execute(select(t_decisions).where(t_decisions.c.case_id == case_id)
                                  .order_by(t_decisions.c.leaf_index)).mappings()
        ]
        report_ids = sorted({r for e in events for r in e["reports"]})
        leaves: dict[str, int] = {}
        for i in range(0, len(report_ids), 500):
            part = report_ids[i:i + 500]
            for oid, idx in conn.execute(select(log_entries.c.object_id, log_entries.c.idx).where(
                    (log_entries.c.kind == "report") & log_entries.c.object_id.in_(part))):
                leaves[oid] = int(idx)
        proposal = (_proposal(conn, ctx, case, events).as_dict()
                    if case["state"] == CaseState.FINDING_ADOPTED.value else None)
    assessment = _assessment(ctx, case, events)
    tal = None
    if motion and motion["status"] == "open":
        tal = tally(ctx.config.decision, ctx.config.voters(), {m: v["choice"] for m, v in votes.items()}).as_dict()
    return {
        "case_id": case_id,
        "state": case["state"],
        "title": case["title"],
        "origin": case["origin"],
        "rule": case["rule"],
        "rules": _load(case["rules"]),
        "party": case["party"],
        "sector": case["sector"],
        "day": case["day"],
        "severe": bool(case["severe"]),
        "casualties": case["casualties"],
        "damage": case["damage"],
        "responsible": case["responsible"],
        "finding_id": case["finding_id"],
        "dismissal_id": next((d["id"] for d in decisions if d["kind"] == "dismissal"), None),
        "remedy_id": case["remedy_id"],
        "publication_id": case["publication_id"],
        "opened_by": case["opened_by"],
        "opened_at": case["opened_at"],
        "threshold": ctx.threshold,
        "attribution": case_attribution(events),
        "severity": {"score": assessment.score, "level": assessment.level, "reasons": list(assessment.reasons)},
        "events": [{k: v for k, v in e.items() if k != "feature"} for e in events],
        "reports_in_log": {rid: leaves.get(rid) for rid in report_ids},
        "motion": motion and {k: v for k, v in motion.items() if k != "case_id"},
        "votes": [{"member": m, "choice": v["choice"], "reason": v["reason"], "time": v["time"],
                   "decision_id": v["decision_id"]} for m, v in sorted(votes.items())],
        "tally": tal,
        "decisions": decisions,
        "proposal": proposal,
        "history": history,
    }


def remedy_proposal(store: Store, case_id: str, ctx: Context) -> dict[str, Any]:
    """The next rung the system proposes for a case with an adopted finding, with reasons."""
    with store.engine.connect() as conn:
        case = _case_row(conn, case_id)
        if case["state"] != CaseState.FINDING_ADOPTED.value:
            raise TransitionError(
                f"case {case_id}: a remedy is proposed once a finding is adopted (the case is {case['state']})")
        return _proposal(conn, ctx, case, _case_events(conn, case_id)).as_dict()


# --------------------------------------------------------------------------- review, votes


def review(
    store: Store, actor: str | None, case_id: str, ctx: Context, *, propose_kind: str = "finding",
    responsible: str | None = None, text: str = "", reason: str = "", casualties: int | None = None,
    damage: str | None = None, auto_responsible: bool = False,
) -> dict[str, Any]:
    """Put a case under review with a motion (a finding, naming a party or with
    responsibility undetermined, or a dismissal); on a case already under review, a new
    motion replaces the open one (earlier votes stay recorded but no longer count).

    With ``auto_responsible`` and no ``responsible``, a finding motion names the case's
    party when the case attribution reaches the threshold, else leaves it undetermined.
    """
    ident = resolve_actor(ctx, actor, "review")
    if propose_kind not in MOTION_KINDS:
        raise CommissionError(f"unknown motion {propose_kind!r} (motions: {', '.join(MOTION_KINDS)})")
    if propose_kind == "dismissal" and responsible:
        raise CommissionError("a dismissal names no responsible party")
    if propose_kind == "dismissal" and not (reason or text).strip():
        raise CommissionError("a dismissal motion needs its grounds (--reason)")
    if casualties is not None and casualties < 0:
        raise CommissionError(f"--casualties must be >= 0, got {casualties}")
    if damage is not None and damage not in ctx.config.severity.damage_points:
        raise CommissionError(
            f"unknown damage level {damage!r} (levels: {', '.join(ctx.config.severity.damage_points)})")
    when = ctx.now()
    with store.write() as conn:
        case = _case_row(conn, case_id)
        events = _case_events(conn, case_id)
        if propose_kind == "finding" and responsible:
            _check_responsible(ctx, case_id, responsible, events)
        elif (
            propose_kind == "finding" and auto_responsible and case["party"] != UNDETERMINED
            and case_attribution(events).get(case["party"], 0.0) >= ctx.threshold
            and (ctx.parties is None or case["party"] in ctx.parties)
        ):  # no party given: name the case's party when its attribution reaches the threshold
            responsible = case["party"]
        previous = _current_motion(conn, case_id)
        if case["state"] == CaseState.OPEN.value:
            _set_state(conn, case, CaseState.UNDER_REVIEW, when)
            _history(conn, case_id, "review", ident.id, when, reason or "review opened",
                     CaseState.OPEN.value, CaseState.UNDER_REVIEW.value)
        elif case["state"] != CaseState.UNDER_REVIEW.value:
            check_transition(case_id, case["state"], CaseState.UNDER_REVIEW)
        number = 1 if previous is None else previous["number"] + 1
        if previous is not None and previous["status"] == "open":
            conn.execute(update(t_motions).where(
                (t_motions.c.case_id == case_id) & (t_motions.c.number == previous["number"])).values(
                status="superseded"))
        if not text:
            text = ("dismissal of the case" if propose_kind == "dismissal" else
                    f"violation occurred; responsible: {responsible}" if responsible else
                    "violation occurred; responsibility undetermined")
        conn.execute(t_motions.insert().values(
            case_id=case_id, number=number, kind=propose_kind, responsible=responsible, text=text,
            proposed_by=ident.id, time=when, status="open"))
        changes = {}
        if casualties is not None:
            changes["casualties"] = casualties
        if damage is not None:
            changes["damage"] = damage
        if changes:
            conn.execute(update(t_cases).where(t_cases.c.case_id == case_id).values(updated_at=when, **changes))
        _history(conn, case_id, "motion", ident.id, when, reason or text, detail={
            "motion": number, "kind": propose_kind, "responsible": responsible, "text": text,
            "supersedes": previous["number"] if previous is not None and previous["status"] == "open" else None,
            **changes,
        })
    return {"case_id": case_id, "motion": number, "kind": propose_kind, "responsible": responsible, "text": text}


def _motion_digest(case_id: str, motion: dict[str, Any]) -> str:
    body = {"case": case_id, "number": motion["number"], "kind": motion["kind"],
            "responsible": motion["responsible"], "text": motion["text"]}
    return formats.b64encode(hashlib.sha256(formats.canonical_bytes(body)).digest())


def vote(store: Store, actor: str | None, case_id: str, choice: str, ctx: Context, reason: str = "") -> dict[str, Any]:
    """A member's vote on the case's open motion; appended to the evidence log."""
    ident = resolve_actor(ctx, actor, "vote")
    if choice not in VOTE_CHOICES:
        raise VoteError(f"vote must be one of {', '.join(VOTE_CHOICES)}, got {choice!r}")
    if ident.id not in ctx.config.voters():
        raise VoteError(f"{ident.id} is not a voting member of the commission ({', '.join(ctx.config.voters())})")
    when = ctx.now()
    with store.write() as conn:
        case = _case_row(conn, case_id)
        if case["state"] != CaseState.UNDER_REVIEW.value:
            raise TransitionError(f"case {case_id}: votes are cast while a case is under_review (it is {case['state']})")
        motion = _current_motion(conn, case_id)
        if motion is None or motion["status"] != "open":
            raise VoteError(f"case {case_id}: no open motion to vote on (see `truceline case review`)")
        prior = _votes(conn, case_id, motion["number"]).get(ident.id)
        if prior is not None:
            raise VoteError(
                f"case {case_id}: {ident.id} has already voted {prior['choice']} on motion {motion['number']}")
        decision_id = f"{case_id}-m{motion['number']}-vote-{ident.id}"
        obj = {
            "schema": SCHEMA, "type": "vote", "id": decision_id, "case": case_id, "motion": motion["number"],
            "motion_kind": motion["kind"], "motion_digest": _motion_digest(case_id, motion),
            "member": ident.id, "choice": choice, "reason": reason, "time": when,
        }
        leaf = _record_decision(conn, case_id, "vote", ident.id, obj)
        conn.execute(t_votes.insert().values(case_id=case_id, motion=motion["number"], member=ident.id, choice=choice,
                                             reason=reason, time=when, decision_id=decision_id))
        _history(conn, case_id, "vote", ident.id, when, reason or choice,
                 detail={"motion": motion["number"], "choice": choice, "decision_id": decision_id, "leaf_index": leaf})
    return {"decision_id": decision_id, "leaf_index": leaf, "choice": choice}


def _tally_open_motion(conn: Connection, ctx: Context, case_id: str, kind: str, ident: Identity) -> tuple[
        dict[str, Any], dict[str, dict[str, Any]], Tally]:
    motion = _current_motion(conn, case_id)
    if motion is None or motion["status"] != "open":
        raise DecisionError(f"case {case_id}: no open motion (see `truceline case review`)")
    if motion["kind"] != kind:
        other = "adopt" if motion["kind"] == "finding" else "dismiss"
        raise DecisionError(f"case {case_id}: the open motion {motion['number']} is a {motion['kind']}; use '{other}'")
    votes = _votes(conn, case_id, motion["number"])
    tal = tally(ctx.config.decision, ctx.config.voters(), {m: v["choice"] for m, v in votes.items()},
                chair_casts=ident.role == "chair")
    if not tal.adopted:
        raise DecisionError(f"case {case_id}: motion {motion['number']} not carried under "
                            f"{ctx.config.decision.rule}: {tal.explanation}")
    return motion, votes, tal


def _rule_dict(ctx: Context) -> dict[str, Any]:
    d = ctx.config.decision
    return {"rule": d.rule, "quorum": d.quorum, "qualified_fraction": d.qualified_fraction,
            "voters": list(ctx.config.voters())}


def adopt(store: Store, actor: str | None, case_id: str, ctx: Context, reason: str = "") -> dict[str, Any]:
    """Adopt the open finding motion if the decision rule is met; the finding is logged.

    A finding names the responsible party only if the case attribution reaches the
    threshold (checked again here); otherwise it records "violation occurred,
    responsibility undetermined".
    """
    ident = resolve_actor(ctx, actor, "adopt")
    when = ctx.now()
    with store.write() as conn:
        case = _case_row(conn, case_id)
        check_transition(case_id, case["state"], CaseState.FINDING_ADOPTED)
        motion, votes, tal = _tally_open_motion(conn, ctx, case_id, "finding", ident)
        events = _case_events(conn, case_id)
        responsible = motion["responsible"]
        prob = _check_responsible(ctx, case_id, responsible, events) if responsible else None
        decision_id = f"{case_id}-m{motion['number']}-finding"
        assessment = _assessment(ctx, case, events)
        finding = {
            "schema": SCHEMA, "type": "finding", "id": decision_id, "case": case_id, "motion": motion["number"],
            "motion_digest": _motion_digest(case_id, motion),
            "violation_occurred": True,
            "responsibility": "determined" if responsible else "undetermined",
            "responsible": responsible,
            "attribution_to_responsible": prob,
            "attribution_threshold": ctx.threshold,
            "case_attribution": case_attribution(events),
            "rules": _load(case["rules"]),
            "day": case["day"], "sector": case["sector"],
            "severity": {"score": assessment.score, "level": assessment.level},
            "text": motion["text"],
            "events": [
                {"id": e["id"], "type": e["type"], "time": e["time"], "attribution": e["attribution"],
                 "responsible": e["responsible"], "violations": e["violations"], "reports": e["reports"]}
                for e in events
            ],
            "votes": [{"member": m, "choice": v["choice"], "decision_id": v["decision_id"]}
                      for m, v in sorted(votes.items())],
            "decision_rule": _rule_dict(ctx),
            "tally": tal.as_dict(),
            "adopted_by": ident.id, "reason": reason, "time": when,
        }
        leaf = _record_decision(conn, case_id, "finding", ident.id, finding)
        _set_state(conn, case, CaseState.FINDING_ADOPTED, when, responsible=responsible, finding_id=decision_id)
        conn.execute(update(t_motions).where(
            (t_motions.c.case_id == case_id) & (t_motions.c.number == motion["number"])).values(status="adopted"))
        _history(conn, case_id, "adopt", ident.id, when, reason or tal.explanation, CaseState.UNDER_REVIEW.value,
                 CaseState.FINDING_ADOPTED.value, {"decision_id": decision_id, "leaf_index": leaf,
                                                   "tally": tal.as_dict()})
    return finding


def dismiss(store: Store, actor: str | None, case_id: str, ctx: Context, reason: str = "") -> dict[str, Any]:
    """Dismiss a case when the open dismissal motion is carried; the dismissal is logged."""
    ident = resolve_actor(ctx, actor, "dismiss")
    when = ctx.now()
    with store.write() as conn:
        case = _case_row(conn, case_id)
        check_transition(case_id, case["state"], CaseState.DISMISSED)
        motion, votes, tal = _tally_open_motion(conn, ctx, case_id, "dismissal", ident)
        events = _case_events(conn, case_id)
        decision_id = f"{case_id}-m{motion['number']}-dismissal"
        obj = {
            "schema": SCHEMA, "type": "dismissal", "id": decision_id, "case": case_id, "motion": motion["number"],
            "motion_digest": _motion_digest(case_id, motion), "grounds": motion["text"],
            "events": [e["id"] for e in events],
            "votes": [{"member": m, "choice": v["choice"], "decision_id": v["decision_id"]}
                      for m, v in sorted(votes.items())],
            "decision_rule": _rule_dict(ctx), "tally": tal.as_dict(),
            "decided_by": ident.id, "reason": reason, "time": when,
        }
        leaf = _record_decision(conn, case_id, "dismissal", ident.id, obj)
        _set_state(conn, case, CaseState.DISMISSED, when)
        conn.execute(update(t_motions).where(
            (t_motions.c.case_id == case_id) & (t_motions.c.number == motion["number"])).values(status="adopted"))
        _history(conn, case_id, "dismiss", ident.id, when, reason or motion["text"], CaseState.UNDER_REVIEW.value,
                 CaseState.DISMISSED.value, {"decision_id": decision_id, "leaf_index": leaf})
    return obj


# --------------------------------------------------------------------------- remedy, publication


def decide_remedy(
    store: Store, actor: str | None, case_id: str, ctx: Context, *, remedy: str | None = None,
    call_on: Sequence[str] | None = None, reason: str = "",
) -> dict[str, Any]:
    """Decide the remedy (default: the proposed rung); logged with the commitments it
    calls on and which of those are only intentions so far. Choosing another rung than
    the proposal needs a reason."""
    ident = resolve_actor(ctx, actor, "remedy")
    cfg = ctx.config
    if remedy is not None and remedy not in cfg.remedies:
        raise CommissionError(f"unknown remedy {remedy!r} (menu in {cfg.source}: {', '.join(cfg.remedies)})")
    for st in call_on or ():
        if st not in ctx.registry.states:
            raise CommissionError(
                f"--call-on {st!r} is not a state of the coalition registry ({', '.join(ctx.registry.states)})")
    when = ctx.now()
    with store.write() as conn:
        case = _case_row(conn, case_id)
        check_transition(case_id, case["state"], CaseState.REMEDY_DECIDED)
        events = _case_events(conn, case_id)
        proposal = _proposal(conn, ctx, case, events)
        chosen = cfg.remedies[remedy] if remedy else proposal.remedy
        if chosen.requires_responsible and not case["responsible"]:
            raise CommissionError(
                f"case {case_id}: remedy {chosen.id!r} needs a responsible party, and the finding leaves "
                f"responsibility undetermined")
        deviates = chosen.id != proposal.remedy.id
        if deviates and not reason.strip():
            raise CommissionError(
                f"case {case_id}: the proposed rung is {proposal.remedy.id!r}; choosing {chosen.id!r} instead needs "
                f"a reason (--reason)")
        calls = called_commitments(ctx.registry, chosen, call_on)
        decision_id = f"{case_id}-remedy"
        obj = {
            "schema": SCHEMA, "type": "remedy", "id": decision_id, "case": case_id, "finding": case["finding_id"],
            "responsible": case["responsible"],
            "remedy": {"id": chosen.id, "category": chosen.category, "title": chosen.title,
                       "rung": cfg.ladder.rungs.index(chosen.id) + 1 if chosen.id in cfg.ladder.rungs else None},
            "proposal": proposal.as_dict(),
            "follows_proposal": not deviates,
            "calls_on": [c.as_dict() for c in calls],
            "intentions_only": sorted({c.pledge or c.state for c in calls if c.intention_only}),
            "registry": {"source": Path(ctx.registry.source).name, "as_of": ctx.registry.meta.get("as_of")},
            "decided_by": ident.id, "reason": reason, "time": when,
        }
        leaf = _record_decision(conn, case_id, "remedy", ident.id, obj)
        _set_state(conn, case, CaseState.REMEDY_DECIDED, when, remedy_id=decision_id)
        _history(conn, case_id, "remedy", ident.id, when, reason or f"proposed rung {proposal.remedy.id} adopted",
                 CaseState.FINDING_ADOPTED.value, CaseState.REMEDY_DECIDED.value,
                 {"decision_id": decision_id, "leaf_index": leaf, "remedy": chosen.id})
    return obj


def publish(
    store: Store, actor: str | None, case_id: str, ctx: Context, reason: str = "", out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Publish a case: log the publication, sign a tree head covering it, and return the
    bundle (decisions, inclusion proofs, head, key) written to ``out_dir`` if given."""
    from truceline.evidence.log import sign_head_in

    ident = resolve_actor(ctx, actor, "publish")
    when = ctx.now()
    with store.write() as conn:
        case = _case_row(conn, case_id)
        target = CaseState.PUBLISHED
        check_transition(case_id, case["state"], target)
        prior = [r[0] for r in conn.execute(select(t_decisions.c.decision_id).where(
            t_decisions.c.case_id == case_id).order_by(t_decisions.c.leaf_index))]
        dismissal = conn.execute(select(t_decisions.c.decision_id).where(
            (t_decisions.c.case_id == case_id) & (t_decisions.c.kind == "dismissal"))).scalar_one_or_none()
        decision_id = f"{case_id}-publication"
        obj = {
            "schema": SCHEMA, "type": "publication", "id": decision_id, "case": case_id,
            "outcome": "dismissed" if case["state"] == CaseState.DISMISSED.value else "finding",
            "finding": case["finding_id"], "dismissal": dismissal, "remedy": case["remedy_id"], "decisions": prior,
            "published_by": ident.id, "reason": reason, "time": when,
        }
        leaf = _record_decision(conn, case_id, "publication", ident.id, obj)
        _set_state(conn, case, target, when, publication_id=decision_id)
        _history(conn, case_id, "publish", ident.id, when, reason or "published", case["state"], target.value,
                 {"decision_id": decision_id, "leaf_index": leaf})
        head = sign_head_in(conn, ctx.log_key_file)
    bundle = case_bundle(store, case_id, head=head)
    if out_dir is not None:
        write_bundle(bundle, out_dir)
    return bundle


def case_bundle(store: Store, case_id: str, head: dict[str, Any] | None = None) -> dict[str, Any]:
    """The public record of a case: its logged decisions (exact objects), inclusion
    proofs of those and of its events' reports against ``head`` (default: the latest
    signed head), the head and the log key; each proof is checked before returning."""
    from truceline.evidence import merkle
    from truceline.evidence.log import find_entry, inclusion_proof, latest_head, public_key_json

    head = head or latest_head(store)
    if head is None:
        raise CommissionError("the evidence log has no signed tree head yet (`truceline log head`)")
    with store.engine.connect() as conn:
        case = _case_row(conn, case_id)
        events = _case_events(conn, case_id)
        decisions = conn.execute(select(t_decisions.c.decision_id, t_decisions.c.json).where(
            t_decisions.c.case_id == case_id).order_by(t_decisions.c.leaf_index)).all()
    size = int(head["tree_size"])
    root = formats.b64decode(head["root_hash"], 32)
    proofs: dict[str, Any] = {}
    objects: dict[str, Any] = {}
    missing_reports: list[str] = []
    for did, text in decisions:
        objects[did] = orjson.loads(text)
    report_ids = sorted({r for e in events for r in e["reports"]})
    for oid in [*objects, *report_ids]:
        kind = LOG_KIND if oid in objects else "report"
        try:
            proof = inclusion_proof(store, oid, size=size, kind=kind)
        except Exception:  # noqa: BLE001 - a report that never went through ingest has no proof
            if kind == "report":
                missing_reports.append(oid)
                continue
            raise
        path = [formats.b64decode(h, 32) for h in proof["inclusion_path"]]
        leaf = formats.b64decode(proof["leaf_hash"], 32)
        if kind == LOG_KIND and leaf != merkle.leaf_hash(formats.canonical_bytes(objects[oid])):
            raise CommissionError(f"decision {oid}: stored object does not match its log leaf")
        if not merkle.verify_inclusion(leaf, proof["leaf_index"], size, path, root):
            raise CommissionError(f"{oid}: inclusion proof does not verify against the head of size {size}")
        proofs[oid] = proof
    reports = {}
    for rid in report_ids:
        if rid in proofs:
            _, _, entry = find_entry(store, rid, "report")
            reports[rid] = orjson.loads(entry)
    return {
        "case": {
            "case_id": case_id, "state": case["state"], "title": case["title"], "day": case["day"],
            "rules": _load(case["rules"]), "sector": case["sector"], "responsible": case["responsible"],
            "finding": case["finding_id"], "remedy": case["remedy_id"], "publication": case["publication_id"],
            "dismissal": next((d for d, o in objects.items() if o.get("type") == "dismissal"), None),
        },
        "decisions": objects,
        "events": [e["feature"] for e in events],
        "reports": reports,
        "reports_not_in_log": missing_reports,
        "proofs": proofs,
        "head": head,
        "key": public_key_json(store),
    }


def write_bundle(bundle: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write a bundle as files: case.json, decisions/<id>.json, proofs/<id>.json,
    reports/<id>.json, events.geojson, head.json, key.json (what `truceline verify` reads)."""
    out = Path(out_dir)
    written: list[Path] = []

    def put(rel: str, obj: Any) -> None:
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        written.append(p)

    def safe(name: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)

    try:
        put("case.json", bundle["case"])
        for did, obj in bundle["decisions"].items():
            put(f"decisions/{safe(did)}.json", obj)
        for oid, proof in bundle["proofs"].items():
            put(f"proofs/{safe(oid)}.json", proof)
        for rid, rep in bundle["reports"].items():
            put(f"reports/{safe(rid)}.json", rep)
        put("events.geojson", {"type": "FeatureCollection", "features": bundle["events"]})
        put("head.json", bundle["head"])
        put("key.json", bundle["key"])
    except OSError as exc:
        raise CommissionError(f"{out}: cannot write the publication bundle: {exc.strerror or exc}") from None
    return written
