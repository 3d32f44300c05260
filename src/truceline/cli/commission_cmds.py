"""`truceline case ...` (the special commission's cases) and `truceline coalition ...`.

Thin layer over ``truceline.commission.service``: every command that changes the record
needs an identity (``--as ID`` or ``$TRUCELINE_ACTOR``), recorded in the case history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

DB_HELP = "Database URL: sqlite:///FILE (default $TRUCELINE_DB or sqlite:///./truceline.sqlite) or postgresql://..."
AS_HELP = "Who acts: a member state, the chair or a staff id of the commission file (or $TRUCELINE_ACTOR)."
COMMISSION_HELP = "Commission configuration TOML (default: the shipped illustrative one)."
COALITION_HELP = "Coalition registry TOML (default: the shipped statements up to January 2026)."
PROFILE_HELP = "Agreement profile TOML (attribution threshold, parties, sector length; default: shipped)."
KEY_HELP = "Log signing key file (default: kept in the store, or $TRUCELINE_LOG_KEY)."

case_app = typer.Typer(help="Special commission: cases, review, votes, findings, remedies, publication.",
                       no_args_is_help=True)
coalition_app = typer.Typer(help="Coalition registry: pledges by state and domain, hubs, force gap.",
                            no_args_is_help=True)

_DB = typer.Option(None, "--db", help=DB_HELP)
_AS = typer.Option(None, "--as", help=AS_HELP)
_COMMISSION = typer.Option(None, "--commission", help=COMMISSION_HELP)
_COALITION = typer.Option(None, "--coalition", help=COALITION_HELP)
_PROFILE = typer.Option(None, "--profile", help=PROFILE_HELP)
_JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")


def _ctx(commission: Path | None, coalition: Path | None, profile: Path | None,
         territory: Path | None = None, log_key: Path | None = None):  # type: ignore[no-untyped-def]
    from truceline.commission.service import make_context

    prof = None
    try:
        from truceline.profile import load_profile
    except ImportError:  # profile stage not present: the commission file's threshold applies
        load_profile = None  # type: ignore[assignment]
    if load_profile is not None:
        prof = load_profile(profile)
    terr = None
    if territory is not None:
        from truceline.geo import load_territory

        terr = load_territory(territory)
    return make_context(commission, coalition, prof, terr, log_key_file=log_key)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console()


# --------------------------------------------------------------------------- case


@case_app.command("list")
def case_list(state: str | None = typer.Option(None, "--state", help="Only cases in this state."),
              day: str | None = typer.Option(None, "--day", help="Only cases of this UTC day (YYYY-MM-DD)."),
              db: str | None = _DB, as_json: bool = _JSON) -> None:
    """List cases (newest day first)."""
    from rich.table import Table

    from truceline.commission.service import list_cases
    from truceline.store import open_store

    with open_store(db) as store:
        rows = list_cases(store, state=state, day=day)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} case(s)")
    for col in ("case", "state", "day", "rule", "party", "sector", "events", "responsible"):
        table.add_column(col, no_wrap=col in ("case", "state", "day"))
    for r in rows:
        table.add_row(r["case_id"], r["state"], r["day"], r["rule"], r["party"], r["sector"], str(r["events"]),
                      r["responsible"] or "-")
    _console().print(table)


@case_app.command("show")
def case_show(case_id: str = typer.Argument(..., help="Case id (see `case list`)."),
              db: str | None = _DB, commission: Path | None = _COMMISSION,
              coalition: Path | None = _COALITION, profile: Path | None = _PROFILE,
              as_json: bool = _JSON) -> None:
    """Show a case: events, attribution, severity, motion, votes, decisions, proposal, history."""
    from truceline.commission.service import get_case
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile)
    with open_store(db) as store:
        case = get_case(store, case_id, ctx)
    if as_json:
        _print_json(case)
        return
    from rich.table import Table

    con = _console()
    con.print(f"[bold]{case['case_id']}[/bold]  {case['title']}")
    con.print(f"state: [bold]{case['state']}[/bold]   responsible: {case['responsible'] or '-'}   "
              f"severity: {case['severity']['score']} ({case['severity']['level']})   "
              f"threshold: {case['threshold']:g}")
    attr = ", ".join(f"{p} {v:.3f}" for p, v in case["attribution"].items()) or "-"
    con.print(f"case attribution (weakest event per party): {attr}")
    ev = Table(title="events")
    for col in ("id", "time", "type", "responsible", "attribution", "violations", "reports (leaf)"):
        ev.add_column(col)
    for e in case["events"]:
        reps = ", ".join(f"{r} ({case['reports_in_log'].get(r) if case['reports_in_log'].get(r) is not None else 'not logged'})"
                         for r in e["reports"])
        ev.add_row(e["id"], e["time"], e["type"], e["responsible"] or "-",
                   ", ".join(f"{p} {v:.3f}" for p, v in e["attribution"].items()), ", ".join(e["violations"]), reps)
    con.print(ev)
    if case["motion"]:
        m = case["motion"]
        con.print(f"motion {m['number']} ({m['status']}): {m['kind']} - {m['text']}  [by {m['proposed_by']}]")
        for v in case["votes"]:
            con.print(f"  {v['member']}: {v['choice']}  {v['reason']}  [{v['decision_id']}]")
        if case["tally"]:
            con.print(f"  tally: {case['tally']['explanation']}")
    if case["proposal"]:
        p = case["proposal"]
        con.print(f"[bold]proposed remedy[/bold]: rung {p['rung']} {p['remedy']} - {p['title']}")
        for reason in p["reasons"]:
            con.print(f"  - {reason}")
    if case["decisions"]:
        con.print("decisions in the evidence log: " + ", ".join(
            f"{d['id']} (leaf {d['leaf_index']})" for d in case["decisions"]))
    hist = Table(title="history")
    for col in ("time", "actor", "action", "from", "to", "reason"):
        hist.add_column(col)
    for h in case["history"]:
        hist.add_row(h["time"], h["actor"], h["action"], h["from_state"] or "", h["to_state"] or "", h["reason"])
    con.print(hist)


@case_app.command("open-from")
def case_open_from(events: Path = typer.Argument(..., help="events.geojson (spec section 4)."),
                   actor: str | None = _AS, db: str | None = _DB,
                   territory: Path | None = typer.Option(
                       None, "--territory", help="Territory GeoJSON for sectors along the line (events without `sector`)."),
                   commission: Path | None = _COMMISSION, coalition: Path | None = _COALITION,
                   profile: Path | None = _PROFILE, as_json: bool = _JSON) -> None:
    """Open cases from the violations in an events file (idempotent: known events are skipped)."""
    from truceline.commission.events import load_events
    from truceline.commission.service import open_cases_from_events
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile, territory)
    evs = load_events(events)
    with open_store(db) as store:
        result = open_cases_from_events(store, actor, evs, ctx)
    if as_json:
        _print_json(result.as_dict())
        return
    typer.echo(f"{len(evs)} events, {result.events_without_violation} without violation, "
               f"{result.events_skipped} already in cases; {result.events_added} added: "
               f"{len(result.opened)} case(s) opened, {len(result.extended)} extended")
    for cid in result.opened:
        typer.echo(f"  opened {cid}")


@case_app.command("open")
def case_open(actor: str | None = _AS,
              reason: str = typer.Option(..., "--reason", help="Why the case is opened by hand."),
              events_file: Path | None = typer.Option(None, "--events", help="events.geojson holding the events."),
              event_ids: list[str] | None = typer.Option(None, "--event", help="Event id from --events (repeatable)."),
              rule: str | None = typer.Option(None, "--rule", help="Rule code (default: from the events)."),
              title: str | None = typer.Option(None, "--title", help="Case title."),
              day: str | None = typer.Option(None, "--day", help="UTC day YYYY-MM-DD (default: first event's)."),
              db: str | None = _DB, commission: Path | None = _COMMISSION,
              coalition: Path | None = _COALITION, profile: Path | None = _PROFILE) -> None:
    """Open a case by hand (optionally with events from an events file)."""
    from truceline.commission.events import load_events
    from truceline.commission.service import open_case
    from truceline.errors import InputError
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile)
    chosen = []
    if event_ids and events_file is None:
        raise InputError("--event needs --events FILE holding those events")
    if events_file is not None:
        evs = load_events(events_file)
        by_id = {e.id: e for e in evs}
        if event_ids:
            missing = [i for i in event_ids if i not in by_id]
            if missing:
                raise InputError(f"{events_file}: no event {missing[0]!r}")
            chosen = [by_id[i] for i in event_ids]
        else:
            chosen = evs
    with open_store(db) as store:
        cid = open_case(store, actor, ctx, events=chosen, rule=rule, title=title, reason=reason, day=day)
    typer.echo(f"opened {cid}")


@case_app.command("review")
def case_review(case_id: str = typer.Argument(...), actor: str | None = _AS,
                responsible: str | None = typer.Option(
                    None, "--responsible",
                    help="Party the finding names (needs attribution >= threshold). Default: the case's party "
                         "if its attribution reaches the threshold, else undetermined."),
                undetermined: bool = typer.Option(
                    False, "--undetermined", help="Propose: violation occurred, responsibility undetermined."),
                dismissal: bool = typer.Option(False, "--dismissal", help="Propose dismissing the case."),
                text: str = typer.Option("", "--text", help="Wording of the proposed finding or dismissal."),
                reason: str = typer.Option("", "--reason", help="Why (recorded in the history)."),
                casualties: int | None = typer.Option(None, "--casualties", help="Casualties established."),
                damage: str | None = typer.Option(None, "--damage", help="Damage level (see commission file)."),
                db: str | None = _DB, commission: Path | None = _COMMISSION,
                coalition: Path | None = _COALITION, profile: Path | None = _PROFILE) -> None:
    """Put a case under review with a motion for the members to vote on (a new motion replaces an open one)."""
    from truceline.commission.service import review
    from truceline.errors import InputError
    from truceline.store import open_store

    if sum([bool(responsible), undetermined, dismissal]) > 1:
        raise InputError("give at most one of --responsible, --undetermined, --dismissal")
    ctx = _ctx(commission, coalition, profile)
    with open_store(db) as store:
        m = review(store, actor, case_id, ctx, propose_kind="dismissal" if dismissal else "finding",
                   responsible=responsible, text=text, reason=reason, casualties=casualties, damage=damage,
                   auto_responsible=not undetermined and not dismissal)
    typer.echo(f"{case_id}: under review, motion {m['motion']} ({m['kind']}): {m['text']}")


@case_app.command("vote")
def case_vote(case_id: str = typer.Argument(...),
              choice: str = typer.Argument(..., help="yes, no or abstain."),
              actor: str | None = _AS, reason: str = typer.Option("", "--reason", help="Explanation of the vote."),
              db: str | None = _DB, commission: Path | None = _COMMISSION,
              coalition: Path | None = _COALITION, profile: Path | None = _PROFILE) -> None:
    """Cast a member's vote on the open motion (logged in the evidence log)."""
    from truceline.commission.service import vote
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile)
    with open_store(db) as store:
        v = vote(store, actor, case_id, choice, ctx, reason=reason)
    typer.echo(f"{case_id}: vote {v['choice']} recorded as {v['decision_id']} (log leaf {v['leaf_index']})")


