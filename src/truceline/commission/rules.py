"""Decision rules: does a motion pass, given the members' votes?

Pure functions over the configured :class:`~truceline.commission.config.DecisionRule`:
simple majority (yes > no), qualified majority (yes >= fraction of yes+no) and consensus
(no objection, at least one yes), each with a quorum (fraction of voters who must have
cast any vote, abstentions included). The explanation is part of the logged finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from truceline.commission.config import DecisionRule


@dataclass(frozen=True)
class Tally:
    adopted: bool
    yes: int
    no: int
    abstain: int
    voters: int
    quorum_needed: int
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "adopted": self.adopted, "yes": self.yes, "no": self.no, "abstain": self.abstain,
            "voters": self.voters, "quorum_needed": self.quorum_needed, "explanation": self.explanation,
        }


def quorum_needed(rule: DecisionRule, n_voters: int) -> int:
    """Smallest number of cast votes satisfying the quorum fraction (at least one)."""
    return max(1, math.ceil(rule.quorum * n_voters - 1e-9))


def tally(rule: DecisionRule, voters: tuple[str, ...], votes: dict[str, str], chair_casts: bool = False) -> Tally:
    """Count ``votes`` (voter id -> yes/no/abstain) of eligible ``voters`` under ``rule``.

    ``chair_casts`` means the chair is moving the adoption and, when the rule allows a
    casting vote, breaks a simple-majority tie in favour.
    """
    cast = {v: c for v, c in votes.items() if v in voters}
    yes = sum(1 for c in cast.values() if c == "yes")
    no = sum(1 for c in cast.values() if c == "no")
    abstain = sum(1 for c in cast.values() if c == "abstain")
    need = quorum_needed(rule, len(voters))
    present = yes + no + abstain
    counts = f"{yes} yes, {no} no, {abstain} abstain of {len(voters)} voters"
    if present < need:
        return Tally(False, yes, no, abstain, len(voters), need,
                     f"no quorum: {present} of {len(voters)} voted, {need} needed ({counts})")
    if rule.rule == "simple_majority":
        if yes > no:
            ok, why = True, "simple majority reached"
        elif yes == no and yes > 0 and rule.chair_casting_vote and chair_casts:
            ok, why = True, "tie broken by the chair's casting vote"
        else:
            ok, why = False, "no simple majority (yes must exceed no)"
    elif rule.rule == "qualified_majority":
        needed = math.ceil(rule.qualified_fraction * (yes + no) - 1e-9)
        ok = yes > 0 and yes >= needed
        why = (f"qualified majority reached ({yes} >= {needed})" if ok
               else f"no qualified majority: {yes} yes, {max(needed, 1)} needed "
                    f"({rule.qualified_fraction:.4g} of yes+no)")
    elif rule.rule == "consensus":
        ok = no == 0 and yes > 0
        why = "consensus (no objection)" if ok else (
            f"no consensus: {no} objection(s)" if no else "no consensus: nobody voted yes")
    else:  # validated by the config loader
        raise ValueError(f"unknown decision rule {rule.rule!r}")
    return Tally(ok, yes, no, abstain, len(voters), need, f"{why}; {counts}")
