"""The commission part of `truceline demo`: a day of events flows into cases and one case
goes through review, votes, finding, remedy and publication, then verifies offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from truceline.commission.events import load_events
from truceline.commission.service import (
    Context,
    adopt,
    case_attribution,
    decide_remedy,
    get_case,
    list_cases,
    make_context,
    open_cases_from_events,
    publish,
    review,
    vote,
)
from truceline.store import Store


def _pick(store: Store, ctx: Context, opened: list[str]) -> tuple[str, str | None] | None:
    """The open case to walk through: the largest with a party meeting the threshold,
    else the largest with responsibility undetermined."""
    candidates = [c for c in list_cases(store, state="open") if c["case_id"] in opened] or list_cases(store, "open")
    best: tuple[int, int, str, str | None] | None = None
    for c in candidates:
        detail = get_case(store, c["case_id"], ctx)
        party = c["party"] if c["party"] != "undetermined" else None
        if party is not None and case_attribution(detail["events"]).get(party, 0.0) < ctx.threshold:
            party = None
        key = (1 if party else 0, c["events"], c["case_id"], party)
        if best is None or key[:2] > best[:2]:
            best = key
    return None if best is None else (best[2], best[3])


def run_demo_case(
    store: Store, events_path: str | Path, ctx: Context | None = None, out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Open cases from ``events_path``, walk one through the whole procedure, publish it
    (bundle in ``out_dir`` if given) and check the finding's proof offline.

    Actors: the secretariat opens, the chair reviews/adopts/decides/publishes, every
    member votes yes except the last, who abstains (the shipped rule still carries).
    """
    from truceline.evidence.verify import verify_inclusion_files

    ctx = ctx or make_context()
    cfg = ctx.config
    opener = cfg.staff[0].id if cfg.staff else cfg.chair.id
    opened = open_cases_from_events(store, opener, load_events(events_path), ctx)
    summary: dict[str, Any] = {"cases": opened.as_dict(), "walked": None}
    picked = _pick(store, ctx, opened.opened)
    if picked is None:
        return summary
    case_id, party = picked
    chair = cfg.chair.id
    review(store, chair, case_id, ctx, responsible=party,
           reason="demo: the analysis attributes the violations" if party else
           "demo: attribution below the threshold, responsibility undetermined")
    voters = cfg.voters()
    for i, member in enumerate(voters):
        choice = "abstain" if i == len(voters) - 1 and len(voters) > 2 else "yes"
        vote(store, member, case_id, choice, ctx, reason="demo vote")
    finding = adopt(store, chair, case_id, ctx, reason="demo")
    remedy = decide_remedy(store, chair, case_id, ctx, reason="")
    bundle = publish(store, chair, case_id, ctx, reason="demo publication", out_dir=out_dir)
    verdict = verify_inclusion_files(bundle["proofs"][finding["id"]], bundle["head"], bundle["key"],
                                     bundle["decisions"][finding["id"]], entry_given=True)
    summary["walked"] = {
        "case_id": case_id,
        "finding_id": finding["id"],
        "responsible": finding["responsible"],
        "tally": finding["tally"]["explanation"],
        "remedy": remedy["remedy"]["id"],
        "remedy_reasons": remedy["proposal"]["reasons"],
        "intentions_only": remedy["intentions_only"],
        "tree_size": bundle["head"]["tree_size"],
        "proofs": len(bundle["proofs"]),
        "finding_verifies": bool(verdict.ok),
        "bundle": str(out_dir) if out_dir is not None else None,
    }
    return summary


def demo_step(demo_ctx: Any) -> dict[str, Any] | None:
    """A `truceline demo` step (``STEPS.append(("commission: ...", demo_step))``).

    Reads from ``demo_ctx.state``: ``store`` (an open Store, required), ``events_path``
    (the analysis output, required), ``profile`` and ``territory`` (optional); writes the
    publication bundle to ``<out>/commission/`` and stores the summary as
    ``state["commission"]``.
    """
    state = demo_ctx.state
    store, events_path = state.get("store"), state.get("events_path")
    con = demo_ctx.console
    if store is None or events_path is None:
        con.print("commission: skipped (no store or events file from the earlier steps)")
        return None
    ctx = make_context(profile=state.get("profile"), territory=state.get("territory"))
    summary = run_demo_case(store, events_path, ctx, out_dir=Path(demo_ctx.out) / "commission")
    state["commission"] = summary
    c = summary["cases"]
    con.print(f"commission: {len(c['opened'])} case(s) opened from {c['events_added']} violating events "
              f"({c['events_without_violation']} events without violation)")
    w = summary["walked"]
    if w is None:
        con.print("commission: no open case to walk through")
        return summary
    con.print(f"case {w['case_id']}: finding {w['finding_id']} "
              f"({w['responsible'] or 'responsibility undetermined'}; {w['tally']})")
    con.print(f"remedy: {w['remedy']}; commitments that are only intentions: {', '.join(w['intentions_only'])}")
    con.print(f"published: {w['proofs']} inclusion proofs against tree size {w['tree_size']}; "
              f"finding verifies offline: {'PASS' if w['finding_verifies'] else 'FAIL'}; bundle {w['bundle']}")
    return summary