@case_app.command("adopt")
def case_adopt(case_id: str = typer.Argument(...), actor: str | None = _AS,
               reason: str = typer.Option("", "--reason"), db: str | None = _DB,
               commission: Path | None = _COMMISSION, coalition: Path | None = _COALITION,
               profile: Path | None = _PROFILE) -> None:
    """Adopt the finding if the decision rule is met (the finding is logged)."""
    from truceline.commission.service import adopt
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile)
    with open_store(db) as store:
        f = adopt(store, actor, case_id, ctx, reason=reason)
    who = f["responsible"] or "responsibility undetermined"
    typer.echo(f"{case_id}: finding adopted ({who}; {f['tally']['explanation']}) as {f['id']}")


@case_app.command("dismiss")
def case_dismiss(case_id: str = typer.Argument(...), actor: str | None = _AS,
                 reason: str = typer.Option("", "--reason"), db: str | None = _DB,
                 commission: Path | None = _COMMISSION, coalition: Path | None = _COALITION,
                 profile: Path | None = _PROFILE) -> None:
    """Dismiss the case if the open dismissal motion is carried (logged)."""
    from truceline.commission.service import dismiss
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile)
    with open_store(db) as store:
        d = dismiss(store, actor, case_id, ctx, reason=reason)
    typer.echo(f"{case_id}: dismissed ({d['tally']['explanation']}) as {d['id']}")


