"""Adapter from the commission service layer (`truceline.commission.service`) to the dashboard.

The service does the real work: permission checks per commission identity, the state
machine, evidence-log entries for every vote and decision. This module only reshapes
its dicts for the pages (`id`, event id lists, motions with their votes, the actions the
case's state allows) and maps the dashboard's action names onto service calls.
"""

from __future__ import annotations

from typing import Any

from truceline.web.commission import CommissionBackend, NullCommission

ALLOWED = {
    "open": ["review"],
    "under_review": ["review", "vote", "adopt", "dismiss"],
    "finding_adopted": ["remedy"],
    "dismissed": ["publish"],
    "remedy_decided": ["publish"],
    "published": [],
}


class ServiceCommission:
    """`CommissionBackend` over `truceline.commission.service` and a store."""

    available = True

    def __init__(self, store: Any, context: Any = None, profile: Any = None, territory: Any = None):
        from truceline.commission import service as svc

        self.svc = svc
        self.store = store
        self.ctx = context if context is not None else svc.make_context(profile=profile, territory=territory)

    def list_cases(self) -> list[dict[str, Any]]:
        out = []
        for c in self.svc.list_cases(self.store):
            row = dict(c)
            row["id"] = row.pop("case_id")
            row["n_events"] = row.pop("events")
            out.append(row)
        return out

    def get_case(self, case_id: str) -> dict[str, Any] | None:
        from truceline.commission.errors import NotFoundError

        try:
            c = self.svc.get_case(self.store, case_id, self.ctx)
        except NotFoundError:
            return None
        c = dict(c)
        c["id"] = c.pop("case_id")
        rows = c.pop("events")
        c["event_rows"] = rows
        c["events"] = [e["id"] for e in rows]
        motions = []
        m = c.get("motion")
        if m:
            motions.append({"id": str(m.get("number")), "kind": m.get("kind"), "summary": m.get("text"),
                            "status": m.get("status"), "responsible": m.get("responsible"),
                            "votes": [{"member": v["member"], "choice": v["choice"]} for v in c.get("votes") or []]})
        c["motions"] = motions
        c["allowed_actions"] = ALLOWED.get(c["state"], [])
        c["finding"] = c.get("finding_id")
        c["remedy"] = c.get("remedy_id")
        return c

    def act(self, case_id: str, action: str, actor: str, params: dict[str, Any]) -> dict[str, Any]:
        svc, st, ctx = self.svc, self.store, self.ctx
        reason = str(params.get("reason") or "")
        if action == "review":
            return svc.review(st, actor, case_id, ctx, propose_kind=str(params.get("kind") or "finding"),
                              responsible=params.get("responsible") or None, text=str(params.get("text") or ""),
                              reason=reason)
        if action == "vote":
            return svc.vote(st, actor, case_id, str(params.get("choice") or ""), ctx, reason=reason)
        if action == "adopt":
            res = svc.adopt(st, actor, case_id, ctx, reason=reason)
            return {"id": res["id"], "responsible": res.get("responsible")}
        if action == "dismiss":
            res = svc.dismiss(st, actor, case_id, ctx, reason=reason)
            return {"id": res["id"]}
        if action == "remedy":
            res = svc.decide_remedy(st, actor, case_id, ctx, remedy=params.get("remedy") or None,
                                    call_on=params.get("call_on") or None, reason=reason)
            return {"id": res["id"], "remedy": res["remedy"]}
        if action == "publish":
            bundle = svc.publish(st, actor, case_id, ctx, reason=reason)
            return {"published": case_id, "head": bundle.get("head") if isinstance(bundle, dict) else None}
        from truceline.errors import TrucelineError

        raise TrucelineError(f"unsupported case action {action!r}")

    def findings(self) -> list[dict[str, Any]]:
        from truceline.report.sources import commission_findings

        return commission_findings(self.store, context=self.ctx)


def make_backend(store: Any, profile: Any = None, territory: Any = None) -> CommissionBackend:
    """The commission backend for a store (NullCommission when the service is missing)."""
    try:
        return ServiceCommission(store, profile=profile, territory=territory)
    except ImportError:
        return NullCommission()
