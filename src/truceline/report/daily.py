"""The content of a daily report: counts, comparisons, tables, findings (no rendering).

`build_daily_report` turns an `EventTable` (any span of days) into a `DailyReport` for one
UTC day and one edition. Everything the renderers show comes from here, already redacted
for the public edition, so the HTML and PDF writers cannot leak what they are not given.
Comparisons with the previous 7 and 30 days are daily averages over the days the input
covers; days the input does not cover are reported as missing, never as zero.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from truceline.errors import InputError
from truceline.report.context import MapContext
from truceline.report.events import EventTable
from truceline.report.public import public_event_id, public_rows, restricted_rows

EDITIONS = ("public", "restricted")
UNDETERMINED = "undetermined"
MAX_LISTED_EVENTS = 2000


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InputError(f"--date: expected YYYY-MM-DD, got {text!r}") from None


def day_bounds(d: date) -> tuple[float, float]:
    start = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
    return start, start + 86400.0


@dataclass
class Comparison:
    """Daily averages over a window of previous days (None where there is no data)."""

    days: int
    covered_days: int
    events_per_day: float | None
    violations_per_day: float | None
    by_type: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.covered_days == 0:
            return "no data"
        if self.covered_days < self.days:
            return f"average over the {self.covered_days} of {self.days} days with data"
        return f"average over {self.days} days"


@dataclass
class DailyReport:
    day: date
    edition: str
    generated: str
    settings: dict[str, Any]
    parties: list[str]
    n_events: int
    n_violations: int
    by_type: list[dict[str, Any]]
    by_party: list[dict[str, Any]]
    by_sector: list[dict[str, Any]]
    by_rule: list[dict[str, Any]]
    prev7: Comparison
    prev30: Comparison
    weapons: list[dict[str, Any]]
    weapons_total: int
    events: list[dict[str, Any]]
    events_truncated: int
    trend: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    coverage: tuple[str, str] | None
    sensors: list[dict[str, Any]] = field(default_factory=list)
    tree_head: dict[str, Any] | None = None
    map_events: dict[str, np.ndarray] = field(default_factory=dict)
    # restricted edition only: sightings whose position breaks a rule but whose confidence is
    # too low for a finding (`violations_to_confirm`), where another look should be sent
    to_confirm: list[dict[str, Any]] = field(default_factory=list)

    def summary_text(self) -> str:
        """One paragraph in the style of a monitoring mission's daily report."""
        d = self.day.strftime("%d %B %Y").lstrip("0")
        if self.n_events == 0:
            return f"On {d} the mission recorded no events in the area of the line of contact."
        parts = [
            f"On {d} the mission recorded {self.n_events} event{'s' if self.n_events != 1 else ''}, "
            f"of which {self.n_violations} {'were' if self.n_violations != 1 else 'was'} "
            "a violation of the ceasefire agreement."
        ]
        resp = [r for r in self.by_party if r["party"] != UNDETERMINED and r["violations"]]
        if resp:
            txt = "; ".join(f"{r['violations']} to {r['party']}" for r in resp)
            parts.append(f"Violations attributed with at least {self.settings['attribution_threshold']:.0%} "
                         f"probability: {txt}.")
        und = next((r for r in self.by_party if r["party"] == UNDETERMINED), None)
        if und and und["violations"]:
            parts.append(f"{und['violations']} violation{'s' if und['violations'] != 1 else ''} could not be "
                         "attributed to a party with the required confidence.")
        for comp in (self.prev7, self.prev30):
            if comp.events_per_day is None:
                parts.append(f"No data for the previous {comp.days} days.")
            else:
                parts.append(
                    f"Previous {comp.days} days ({comp.label}): {comp.events_per_day:.1f} events and "
                    f"{comp.violations_per_day:.1f} violations per day."
                )
        if self.weapons_total:
            parts.append(f"{self.weapons_total} weapon sighting{'s' if self.weapons_total != 1 else ''} "
                         "in violation of withdrawal lines.")
        if self.findings:
            parts.append(f"The commission issued {len(self.findings)} finding{'s' if len(self.findings) != 1 else ''}.")
        return " ".join(parts)