@case_app.command("remedy")
def case_remedy(case_id: str = typer.Argument(...), actor: str | None = _AS,
                remedy: str | None = typer.Option(None, "--remedy", help="Remedy id (default: the proposed rung)."),
                call_on: str | None = typer.Option(
                    None, "--call-on", help="Comma-separated coalition states called on (default: all with pledges)."),
                reason: str = typer.Option("", "--reason", help="Why (required when departing from the proposal)."),
                proposal_only: bool = typer.Option(False, "--proposal", help="Only show the proposal; decide nothing."),
                db: str | None = _DB, commission: Path | None = _COMMISSION,
                coalition: Path | None = _COALITION, profile: Path | None = _PROFILE,
                as_json: bool = _JSON) -> None:
    """Show the proposed rung of the escalation ladder, or decide the remedy (logged)."""
    from truceline.commission.service import decide_remedy, remedy_proposal
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile)
    with open_store(db) as store:
        if proposal_only:
            p = remedy_proposal(store, case_id, ctx)
            if as_json:
                _print_json(p)
                return
            typer.echo(f"{case_id}: proposed rung {p['rung']} {p['remedy']} - {p['title']}")
            for r in p["reasons"]:
                typer.echo(f"  - {r}")
            return
        states = [s.strip() for s in call_on.split(",") if s.strip()] if call_on else None
        d = decide_remedy(store, actor, case_id, ctx, remedy=remedy, call_on=states, reason=reason)
    if as_json:
        _print_json(d)
        return
    typer.echo(f"{case_id}: remedy {d['remedy']['id']} decided as {d['id']}"
               f"{'' if d['follows_proposal'] else ' (departs from the proposal ' + d['proposal']['remedy'] + ')'}")
    for c in d["calls_on"]:
        flag = "ONLY AN INTENTION" if c["intention_only"] else c["status"]
        typer.echo(f"  calls on {c['state']}: {c['pledge'] or '-'} {c['domain'] or ''} [{flag}] {c['note']}")


