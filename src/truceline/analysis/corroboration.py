"""Corroboration of radar-only launches by what the acoustic network heard.

A weapon-locating radar also produces false tracks. A real gun or rocket launch a few
kilometres from ground arrays is loud: they hear it at the time the track predicts (launch
time plus distance over the speed of sound). A radar-only launch (no acoustic source was
fused with it) is therefore tested against the raw detections of every array within
`SILENCE_RADIUS_M`:

- an array *heard* it when it has any detection within a tolerance of the predicted arrival
  (temperature and wind: 10 % of the travel time; the track's position and time errors);
- the evidence of each array is a likelihood ratio between "real launch" (heard with
  probability `P_HEAR`) and "false track" (a detection falls in the window by chance, with
  the array's own detection rate around that time):
  heard: `P_HEAR / p_chance`, silent: `(1 - P_HEAR) / (1 - p_chance)`;
- the launch is `quality.uncorroborated` when the product is below 1: the arrays speak
  against it, so it must not accuse anyone on the radar's word alone, nor count as fire
  (`rules`); its linked radar-only impact (the same track) is marked too.

Real launches whose association failed (blended salvo rounds, a fragment elsewhere) are
still heard at the right times and stay attributable; launches far from every array
(radar-only because nothing could hear them) are untouched. Without the detections
(`acoustic_reports=None`) the arrays within the radius are presumed silent (the older,
stricter test: `MIN_SILENT_ARRAYS`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from truceline.formats import parse_time
from truceline.geo.local import geodesic_inverse

from .acoustic import AcousticColumns

SILENCE_RADIUS_M = 10_000.0
MIN_SILENT_ARRAYS = 3  # only when no detections are given
P_HEAR = 0.8  # assumed: an array within 10 km detects a gun or rocket launch
SOUND_SPEED_MPS = 340.3  # 15 degC (spec); the tolerance covers other temperatures and wind
REL_TRAVEL_TOL = 0.10
BASE_TOL_S = 1.0
CHANCE_WINDOW_S = 1800.0  # detections within +-30 min give an array's chance rate
_EARTH_R = 6_371_008.8


def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def _near_pairs(lon: np.ndarray, lat: np.ndarray, arrays_lon: np.ndarray, arrays_lat: np.ndarray,
                radius_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point row, array column, geodesic distance) of every array within `radius_m` of a point."""
    empty = np.zeros(0, dtype=int)
    if len(lon) == 0 or len(arrays_lon) == 0:
        return empty, empty, np.zeros(0)
    tree = cKDTree(_unit_xyz(np.asarray(arrays_lon, float), np.asarray(arrays_lat, float)))
    chord = 2.0 * np.sin(radius_m * 1.01 / (2.0 * _EARTH_R))  # sphere pre-filter, 1 % margin
    hits = tree.query_ball_point(_unit_xyz(lon, lat), chord)
    rows = np.repeat(np.arange(len(lon)), [len(h) for h in hits])
    if not len(rows):
        return empty, empty, np.zeros(0)
    cols = np.concatenate([np.asarray(h, dtype=int) for h in hits if h])
    _, dist = geodesic_inverse(lon[rows], lat[rows], np.asarray(arrays_lon)[cols], np.asarray(arrays_lat)[cols])
    keep = dist <= radius_m
    return rows[keep], cols[keep], dist[keep]


def silent_array_counts(lon: np.ndarray, lat: np.ndarray, arrays_lon: np.ndarray, arrays_lat: np.ndarray,
                        radius_m: float = SILENCE_RADIUS_M) -> np.ndarray:
    """Number of arrays within `radius_m` (geodesic) of each point (vectorized)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    rows, _, _ = _near_pairs(lon, lat, np.asarray(arrays_lon, float), np.asarray(arrays_lat, float), radius_m)
    return np.bincount(rows, minlength=len(lon)).astype(int)


def hearing_evidence(pred_s: np.ndarray, tol_s: np.ndarray, arrival_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For predicted arrivals at ONE array: (heard, p_chance).

    `heard`: a detection of the array (`arrival_times`, sorted epoch s) lies within
    `pred_s +- tol_s`. `p_chance`: probability that one does by chance, from the array's
    detection rate within `CHANCE_WINDOW_S` of the prediction (Poisson)."""
    a = arrival_times
    lo = np.searchsorted(a, pred_s - tol_s, side="left")
    hi = np.searchsorted(a, pred_s + tol_s, side="right")
    heard = hi > lo
    n_ctx = np.searchsorted(a, pred_s + CHANCE_WINDOW_S, side="right") - np.searchsorted(
        a, pred_s - CHANCE_WINDOW_S, side="left")
    n_ctx = np.maximum(n_ctx - heard, 0)  # the detection under test is not background
    rate = n_ctx / (2.0 * CHANCE_WINDOW_S)
    p_chance = np.clip(-np.expm1(-rate * 2.0 * tol_s), 1e-3, 0.95)
    return heard, p_chance


