"""Severity of events and cases, from the configured weights.

An event's own score is the heaviest weight among its rule codes plus points for its
type, its casualties and its damage. A case's score adds the casualties and damage of the
whole case (events plus what a reviewer recorded) and points for the number of events.
Each point comes with a reason string, so a proposal can explain itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from truceline.commission.config import Severity, Step
from truceline.commission.events import Event


@dataclass(frozen=True)
class Assessment:
    score: int
    level: str
    reasons: tuple[str, ...]


def _step_points(steps: Sequence[Step], value: int) -> int:
    points = 0
    for step in steps:
        if value >= step.at:
            points = step.points
    return points


def rule_weight(sev: Severity, rule: str) -> int:
    """Weight of a rule code: exact key, else the longest matching ``prefix.*`` key, else the default."""
    if rule in sev.rule_weights:
        return sev.rule_weights[rule]
    best, weight = -1, sev.default_rule_weight
    for key, w in sev.rule_weights.items():
        if key.endswith("*") and rule.startswith(key[:-1]) and len(key) > best:
            best, weight = len(key), w
    return weight


def event_score(sev: Severity, event: Event) -> int:
    """Severity score of one event on its own (decides whether it opens its own case)."""
    if not event.violations:
        return 0
    score = max(rule_weight(sev, r) for r in event.violations)
    score += sev.type_points.get(event.type, 0)
    score += _step_points(sev.casualty_steps, event.casualties or 0)
    score += sev.damage_points.get(event.damage or "none", 0)
    return score


def assess_case(
    sev: Severity, events: Sequence[Event], casualties: int | None = None, damage: str | None = None
) -> Assessment:
    """Score a case: heaviest rule, event types, casualties, damage, number of events."""
    reasons: list[str] = []
    rules = sorted({r for e in events for r in e.violations})
    if rules:
        heaviest = max(rules, key=lambda r: (rule_weight(sev, r), r))
        base = rule_weight(sev, heaviest)
        reasons.append(f"rule {heaviest}: weight {base}")
    else:
        base = sev.default_rule_weight
        reasons.append(f"no rule code on the events: default weight {base}")
    score = base
    type_pts = max((sev.type_points.get(e.type, 0) for e in events), default=0)
    if type_pts:
        worst = max(events, key=lambda e: sev.type_points.get(e.type, 0))
        reasons.append(f"event type {worst.type}: +{type_pts}")
        score += type_pts
    total_cas = sum(e.casualties or 0 for e in events) + (casualties or 0)
    cas_pts = _step_points(sev.casualty_steps, total_cas)
    if cas_pts:
        reasons.append(f"{total_cas} casualties: +{cas_pts}")
        score += cas_pts
    damages = [d for d in (*(e.damage for e in events), damage) if d]
    if damages:
        worst_d = max(damages, key=lambda d: sev.damage_points.get(d, 0))
        d_pts = sev.damage_points.get(worst_d, 0)
        if d_pts:
            reasons.append(f"damage {worst_d}: +{d_pts}")
            score += d_pts
    n_pts = _step_points(sev.count_steps, len(events))
    if n_pts:
        reasons.append(f"{len(events)} events: +{n_pts}")
        score += n_pts
    score = max(score, 1)
    level = sev.level(score)
    return Assessment(score, level, (f"severity {score} ({level})", *reasons))