@case_app.command("publish")
def case_publish(case_id: str = typer.Argument(...), actor: str | None = _AS,
                 out: Path | None = typer.Option(None, "--out", help="Write the public bundle to this directory."),
                 reason: str = typer.Option("", "--reason"), db: str | None = _DB,
                 log_key: Path | None = typer.Option(None, "--log-key", help=KEY_HELP),
                 commission: Path | None = _COMMISSION, coalition: Path | None = _COALITION,
                 profile: Path | None = _PROFILE, as_json: bool = _JSON) -> None:
    """Publish: log the publication, sign a tree head, bundle decisions with their proofs."""
    from truceline.commission.service import publish
    from truceline.store import open_store

    ctx = _ctx(commission, coalition, profile, log_key=log_key)
    with open_store(db) as store:
        b = publish(store, actor, case_id, ctx, reason=reason, out_dir=out)
    if as_json:
        _print_json(b)
        return
    typer.echo(f"{case_id}: published; {len(b['proofs'])} inclusion proofs against signed head "
               f"of size {b['head']['tree_size']} (all checked)")
    c = b["case"]
    for label, did in (("finding", c["finding"]), ("dismissal", c["dismissal"]), ("remedy", c["remedy"]),
                       ("publication", c["publication"])):
        if did:
            typer.echo(f"  {label}: {did}  (truceline log prove {did})")
    if b["reports_not_in_log"]:
        typer.echo(f"  {len(b['reports_not_in_log'])} report(s) of its events are not in this evidence log")
    if out is not None:
        typer.echo(f"  bundle written to {out} (verify: truceline verify {out}/proofs/<id>.json "
                   f"--head {out}/head.json --key {out}/key.json --entry {out}/decisions/<id>.json)")


