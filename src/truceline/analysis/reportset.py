"""`ReportSet`: accepted reports as the analysis reads them, acoustic ones as columns.

Why: a day of a million reports held as Python dicts costs about 2 KB each (2 GB), yet the
acoustic detections (most of any day) are read only as a handful of numbers. They are kept
as NumPy columns (`AcousticColumns`, ~100 bytes a report) from the moment they are
accepted, chunk by chunk, so no list of a million dicts ever exists. Radar tracks, drone
sightings, satellite and monitor reports are few and read whole: they stay dicts.

`finish()` puts everything in the order the analysis relies on for determinism: sorted by
report id, the first report of a repeated id kept (input order breaks the tie), whatever
the order the reports arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from truceline.formats import parse_time

from .acoustic import AcousticColumns, acoustic_row

KINDS = ("acoustic", "radar", "uav", "satellite", "monitor")
_FLUSH_ROWS = 8192


class AcousticBuilder:
    """Appends acoustic reports row by row; every `_FLUSH_ROWS` rows the pending Python
    values become NumPy arrays (no Python float object survives a chunk)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.sensors: list[str] = []
        self.ids: list[str] = []
        self.order: list[np.ndarray] = []  # input sequence numbers
        self.parts: list[tuple[np.ndarray, ...]] = []
        self._rows: list[tuple] = []
        self._seq: list[int] = []

    def add(self, report: dict[str, Any], t: float, seq: int) -> None:
        sensor = report["sensor"]
        code = self.codes.get(sensor)
        if code is None:
            code = self.codes[sensor] = len(self.sensors)
            self.sensors.append(sensor)
        self.ids.append(report["id"])
        self._rows.append((code, t, *acoustic_row(report.get("body") or {})))
        self._seq.append(seq)
        if len(self._rows) >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        code, t, label, az, temp, ws, wd = zip(*self._rows, strict=True)
        self.parts.append((np.array(code, dtype=np.int32), np.array(t, dtype=float), np.array(label, dtype=np.int8),
                           np.array(az, dtype=float), np.array(temp, dtype=float), np.array(ws, dtype=float),
                           np.array(wd, dtype=float)))
        self.order.append(np.array(self._seq, dtype=np.int64))
        self._rows, self._seq = [], []

    def build(self) -> tuple[AcousticColumns, np.ndarray]:
        self._flush()
        if self.parts:
            cols = [np.concatenate(c) for c in zip(*self.parts, strict=True)]
            seq = np.concatenate(self.order)
        else:
            cols = [np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0, dtype=np.int8)] + [np.zeros(0)] * 4
            seq = np.zeros(0, dtype=np.int64)
        self.parts, self.order = [], []
        ac = AcousticColumns(ids=self.ids, sensors=self.sensors, sensor=cols[0], t=cols[1], label=cols[2],
                             az_deg=cols[3], temp_c=cols[4], wind_speed=cols[5], wind_from=cols[6])
        return ac, seq


class ReportSet:
    """Accepted reports for `analyze_reports`: `acoustic` (`AcousticColumns`) and, for the
    other kinds, lists of report dicts (`other[kind]`). Fill with `extend`, then `finish`
    (done by `analyze_reports` if you forget); reports of a kind the spec does not define
    are ignored, as the analysis has no use for them."""

    def __init__(self) -> None:
        self._builder: AcousticBuilder | None = AcousticBuilder()
        self._other: dict[str, list[tuple[int, dict[str, Any]]]] = {k: [] for k in KINDS[1:]}
        self._seq = 0
        self.acoustic: AcousticColumns | None = None
        self.other: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS[1:]}

    @classmethod
    def from_reports(cls, reports: Iterable[dict[str, Any]]) -> ReportSet:
        rs = cls()
        rs.extend(reports)
        rs.finish()
        return rs

    def extend(self, reports: Iterable[dict[str, Any]], times: Iterable[float] | None = None) -> None:
        """Add report dicts (spec section 2). `times`, when given, are their `time` fields
        already parsed (epoch seconds, as `truceline.formats.parse_time` gives), saving a
        second parse of what validation has read."""
        if self._builder is None:
            raise RuntimeError("ReportSet.extend after finish()")
        add = self._builder.add
        pairs: Iterable[tuple[dict[str, Any], float | None]] = (
            ((r, None) for r in reports) if times is None else zip(reports, times, strict=True))
        seq = self._seq
        for r, t in pairs:
            kind = r.get("kind")
            if kind == "acoustic":
                add(r, parse_time(r["time"]) if t is None else t, seq)
            elif kind in self._other:
                self._other[kind].append((seq, r))
            else:
                continue
            seq += 1
        self._seq = seq

    def finish(self) -> ReportSet:
        """Sort every kind by report id and keep the first report of a repeated id."""
        if self._builder is None:
            return self
        ac, ac_seq = self._builder.build()
        self._builder = None
        n_ac = len(ac_seq)
        # one index over all kinds: acoustic rows 0..n_ac-1, then the other kinds' reports
        flat = [r for kind in KINDS[1:] for _, r in self._other[kind]]
        seq = np.concatenate([ac_seq, np.array([s for kind in KINDS[1:] for s, _ in self._other[kind]],
                                               dtype=np.int64)])
        self._other = {}
        ids = ac.ids + [r["id"] for r in flat]
        # input order first, then a stable sort by id: ties keep input order
        by_seq = np.argsort(seq, kind="stable")
        picked = by_seq[_first_of_each_id([ids[i] for i in by_seq])]
        self.acoustic = ac.take(picked[picked < n_ac])
        for i in picked[picked >= n_ac].tolist():
            r = flat[i - n_ac]
            self.other[r["kind"]].append(r)
        return self

    def __len__(self) -> int:
        if self._builder is not None:
            return self._seq
        return len(self.acoustic or ()) + sum(len(v) for v in self.other.values())


_NUMPY_ID_MAX = 64  # longer ids: sorted by Python (a NumPy string column costs 4 bytes/char for every row)


def _first_of_each_id(ids: list[str]) -> np.ndarray:
    """Positions of the first occurrence of each id, in id order (code-point order, as
    Python compares strings). NumPy sorts short ids ~5x faster than `sorted`; ids with a
    NUL (which NumPy strings drop at the end) or longer than `_NUMPY_ID_MAX` go the Python way."""
    if not ids:
        return np.zeros(0, dtype=np.int64)
    longest = max(map(len, ids))
    if longest <= _NUMPY_ID_MAX and not any("\x00" in i for i in ids):
        col = np.array(ids, dtype=f"<U{longest}")
        order = np.argsort(col, kind="stable")
        srt = col[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = srt[1:] != srt[:-1]
        return order[first].astype(np.int64)
    order = sorted(range(len(ids)), key=ids.__getitem__)
    keep, last = [], None
    for k in order:
        if ids[k] != last:
            keep.append(k)
            last = ids[k]
    return np.array(keep, dtype=np.int64)
