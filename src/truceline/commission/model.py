"""Case states and the transitions between them (a small explicit state machine).

``open -> under_review -> finding_adopted | dismissed``; ``finding_adopted ->
remedy_decided -> published``; a dismissal can be published directly (its reasons are
public too). Every transition is recorded with who, when and why by the service layer;
this module only decides whether a transition is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from truceline.commission.errors import TransitionError


class CaseState(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    FINDING_ADOPTED = "finding_adopted"
    DISMISSED = "dismissed"
    REMEDY_DECIDED = "remedy_decided"
    PUBLISHED = "published"


TRANSITIONS: dict[CaseState, tuple[CaseState, ...]] = {
    CaseState.OPEN: (CaseState.UNDER_REVIEW,),
    CaseState.UNDER_REVIEW: (CaseState.FINDING_ADOPTED, CaseState.DISMISSED),
    CaseState.FINDING_ADOPTED: (CaseState.REMEDY_DECIDED,),
    CaseState.DISMISSED: (CaseState.PUBLISHED,),
    CaseState.REMEDY_DECIDED: (CaseState.PUBLISHED,),
    CaseState.PUBLISHED: (),
}

# Which command performs which transition (for messages that tell the user what to do).
COMMAND_TARGET = {
    "review": CaseState.UNDER_REVIEW,
    "adopt": CaseState.FINDING_ADOPTED,
    "dismiss": CaseState.DISMISSED,
    "remedy": CaseState.REMEDY_DECIDED,
    "publish": CaseState.PUBLISHED,
}
_COMMAND_OF = {v: k for k, v in COMMAND_TARGET.items()}


def check_transition(case_id: str, current: str, target: CaseState) -> None:
    """Raise ``TransitionError`` unless ``current -> target`` is an allowed transition."""
    try:
        cur = CaseState(current)
    except ValueError:
        raise TransitionError(f"case {case_id}: unknown state {current!r}") from None
    if target in TRANSITIONS[cur]:
        return
    needs = [s.value for s, outs in TRANSITIONS.items() if target in outs]
    nxt = [f"'{_COMMAND_OF.get(s, s.value)}'" for s in TRANSITIONS[cur]]
    hint = f"; next step: {' or '.join(nxt)}" if nxt else "; the case is closed"
    raise TransitionError(
        f"case {case_id}: cannot move to {target.value}: the case is {cur.value}, "
        f"{_COMMAND_OF.get(target, target.value)} needs {' or '.join(needs)}{hint}"
    )


@dataclass(frozen=True)
class Transition:
    """One recorded step of a case's history (state changes and other actions)."""

    seq: int
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    time: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Motion:
    """A proposal the members vote on: a finding (responsible party or undetermined) or a dismissal."""

    number: int
    kind: str  # "finding" | "dismissal"
    responsible: str | None
    text: str
    proposed_by: str
    time: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number, "kind": self.kind, "responsible": self.responsible,
            "text": self.text, "proposed_by": self.proposed_by, "time": self.time,
        }


@dataclass(frozen=True)
class Vote:
    member: str
    motion: int
    choice: str  # "yes" | "no" | "abstain"
    reason: str
    time: str
    decision_id: str


VOTE_CHOICES = ("yes", "no", "abstain")
MOTION_KINDS = ("finding", "dismissal")