@case_app.command("proofs")
def case_proofs(case_id: str = typer.Argument(...),
                out: Path | None = typer.Option(None, "--out", help="Write the bundle to this directory."),
                db: str | None = _DB, as_json: bool = _JSON) -> None:
    """Bundle a case's logged decisions and its reports with inclusion proofs against the latest signed head."""
    from truceline.commission.service import case_bundle, write_bundle
    from truceline.store import open_store

    with open_store(db) as store:
        bundle = case_bundle(store, case_id)
    if out is not None:
        write_bundle(bundle, out)
    if as_json:
        _print_json(bundle)
        return
    typer.echo(f"{case_id}: {len(bundle['proofs'])} inclusion proofs against signed head of size "
               f"{bundle['head']['tree_size']} (all checked); {len(bundle['reports_not_in_log'])} report(s) not in "
               f"this log{'; written to ' + str(out) if out is not None else ''}")


# --------------------------------------------------------------------------- coalition


@coalition_app.command("show")
def coalition_show(state: str | None = typer.Option(None, "--state", help="Only this state (code)."),
                   coalition: Path | None = _COALITION, as_json: bool = _JSON) -> None:
    """Member states, their pledges by domain and status, national procedures, sources."""
    from dataclasses import asdict

    from truceline.commission.coalition import load_registry
    from truceline.errors import InputError

    reg = load_registry(coalition)
    if state is not None and state not in reg.states:
        raise InputError(f"--state {state!r}: not in {reg.source} ({', '.join(reg.states)})")
    states = [reg.states[state]] if state else list(reg.states.values())
    if as_json:
        _print_json({
            "meta": reg.meta,
            "states": [asdict(s) for s in states],
            "pledges": [asdict(p) for p in reg.pledges if state is None or p.state == state],
            "hubs": [asdict(h) for h in reg.hubs if state is None or h.state == state],
            "statements": [asdict(s) for s in reg.statements.values() if state is None or s.state == state],
            "sources": [asdict(s) for s in reg.sources.values()],
        })
        return
    echo = typer.echo
    echo(f"{reg.meta.get('title', 'Coalition registry')} (as of {reg.meta.get('as_of', '?')})")
    if reg.meta.get("note"):
        echo(reg.meta["note"])
    for s in states:
        proc = s.national_procedure + (f' ("{s.procedure_wording}")' if s.procedure_wording else "")
        echo(f"\n{s.code} {s.name}: stance {s.stance}; national procedure: {proc}")
        for p in reg.pledges_of(s.code):
            if p.troops_stated:
                lo = "?" if p.troops_min is None else f"{p.troops_min:,}"
                hi = "?" if p.troops_max is None else f"{p.troops_max:,}"
                size = f"{lo}-{hi} troops"
            else:
                size = p.troops_wording or p.amount_wording or p.quantity_wording or "size not stated"
            stmt = reg.statements[p.statement]
            echo(f"  - {p.id} [{p.domain}, {p.status}] {size}: {p.description}")
            echo(f"      source: {reg.sources[stmt.source].title}, {stmt.date or 'undated'} ({stmt.ref})")
        for h in reg.hubs:
            if h.state != s.code:
                continue
            loc = f"{h.lon:.4f}, {h.lat:.4f}" if h.lon is not None else (h.location_wording or "place not stated")
            echo(f"  - hub {h.id}{' (HYPOTHETICAL)' if h.hypothetical else ''}: {h.description}; location: {loc}")
        for stmt in reg.statements.values():
            if stmt.state == s.code and not any(p.statement == stmt.id for p in reg.pledges_of(s.code)):
                echo(f"  * statement {stmt.date or 'undated'}: {stmt.text}")


