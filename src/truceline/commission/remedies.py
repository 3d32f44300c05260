"""Remedies: propose the next rung of the escalation ladder, and list the coalition
commitments a remedy calls on (flagging those that are only intentions so far).

The proposal is advice with reasons; the commission decides (it may pick another rung,
and must then say why). Recurrence counts the findings adopted against the same party
within the configured window before the case's own time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from truceline.commission.coalition import Registry
from truceline.commission.config import CommissionConfig, Remedy
from truceline.commission.severity import Assessment

INTENTION_STATUSES = ("intention", "national_approval_pending")


@dataclass(frozen=True)
class Proposal:
    rung_index: int
    remedy: Remedy
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rung": self.rung_index + 1,
            "remedy": self.remedy.id,
            "category": self.remedy.category,
            "title": self.remedy.title,
            "reasons": list(self.reasons),
        }


def propose(
    cfg: CommissionConfig,
    assessment: Assessment,
    responsible: str | None,
    prior_findings: Sequence[tuple[str, float]],
    case_time: float,
) -> Proposal:
    """Next rung for a case: severity sets the base rung, recurrence climbs the ladder.

    ``prior_findings`` are (case id, time) of findings adopted against ``responsible``
    before; those within ``recurrence_window_days`` of ``case_time`` count.
    """
    ladder = cfg.ladder
    reasons = list(assessment.reasons)
    index = assessment.score - 1
    reasons.append(f"base rung {index + 1} from severity {assessment.score}")
    if responsible is not None:
        window_s = ladder.recurrence_window_days * 86400.0
        recent = sorted(cid for cid, t in prior_findings if case_time - window_s <= t <= case_time)
        if recent:
            step = ladder.recurrence_step * len(recent)
            index += step
            reasons.append(
                f"recurrence: {len(recent)} earlier finding(s) against {responsible} within "
                f"{ladder.recurrence_window_days:g} days ({', '.join(recent)}): +{step} rung(s)"
            )
        else:
            reasons.append(f"no earlier finding against {responsible} within {ladder.recurrence_window_days:g} days")
    top = len(ladder.rungs) - 1
    if index > top:
        reasons.append(f"capped at the top rung {top + 1}")
        index = top
    if responsible is None:
        allowed = [i for i, r in enumerate(ladder.rungs) if not cfg.remedies[r].requires_responsible and i <= index]
        if not allowed:
            allowed = [min(i for i, r in enumerate(ladder.rungs) if not cfg.remedies[r].requires_responsible)]
        if allowed[-1] != index:
            reasons.append(
                f"responsibility undetermined: rung {index + 1} needs a responsible party; "
                f"rung {allowed[-1] + 1} proposed instead"
            )
        index = allowed[-1]
    remedy = cfg.remedies[ladder.rungs[index]]
    reasons.append(f"proposed: rung {index + 1} '{remedy.id}' ({remedy.category})")
    return Proposal(index, remedy, tuple(reasons))


@dataclass(frozen=True)
class CalledCommitment:
    """One member's commitment a remedy calls on (pledge None: nothing recorded)."""

    state: str
    pledge: str | None
    domain: str | None
    status: str | None
    national_procedure: str | None
    intention_only: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state, "pledge": self.pledge, "domain": self.domain, "status": self.status,
            "national_procedure": self.national_procedure, "intention_only": self.intention_only,
            "note": self.note,
        }


def called_commitments(
    registry: Registry, remedy: Remedy, states: Iterable[str] | None = None
) -> list[CalledCommitment]:
    """The commitments a remedy calls on.

    For remedies with pledge domains: the pledges in those domains (of ``states`` when
    given, else of every state that has one). For diplomatic remedies (no domains): one
    entry per called state; the coalition's binding commitments were "to be finalised" in
    January 2026, so such a call rests on an intention too.
    """
    chosen = None if states is None else list(dict.fromkeys(states))
    out: list[CalledCommitment] = []
    if remedy.domains:
        pledges = registry.pledges_in(remedy.domains, chosen)
        for p in pledges:
            out.append(CalledCommitment(
                p.state, p.id, p.domain, p.status, registry.procedure_of(p), p.status in INTENTION_STATUSES,
                p.description,
            ))
        covered = {p.state for p in pledges}
        for st in chosen or []:
            if st not in covered:
                out.append(CalledCommitment(
                    st, None, None, None, None, True,
                    f"no pledge recorded in {', '.join(remedy.domains)}",
                ))
    else:
        for st in chosen if chosen is not None else sorted(registry.states):
            out.append(CalledCommitment(
                st, None, None, None, None, True,
                "binding commitments (diplomatic initiatives, sanctions) were to be finalised as of January 2026",
            ))
    return out