def _arrays_of(registry: dict[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
    def field(s: Any, name: str) -> Any:  # registry entries: `ingest.Sensor` or spec dicts
        return s.get(name) if isinstance(s, dict) else getattr(s, name, None)

    ids, lons, lats = [], [], []
    for sid, s in registry.items():
        if field(s, "kind") == "acoustic" and field(s, "lat") is not None and field(s, "lon") is not None:
            ids.append(str(field(s, "id") or sid))
            lons.append(float(field(s, "lon")))
            lats.append(float(field(s, "lat")))
    return ids, np.array(lons), np.array(lats)


def _arrival_times(acoustic_reports: Iterable[dict] | AcousticColumns) -> dict[str, np.ndarray]:
    """Sensor id -> sorted arrival times (the report `time` of an acoustic detection)."""
    if isinstance(acoustic_reports, AcousticColumns):
        cols = acoustic_reports
        if cols.t.size == 0:
            return {}
        order = np.lexsort((cols.t, cols.sensor))
        codes, starts = np.unique(cols.sensor[order], return_index=True)
        parts = np.split(cols.t[order], starts[1:])
        return {str(cols.sensors[c]): p for c, p in zip(codes.tolist(), parts, strict=True)}
    out: dict[str, list[float]] = defaultdict(list)
    for r in acoustic_reports:
        try:
            out[str(r["sensor"])].append(parse_time(r["time"]))
        except (KeyError, TypeError, ValueError):
            continue
    return {k: np.sort(np.array(v)) for k, v in out.items()}


def mark_uncorroborated(events: list[Any], registry: dict[str, Any],
                        acoustic_reports: Iterable[dict] | AcousticColumns | None = None) -> None:
    """Test every radar-only launch against the acoustic arrays near it (module docstring).

    Sets `quality["near_arrays"]`, `quality["heard_arrays"]`, `quality["silent_arrays"]`,
    `quality["hearing_log10_lr"]` and, when the arrays speak against the track,
    `quality["uncorroborated"] = True`. Without `acoustic_reports` only
    `quality["silent_arrays"]` (arrays within the radius) is set and `MIN_SILENT_ARRAYS`
    of them make the launch uncorroborated."""
    ids, alon, alat = _arrays_of(registry)
    targets = [e for e in events if e.type == "launch" and e.report_kinds and set(e.report_kinds.values()) == {"radar"}]
    if not ids or not targets:
        return
    tlon = np.array([e.lon for e in targets])
    tlat = np.array([e.lat for e in targets])
    rows, cols, dist = _near_pairs(tlon, tlat, alon, alat, SILENCE_RADIUS_M)
    n_near = np.bincount(rows, minlength=len(targets))
    if acoustic_reports is None:
        for e, n in zip(targets, n_near, strict=True):
            e.quality["silent_arrays"] = int(n)
            if n >= MIN_SILENT_ARRAYS:
                e.quality["uncorroborated"] = True
        _mark_linked_impacts(events, targets)
        return

    times = _arrival_times(acoustic_reports)
    t0 = np.array([e.time for e in targets])
    t_sig = np.array([e.time_sigma_s or 0.0 for e in targets])
    pos_sig = np.array([math.sqrt(max(float(np.max(np.linalg.eigvalsh(np.asarray(e.cov_en_m2, float)))), 0.0))
                        for e in targets])
    travel = dist / SOUND_SPEED_MPS
    pred = t0[rows] + travel
    tol = BASE_TOL_S + REL_TRAVEL_TOL * travel + 3.0 * pos_sig[rows] / SOUND_SPEED_MPS + 3.0 * t_sig[rows]
    heard = np.zeros(len(rows), dtype=bool)
    p_chance = np.full(len(rows), 1e-3)
    for c in np.unique(cols):
        k = np.flatnonzero(cols == c)
        heard[k], p_chance[k] = hearing_evidence(pred[k], tol[k], times.get(ids[c], np.zeros(0)))
    llr = np.where(heard, np.log10(P_HEAR / p_chance), np.log10((1.0 - P_HEAR) / (1.0 - p_chance)))
    total = np.bincount(rows, weights=llr, minlength=len(targets))
    n_heard = np.bincount(rows, weights=heard.astype(float), minlength=len(targets)).astype(int)
    for i, e in enumerate(targets):
        e.quality["near_arrays"] = int(n_near[i])
        e.quality["heard_arrays"] = int(n_heard[i])
        e.quality["silent_arrays"] = int(n_near[i] - n_heard[i])
        if n_near[i]:
            e.quality["hearing_log10_lr"] = round(float(total[i]), 3)
        if total[i] < 0.0:
            e.quality["uncorroborated"] = True
    _mark_linked_impacts(events, targets)


def _mark_linked_impacts(events: list[Any], targets: list[Any]) -> None:
    """The impact of a track the arrays contradict is as doubtful as its launch (same track)."""
    doubtful = {e.impact_event for e in targets if e.quality.get("uncorroborated") and e.impact_event}
    for e in events:
        if e.type == "impact" and e.id in doubtful and set(e.report_kinds.values()) == {"radar"}:
            e.quality["uncorroborated"] = True
