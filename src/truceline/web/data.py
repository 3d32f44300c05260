"""Vectorized queries over the events the dashboard serves (filter, aggregate, detail).

All columns are NumPy arrays built once; a query is a few boolean masks, and when more
events fall in view than the map can draw they are aggregated on a grid whose cell size
is a power of two of degrees chosen from the view width (stable while panning). Public
queries filter and aggregate on the coarsened positions, so counts per cell cannot be
used to recover exact positions either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from truceline.formats import format_time
from truceline.report.context import MapContext
from truceline.report.events import EventTable
from truceline.report.public import (
    coarsen_positions,
    public_event_id,
    public_radius_m,
    public_rows,
    restricted_rows,
)

UNDETERMINED = "undetermined"
MAX_POINTS = 2500
GRID_CELLS_ACROSS = 64


@dataclass
class Query:
    start: float | None = None
    end: float | None = None
    types: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    violations_only: bool = False
    bbox: tuple[float, float, float, float] | None = None


class EventIndex:
    """Columns of the served events and the public/restricted views of them."""

    def __init__(self, table: EventTable, ctx: MapContext):
        self.table = table
        self.ctx = ctx
        grid = ctx.settings.public_position_grid_m
        n = len(table)
        self.plon, self.plat = coarsen_positions(table.lon, table.lat, grid)
        self.radius = public_radius_m(table, grid) if n else np.array([])
        self.types = sorted(set(table.type.tolist()))
        self.type_code = np.array([self.types.index(t) for t in table.type], dtype=np.int16) if n else \
            np.array([], np.int16)
        resp = np.where(table.responsible == "", UNDETERMINED, table.responsible).astype(object) if n else \
            np.array([], object)
        self.parties = sorted(set(resp.tolist()) | set(ctx.parties), key=lambda p: (p == UNDETERMINED, p))
        if UNDETERMINED not in self.parties:
            self.parties.append(UNDETERMINED)
        self.resp_code = np.array([self.parties.index(p) for p in resp], dtype=np.int16)
        self.rules = sorted({r for vs in table.violations for r in vs})
        self.rule_mask = np.zeros((len(self.rules), n), dtype=bool)
        for i, vs in enumerate(table.violations):
            for r in vs:
                self.rule_mask[self.rules.index(r), i] = True
        self.violated = table.violated
        self.ids = {str(e): i for i, e in enumerate(table.ids)}
        self.public_ids = {public_event_id(str(e)): i for i, e in enumerate(table.ids)}
        self.sectors = ctx.sector_of(table.lon, table.lat) if n else np.array([], object)
        self.dist = ctx.distance_to_line_m(table.lon, table.lat) if n else np.array([])
        self._meta: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.table)

    # -- meta --------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = self._build_meta()
        return dict(self._meta)

    def _build_meta(self) -> dict[str, Any]:
        t = self.table.time
        days = sorted({datetime.fromtimestamp(float(x), UTC).date().isoformat() for x in np.unique(t // 86400) * 86400})
        return {
            "count": len(self),
            "types": self.types,
            "parties": self.parties,
            "rules": self.rules,
            "days": days,
            "first": format_time(float(t.min())) if len(t) else None,
            "last": format_time(float(t.max())) if len(t) else None,
            "public_position_grid_m": self.ctx.settings.public_position_grid_m,
            "attribution_threshold": self.ctx.settings.attribution_threshold,
        }

    # -- queries -----------------------------------------------------------------------
    def select(self, q: Query, public: bool) -> np.ndarray:
        m = np.ones(len(self), dtype=bool)
        t = self.table.time
        if q.start is not None:
            m &= t >= q.start
        if q.end is not None:
            m &= t < q.end
        if q.types:
            codes = [self.types.index(x) for x in q.types if x in self.types]
            m &= np.isin(self.type_code, codes)
        if q.parties:
            codes = [self.parties.index(x) for x in q.parties if x in self.parties]
            m &= np.isin(self.resp_code, codes)
        if q.rules:
            rm = np.zeros(len(self), dtype=bool)
            for r in q.rules:
                if r in self.rules:
                    rm |= self.rule_mask[self.rules.index(r)]
            m &= rm
        if q.violations_only:
            m &= self.violated
        if q.bbox is not None:
            lon, lat = (self.plon, self.plat) if public else (self.table.lon, self.table.lat)
            x0, y0, x1, y1 = q.bbox
            m &= (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        return np.flatnonzero(m)

    def points(self, idx: np.ndarray, public: bool) -> list[dict[str, Any]]:
        """Compact map markers (drawing needs little: position, type, party, violation)."""
        lon, lat = (self.plon, self.plat) if public else (self.table.lon, self.table.lat)
        ids = self.table.ids
        out = []
        for i in idx.tolist():
            out.append({
                "id": public_event_id(ids[i]) if public else ids[i],
                "lon": round(float(lon[i]), 3 if public else 6),
                "lat": round(float(lat[i]), 3 if public else 6),
                "type": self.types[self.type_code[i]],
                "party": self.parties[self.resp_code[i]],
                "v": bool(self.violated[i]),
            })
        return out

    @staticmethod
    def cell_size(bbox: tuple[float, float, float, float] | None) -> float:
        width = (bbox[2] - bbox[0]) if bbox else 8.0
        return 2.0 ** round(math.log2(max(width, 1e-3) / GRID_CELLS_ACROSS))

    def grid(self, idx: np.ndarray, cell: float, public: bool) -> list[list[Any]]:
        """[lon, lat, count, violations, dominant responsible party] per occupied cell."""
        lon, lat = (self.plon, self.plat) if public else (self.table.lon, self.table.lat)
        if len(idx) == 0:
            return []
        gx = np.floor(lon[idx] / cell).astype(np.int64)
        gy = np.floor(lat[idx] / cell).astype(np.int64)
        gx -= gx.min()
        gy -= gy.min()
        width = int(gy.max()) + 1
        key = gx * width + gy
        if (int(gx.max()) + 1) * width <= 4_000_000:
            # dense box of cells: one O(n) bincount instead of a sort
            dense = np.bincount(key)
            uniq = np.flatnonzero(dense)
            slot = np.zeros(len(dense), dtype=np.int64)
            slot[uniq] = np.arange(len(uniq))
            inv = slot[key]
            counts = dense[uniq]
        else:
            uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        viol = np.bincount(inv, weights=self.violated[idx].astype(float), minlength=len(uniq))
        sx = np.bincount(inv, weights=lon[idx], minlength=len(uniq)) / counts
        sy = np.bincount(inv, weights=lat[idx], minlength=len(uniq)) / counts
        npart = len(self.parties)
        weight = self.violated[idx].astype(float) + 1e-3  # violations decide, else the most events
        pc = np.bincount(inv * npart + self.resp_code[idx], weights=weight, minlength=len(uniq) * npart)
        dom = pc.reshape(len(uniq), npart).argmax(axis=1)
        names = np.array(self.parties, dtype=object)[dom]
        xs = np.round(sx, 3).tolist()
        ys = np.round(sy, 3).tolist()
        return [list(row) for row in zip(xs, ys, counts.tolist(), viol.astype(int).tolist(), names.tolist(),
                                         strict=True)]

    def summary(self, idx: np.ndarray) -> dict[str, Any]:
        tc = np.bincount(self.type_code[idx], minlength=len(self.types))
        pc = np.bincount(self.resp_code[idx], minlength=len(self.parties))
        pv = np.bincount(self.resp_code[idx], weights=self.violated[idx].astype(float), minlength=len(self.parties))
        return {
            "events": int(len(idx)),
            "violations": int(self.violated[idx].sum()),
            "by_type": {t: int(tc[k]) for k, t in enumerate(self.types) if tc[k]},
            "by_party": {p: {"events": int(pc[k]), "violations": int(pv[k])} for k, p in enumerate(self.parties)
                         if pc[k]},
            "by_rule": {r: int(self.rule_mask[k, idx].sum()) for k, r in enumerate(self.rules)},
        }

    def find(self, event_id: str, public: bool) -> int | None:
        return self.public_ids.get(event_id) if public else self.ids.get(event_id, self.public_ids.get(event_id))

    def detail(self, i: int, public: bool) -> dict[str, Any]:
        sub = self.table.take(np.array([i]))
        sec = self.sectors[[i]]
        dist = self.dist[[i]]
        if public:
            return public_rows(sub, self.ctx.settings.public_position_grid_m, sec, dist)[0]
        return restricted_rows(sub, sec, dist)[0]