@coalition_app.command("gap")
def coalition_gap(required: int | None = typer.Option(
                      None, "--required", help="Required troops (default: the commission file's required_force)."),
                  coalition: Path | None = _COALITION, commission: Path | None = _COMMISSION,
                  as_json: bool = _JSON) -> None:
    """Compare what is pledged and what is approved/deployed with the required force."""
    from rich.table import Table

    from truceline.commission.coalition import gap_view, load_registry
    from truceline.commission.config import load_config
    from truceline.errors import InputError

    cfg = load_config(commission)
    reg = load_registry(coalition)
    if required is not None and required <= 0:
        raise InputError(f"--required must be > 0, got {required}")
    need = required if required is not None else cfg.required_troops
    src = "--required" if required is not None else cfg.required_source
    gap = gap_view(reg, need, src, cfg.wording_bounds)
    if as_json:
        _print_json(gap.as_dict())
        return

    def rng(r) -> str:  # type: ignore[no-untyped-def]
        lo = "unknown" if r.min is None else f"{r.min:,}"
        hi = "unknown" if r.max is None else f"{r.max:,}"
        return lo if r.min == r.max else f"{lo} - {hi}"

    con = _console()
    con.print(f"[bold]Required force[/bold]: {need:,} troops ({src})")
    t = Table(title="troops")
    t.add_column("measure")
    t.add_column("troops")
    t.add_row("stated in sources, pledged (any status but withdrawn)", rng(gap.stated_troops))
    t.add_row("stated in sources, approved or deployed", rng(gap.firm_troops))
    t.add_row("gap to required, counting approved/deployed only", f"{gap.gap_firm:,}")
    t.add_row("INTERPRETATION: pledged incl. vague wording read as bounds", rng(gap.interpreted_troops))
    t.add_row("INTERPRETATION: gap to required", rng(gap.gap_interpreted))
    con.print(t)
    c = Table(title="pledges by domain and status")
    c.add_column("domain")
    c.add_column("statuses")
    for dom, counts in gap.pledge_counts.items():
        c.add_row(dom, ", ".join(f"{s}: {n}" for s, n in counts.items()))
    con.print(c)
    u = Table(title="troop pledges without a stated number")
    for col in ("pledge", "state", "domain", "status", "wording"):
        u.add_column(col)
    for row in gap.unquantified:
        u.add_row(row["pledge"], row["state"], row["domain"], row["status"], row["wording"])
    con.print(u)
    for cur, f in gap.funding.items():
        con.print(f"funding {cur}: pledged {f['pledged']:,}, approved/deployed {f['firm']:,}")
    if gap.states_ruling_out:
        con.print(f"states ruling out troops: {', '.join(gap.states_ruling_out)}")
    con.print("national procedures: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in gap.states_by_procedure.items()))
    if cfg.wording_bounds:
        con.print("interpretation bounds (" + cfg.source + "): " + "; ".join(
            f"'{k}' = {a:,}-{b:,}" for k, (a, b) in cfg.wording_bounds.items()))


@coalition_app.command("hubs")
def coalition_hubs(territory: Path | None = typer.Option(
                       None, "--territory", help="Territory GeoJSON (default: the shipped snapshot)."),
                   coalition: Path | None = _COALITION, commission: Path | None = _COMMISSION,
                   as_json: bool = _JSON) -> None:
    """Check hubs against the minimum distance from the line of contact (exit 1 if any is flagged)."""
    from truceline.commission.coalition import check_hubs, load_registry
    from truceline.commission.config import load_config
    from truceline.geo import default_territory_path, load_territory

    cfg = load_config(commission)
    reg = load_registry(coalition)
    terr = load_territory(territory or default_territory_path())
    checks = check_hubs(reg.hubs, lambda lon, lat: float(terr.distance_to_line_m(lon, lat)), cfg.hub_min_distance_km)
    if as_json:
        _print_json([{"hub": c.hub.id, "state": c.hub.state, "hypothetical": c.hub.hypothetical,
                      "distance_km": c.distance_km, "flagged": c.flagged, "reason": c.reason} for c in checks])
    else:
        for c in checks:
            mark = "FLAGGED" if c.flagged else "ok"
            typer.echo(f"{c.hub.id} ({c.hub.state}{', hypothetical' if c.hub.hypothetical else ''}): {mark}: {c.reason}")
    if any(c.flagged for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(case_app, name="case")
    app.add_typer(coalition_app, name="coalition")
