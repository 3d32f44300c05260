"""The dashboard's window on the commission: cases, votes, findings, and the coalition.

`CommissionBackend` is the narrow interface the routes use; `make_backend` wraps the
commission service layer (`truceline.commission`) when the store holds one, and
`NullCommission` stands in otherwise (pages then say the workspace is not configured).
Case actions are performed by the service as the logged-in user's commission identity,
so the service's own permission checks and evidence-log entries apply unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol

from truceline.report.public import public_event_id

CASE_ACTIONS = ("review", "vote", "adopt", "dismiss", "remedy", "publish", "comment")


class CommissionBackend(Protocol):
    available: bool

    def list_cases(self) -> list[dict[str, Any]]: ...

    def get_case(self, case_id: str) -> dict[str, Any] | None: ...

    def act(self, case_id: str, action: str, actor: str, params: dict[str, Any]) -> dict[str, Any]: ...

    def findings(self) -> list[dict[str, Any]]: ...


class NullCommission:
    """No commission service configured: empty lists, actions refused."""

    available = False

    def list_cases(self) -> list[dict[str, Any]]:
        return []

    def get_case(self, case_id: str) -> dict[str, Any] | None:
        return None

    def act(self, case_id: str, action: str, actor: str, params: dict[str, Any]) -> dict[str, Any]:
        from truceline.errors import TrucelineError

        raise TrucelineError("the commission workspace is not configured on this server")

    def findings(self) -> list[dict[str, Any]]:
        return []


PUBLIC_CASE_STATES = ("published",)


def public_case_view(case: dict[str, Any]) -> dict[str, Any]:
    """What the public may see of a (published) case: decision, party, rules, public event ids."""
    keep = ("id", "case", "state", "title", "rules", "party", "responsible", "decision", "text", "finding", "remedy",
            "published", "day", "sector", "severity", "n_events", "proof")
    out = {k: case[k] for k in keep if k in case}
    out["events"] = [public_event_id(str(e)) for e in case.get("events") or []]
    if "decisions" in case:
        out["decisions"] = [
            {k: d[k] for k in ("id", "kind", "time", "outcome", "party", "proof", "leaf_index") if k in d}
            for d in case["decisions"]
        ]
    return out


def coalition_view(distance_to_line_m: Any = None) -> dict[str, Any]:
    """Pledges, their status, the gap to the required force and hub distances from the line."""
    try:
        from truceline.commission.coalition import check_hubs, gap_view, load_registry
        from truceline.commission.config import load_config
    except ImportError:
        return {"available": False}
    reg = load_registry()
    cfg = load_config()
    gap = gap_view(reg, cfg.required_troops, cfg.required_source, cfg.wording_bounds).as_dict()
    states = {c: {"code": s.code, "name": s.name, "stance": s.stance, "procedure": s.national_procedure}
              for c, s in reg.states.items()}
    pledges = []
    for p in reg.pledges:
        pledges.append({
            "id": p.id, "state": p.state, "state_name": reg.states[p.state].name if p.state in reg.states else p.state,
            "domain": p.domain, "status": p.status, "firm": p.is_firm, "deployment": p.deployment,
            "description": p.description, "troops_min": p.troops_min, "troops_max": p.troops_max,
            "troops_wording": p.troops_wording, "amount": p.amount, "currency": p.currency,
            "statement": p.statement,
        })
    hubs = []
    if distance_to_line_m is not None:
        def dist(lon: float, lat: float) -> float:
            import numpy as np

            return float(np.atleast_1d(distance_to_line_m(np.array([lon]), np.array([lat])))[0])

        for h in check_hubs(reg.hubs, dist, cfg.hub_min_distance_km):
            hubs.append({"id": h.hub.id, "state": h.hub.state, "description": h.hub.description,
                         "lon": h.hub.lon, "lat": h.hub.lat, "distance_km": h.distance_km,
                         "flagged": h.flagged, "reason": h.reason})
    return {"available": True, "meta": dict(reg.meta), "states": states, "pledges": pledges, "gap": gap,
            "hubs": hubs, "hub_min_distance_km": cfg.hub_min_distance_km}