def _comparison(table: EventTable, day: date, days: int, covered: set[date]) -> Comparison:
    start, _ = day_bounds(day - timedelta(days=days))
    end, _ = day_bounds(day)
    window = {day - timedelta(days=k) for k in range(1, days + 1)}
    cov = len(window & covered)
    if cov == 0:
        return Comparison(days, 0, None, None)
    sel = (table.time >= start) & (table.time < end)
    types = Counter(table.type[sel].tolist())
    return Comparison(
        days,
        cov,
        float(sel.sum()) / cov,
        float((sel & table.violated).sum()) / cov,
        {k: v / cov for k, v in types.items()},
    )


def _counts(keys: np.ndarray, violated: np.ndarray) -> list[tuple[str, int, int]]:
    out = []
    for k in sorted(set(keys.tolist())):
        m = keys == k
        out.append((k, int(m.sum()), int((m & violated).sum())))
    return out


def build_daily_report(
    table: EventTable,
    ctx: MapContext,
    day: date | str,
    edition: str = "public",
    findings: list[dict[str, Any]] | None = None,
    sensors: list[dict[str, Any]] | None = None,
    coverage: tuple[date, date] | None = None,
    tree_head: dict[str, Any] | None = None,
    generated: str | None = None,
) -> DailyReport:
    """Everything one edition of the report for `day` shows."""
    if edition not in EDITIONS:
        raise InputError(f"--edition must be one of {', '.join(EDITIONS)}, got {edition!r}")
    if isinstance(day, str):
        day = parse_day(day)
    s = ctx.settings
    t0, t1 = day_bounds(day)
    # coverage: the days the input spans (or what the caller states)
    if coverage is None and len(table):
        first = datetime.fromtimestamp(float(table.time.min()), UTC).date()
        last = datetime.fromtimestamp(float(table.time.max()), UTC).date()
        coverage = (first, max(last, day) if first <= day else last)
    covered: set[date] = set()
    if coverage is not None:
        d = coverage[0]
        while d <= coverage[1]:
            covered.add(d)
            d += timedelta(days=1)

    today = table.take((table.time >= t0) & (table.time < t1))
    sectors = ctx.sector_of(today.lon, today.lat) if len(today) else np.array([], dtype=object)
    dist = ctx.distance_to_line_m(today.lon, today.lat) if len(today) else np.array([])
    viol = today.violated
    parties_resp = np.where(today.responsible == "", UNDETERMINED, today.responsible).astype(object)

    by_type = [{"type": k, "events": n, "violations": v} for k, n, v in _counts(today.type, viol)]
    by_party = [{"party": k, "events": n, "violations": v} for k, n, v in _counts(parties_resp, viol)]
    by_party.sort(key=lambda r: (r["party"] == UNDETERMINED, r["party"]))
    by_sector = []
    for k, n, v in _counts(sectors, viol):
        m = sectors == k
        resp = Counter(parties_resp[m & viol].tolist())
        by_sector.append({"sector": k, "events": n, "violations": v, "responsible": dict(sorted(resp.items()))})
    rules = Counter(r for vs in today.violations for r in vs)
    by_rule = [{"rule": k, "count": v} for k, v in sorted(rules.items())]

    if edition == "public":
        rows = public_rows(today, s.public_position_grid_m, sectors, dist)
    else:
        rows = restricted_rows(today, sectors, dist)
    order = np.lexsort((today.time, ~viol))  # violations first, then by time
    listed = [rows[i] for i in order[:MAX_LISTED_EVENTS]]
    truncated = max(0, len(rows) - MAX_LISTED_EVENTS)
    weapons = [r for r in (rows[i] for i in order) if r["type"] == "weapon_sighting" and r["violations"]]
    weapons_total = len(weapons)
    weapons = weapons[:MAX_LISTED_EVENTS]
    to_confirm = ([r for r in (rows[i] for i in np.argsort(today.time, kind="stable")) if r.get("violations_to_confirm")]
                  if edition == "restricted" else [])

    # trend: the 30 days up to and including `day`
    trend = []
    for k in range(29, -1, -1):
        d = day - timedelta(days=k)
        a, b = day_bounds(d)
        if d not in covered:
            trend.append({"day": d.isoformat(), "events": None, "violations": None, "by_party": {}})
            continue
        m = (table.time >= a) & (table.time < b)
        mv = m & table.violated
        resp = Counter(np.where(table.responsible[mv] == "", UNDETERMINED, table.responsible[mv]).tolist())
        trend.append({"day": d.isoformat(), "events": int(m.sum()), "violations": int(mv.sum()),
                      "by_party": dict(resp)})

    # map positions (already redacted for the public edition)
    if edition == "public":
        map_events = {
            "lon": np.array([r["lon"] for r in rows]),
            "lat": np.array([r["lat"] for r in rows]),
            "violated": viol,
            "responsible": parties_resp,
            "radius_m": np.array([r["radius_m"] for r in rows]),
        }
    else:
        major, minor, az = today.ellipse95()
        map_events = {"lon": today.lon, "lat": today.lat, "violated": viol, "responsible": parties_resp,
                      "major_m": major, "minor_m": minor, "azimuth_deg": az}

    fnd = [_finding_view(f, edition, day) for f in (findings or [])]
    fnd = [f for f in fnd if f is not None]

    return DailyReport(
        day=day,
        edition=edition,
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        settings={
            "public_position_grid_m": s.public_position_grid_m,
            "attribution_threshold": s.attribution_threshold,
            "sector_km": s.sector_km,
            "exclusion_m": dict(s.exclusion_m),
        },
        parties=list(ctx.parties),
        n_events=len(today),
        n_violations=int(viol.sum()),
        by_type=by_type,
        by_party=by_party,
        by_sector=by_sector,
        by_rule=by_rule,
        prev7=_comparison(table, day, 7, covered),
        prev30=_comparison(table, day, 30, covered),
        weapons=weapons,
        weapons_total=weapons_total,
        events=listed,
        events_truncated=truncated,
        trend=trend,
        findings=fnd,
        coverage=(coverage[0].isoformat(), coverage[1].isoformat()) if coverage else None,
        sensors=list(sensors or []) if edition == "restricted" else [],
        tree_head=tree_head,
        map_events=map_events,
        to_confirm=to_confirm[:MAX_LISTED_EVENTS],
    )


def _finding_view(f: dict[str, Any], edition: str, day: date) -> dict[str, Any] | None:
    """A commission finding as the edition shows it (public: no report ids)."""
    when = str(f.get("time") or f.get("decided_at") or f.get("created") or "")
    about = str(f.get("day") or "")
    # a finding belongs to the day it concerns, or (without one) the day it was made
    if (about and about != day.isoformat()) or (not about and when and not when.startswith(day.isoformat())):
        return None
    events = [str(e) for e in f.get("events") or []]
    view = {
        "id": str(f.get("id", "")),
        "case": str(f.get("case") or f.get("case_id") or ""),
        "time": when,
        "party": f.get("party") or f.get("responsible"),
        "rules": [str(r) for r in (f.get("rules") or ([f["rule"]] if f.get("rule") else []))],
        "text": str(f.get("text") or f.get("summary") or f.get("finding") or ""),
        "decision": str(f.get("decision") or f.get("outcome") or ""),
        "votes": f.get("votes"),
        "remedy": f.get("remedy"),
        "events": [public_event_id(e) for e in events] if edition == "public" else events,
        "proof": f.get("proof") or f.get("log"),
    }
    if edition == "restricted":
        view["reports"] = [str(r) for r in f.get("reports") or []]
    return view
