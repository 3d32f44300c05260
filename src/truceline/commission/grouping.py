"""Grouping violations into cases.

Events with the same rule, the same responsible party (or none: "undetermined"), the same
sector and the same UTC day form one case; an event whose own severity reaches the
configured ``severe_event_score`` opens a case of its own. An event breaking several rules
is grouped under its heaviest rule (ties: the first code alphabetically) so it lands in
exactly one case; the case lists every rule its events break.

The sector comes from the event's ``sector`` property when present, else from the
territory (``Territory.sector_of``) when one is given, else from a coarse grid cell of
``fallback_cell_km`` (a stand-in, labelled ``cell:...``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from truceline.commission.config import CommissionConfig
from truceline.commission.events import Event
from truceline.commission.severity import event_score, rule_weight

UNDETERMINED = "undetermined"

SectorFn = Callable[[Event], str]


def grid_sector(cell_km: float) -> SectorFn:
    """Sector stand-in: a grid cell of about ``cell_km`` on a side (equal-angle rows)."""
    dlat = cell_km / 111.32

    def sector(ev: Event) -> str:
        row = math.floor(ev.lat / dlat)
        lat_c = (row + 0.5) * dlat
        dlon = cell_km / (111.32 * max(math.cos(math.radians(lat_c)), 1e-6))
        return f"cell:{row}:{math.floor(ev.lon / dlon)}"

    return sector


def compute_sectors(
    events: Sequence[Event], territory=None, length_km: float = 50.0, cell_km: float = 50.0
) -> dict[str, str]:
    """Sector of each event id: its own ``sector`` property, else the territory's sector
    along the line of contact (one vectorized ``sector_of`` call), else a grid cell."""
    out: dict[str, str] = {}
    todo = [e for e in events if e.sector is None]
    for e in events:
        if e.sector is not None:
            out[e.id] = e.sector
    if todo and territory is not None:
        lon = np.array([e.lon for e in todo])
        lat = np.array([e.lat for e in todo])
        try:
            names = np.atleast_1d(territory.sector_of(lon, lat, length_km))
        except Exception:  # noqa: BLE001 - odd geometry: fall back to the grid, never lose events
            names = None
        if names is not None and len(names) == len(todo):
            for e, name in zip(todo, names, strict=True):
                if name is not None and str(name):
                    out[e.id] = str(name)
    grid = grid_sector(cell_km)
    for e in todo:
        out.setdefault(e.id, grid(e))
    return out


@dataclass(frozen=True)
class CaseDraft:
    """A case to open: its grouping key and its events (ordered by time, then id)."""

    rule: str
    party: str  # responsible party code or "undetermined"
    sector: str
    day: str
    severe: bool
    events: tuple[Event, ...]

    @property
    def key(self) -> str:
        base = f"{self.rule}|{self.party}|{self.sector}|{self.day}"
        return f"{base}|severe:{self.events[0].id}" if self.severe else base

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(sorted({r for e in self.events for r in e.violations}))


def primary_rule(cfg: CommissionConfig, ev: Event) -> str:
    return min(ev.violations, key=lambda r: (-rule_weight(cfg.severity, r), r))


def group_events(
    cfg: CommissionConfig, events: Sequence[Event], sectors: Mapping[str, str] | None = None
) -> list[CaseDraft]:
    """Group the violating events into case drafts (deterministic order: day, rule, party, sector).

    ``sectors`` maps event id -> sector (see :func:`compute_sectors`); missing entries use
    the event's own ``sector`` or the grid stand-in.
    """
    grid = grid_sector(cfg.fallback_cell_km)

    def sector_of(ev: Event) -> str:
        if sectors is not None and ev.id in sectors:
            return sectors[ev.id]
        return ev.sector if ev.sector is not None else grid(ev)

    groups: dict[tuple[str, str, str, str], list[Event]] = {}
    drafts: list[CaseDraft] = []
    for ev in events:
        if not ev.violations:
            continue
        rule = primary_rule(cfg, ev)
        party = ev.responsible or UNDETERMINED
        sector = sector_of(ev)
        if event_score(cfg.severity, ev) >= cfg.severe_event_score:
            drafts.append(CaseDraft(rule, party, sector, ev.day, True, (ev,)))
        else:
            groups.setdefault((rule, party, sector, ev.day), []).append(ev)
    for (rule, party, sector, day), evs in groups.items():
        evs.sort(key=lambda e: (e.t, e.id))
        drafts.append(CaseDraft(rule, party, sector, day, False, tuple(evs)))
    drafts.sort(key=lambda d: (d.day, d.rule, d.party, d.sector, d.events[0].t, d.events[0].id))
    return drafts
