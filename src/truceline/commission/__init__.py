"""The special commission: cases from violations, votes, findings, remedies, and the
coalition registry (pledges, hubs, force gap).

Public API (the CLI and the web dashboard call the same functions)::

    from truceline.commission import service as S
    ctx = S.make_context(config=None, registry=None, profile=load_profile(), territory=None)
    S.open_cases_from_events(store, actor, load_events(path), ctx) -> OpenResult
    S.open_case(store, actor, ctx, events=..., rule=..., reason=...) -> case id
    S.list_cases(store, state=None, day=None) -> [dict];  S.get_case(store, case_id, ctx) -> dict
    S.review(store, actor, case_id, ctx, propose_kind="finding"|"dismissal", responsible=None, ...)
    S.vote(store, actor, case_id, "yes"|"no"|"abstain", ctx, reason="")
    S.adopt(...) / S.dismiss(...) -> logged decision object
    S.remedy_proposal(store, case_id, ctx);  S.decide_remedy(store, actor, case_id, ctx, remedy=None, call_on=None)
    S.publish(store, actor, case_id, ctx, out_dir=None) -> bundle (decisions, proofs, head, key)
    run_demo_case(store, events_path, ctx=None, out_dir=None) -> summary   (truceline demo)

    load_config(path=None) -> CommissionConfig;  load_registry(path=None) -> Registry
    gap_view(registry, required_troops, source, wording_bounds) -> GapView
    check_hubs(hubs, distance_to_line_m, min_distance_km) -> [HubCheck]

Modules: ``config`` (commission TOML), ``coalition`` (registry, gap, hubs), ``events``
(spec section 4 reader), ``grouping``, ``severity``, ``rules`` (decision rules),
``model`` (state machine), ``remedies`` (ladder, called commitments), ``service``
(store-backed operations), ``demo``. Errors are ``TrucelineError`` subclasses in ``errors``.
"""

from __future__ import annotations

from truceline.commission.coalition import Registry, check_hubs, gap_view, load_registry
from truceline.commission.config import CommissionConfig, load_config
from truceline.commission.errors import (
    AccessError,
    AttributionError,
    CommissionError,
    ConfigError,
    DecisionError,
    NotFoundError,
    TransitionError,
    VoteError,
)
from truceline.commission.events import Event, load_events

__all__ = [
    "AccessError",
    "AttributionError",
    "CommissionConfig",
    "CommissionError",
    "ConfigError",
    "DecisionError",
    "Event",
    "NotFoundError",
    "Registry",
    "TransitionError",
    "VoteError",
    "check_hubs",
    "gap_view",
    "load_config",
    "load_events",
    "load_registry",
    "run_demo_case",
]


def __getattr__(name: str):  # lazy: the demo pulls in the store and the evidence log
    if name == "run_demo_case":
        from truceline.commission.demo import run_demo_case

        return run_demo_case
    raise AttributeError(name)
