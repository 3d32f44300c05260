"""Inputs of a report read from the store: commission findings and the signed tree head.

Events come from `events.geojson` (the analysis output, spec section 4); the store holds
the commission's cases and decisions and the evidence log, read here through the
commission service (`truceline.commission.service`) and `truceline.evidence`. Each piece
is simply absent when its stage is not installed, so a report can always be written
from an events file alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINDING_STATES = ("finding_adopted", "remedy_decided", "published")


@dataclass
class DbSources:
    findings: list[dict[str, Any]] = field(default_factory=list)
    tree_head: dict[str, Any] | None = None


def load_db_sources(url: str, profile: Any = None, territory: Any = None) -> DbSources:
    """Findings and the latest signed tree head held by the store at `url`."""
    from truceline.store import open_store

    store = open_store(url)
    try:
        return DbSources(commission_findings(store, profile=profile, territory=territory), latest_tree_head(store))
    finally:
        store.engine.dispose()


def commission_findings(store: Any, context: Any = None, profile: Any = None, territory: Any = None
                        ) -> list[dict[str, Any]]:
    """Adopted findings (with remedy, publication state and log leaf index), one dict each:
    id, case, day, time, party, rules, decision, text, events, reports, remedy, published,
    state, proof {leaf_index}, decisions."""
    try:
        from truceline.commission import service as svc
    except ImportError:
        return []
    ctx = context if context is not None else svc.make_context(profile=profile, territory=territory)
    out = []
    for c in svc.list_cases(store):
        if c["state"] not in FINDING_STATES:
            continue
        full = svc.get_case(store, c["case_id"], ctx)
        fid = full.get("finding_id")
        if not fid:
            continue
        dec = {d["id"]: d for d in full.get("decisions") or []}
        responsible = full.get("responsible")
        out.append({
            "id": fid,
            "case": full["case_id"],
            "day": full.get("day"),
            "time": (dec.get(fid) or {}).get("time") or full.get("day"),
            "party": responsible,
            "rules": full.get("rules") or [],
            "decision": (f"violation established; responsible: {responsible}" if responsible
                         else "violation established; responsibility undetermined"),
            "text": (full.get("motion") or {}).get("text") or "",
            "events": [e["id"] for e in full.get("events") or []],
            "reports": sorted({r for e in full.get("events") or [] for r in e.get("reports") or []}),
            "remedy": full.get("remedy_id"),
            "published": full["state"] == "published",
            "state": full["state"],
            "proof": {"leaf_index": (dec.get(fid) or {}).get("leaf_index")},
            "decisions": full.get("decisions") or [],
        })
    return out


def latest_tree_head(store: Any) -> dict[str, Any] | None:
    try:
        from truceline.evidence import latest_head
    except ImportError:
        return None
    head = latest_head(store)
    return dict(head) if head is not None else None
