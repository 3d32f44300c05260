"""Acoustic physics and the columnar detection table the association and fit work on.

Physics (spec section 2, `acoustic`): propagation along the ground at the receiving
array's speed of sound `c = 331.3 sqrt(1 + T/273.15)` (T from `air_temp_c`, else 15 C);
sound travelling in unit direction `u` moves at `c + w.u`, `w` the wind at the array
(meteorological convention: `wind_from_deg` is where the wind blows from).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from truceline.formats import parse_time

DEFAULT_TEMP_C = 15.0
LABELS = {"launch": 0, "impact": 1, "unknown": 2}
LABEL_NAMES = ("launch", "impact", "unknown")
DEFAULT_TIMING_SIGMA_S = 0.01
DEFAULT_AZIMUTH_SIGMA_DEG = 5.0
DEFAULT_WIND_SIGMA_MPS = 1.0
DEFAULT_WIND_SIGMA_DEG = 15.0


def sound_speed(temp_c) -> np.ndarray:
    """Speed of sound (m/s) in still air at temperature `temp_c` (deg C)."""
    return 331.3 * np.sqrt(1.0 + np.asarray(temp_c, dtype=float) / 273.15)


def wind_vector(speed_mps, from_deg) -> tuple[np.ndarray, np.ndarray]:
    """East/north wind components (m/s) from speed and the direction it blows *from*."""
    a = np.radians(np.asarray(from_deg, dtype=float))
    s = np.asarray(speed_mps, dtype=float)
    return -s * np.sin(a), -s * np.cos(a)


def sget(sensor: Any, name: str, default: Any = None) -> Any:
    """Field of a registry entry, whether a `Sensor` dataclass or a plain dict."""
    value = sensor.get(name, default) if isinstance(sensor, dict) else getattr(sensor, name, default)
    return default if value is None else value


@dataclass(slots=True)
class Arrays:
    """Fixed acoustic arrays that appear in the data (index = position in these columns)."""

    ids: list[str]
    lon: np.ndarray
    lat: np.ndarray
    timing_sigma: np.ndarray  # s
    az_sigma: np.ndarray  # rad (nan when the registry gives none)
    wind_sigma_mps: np.ndarray
    wind_sigma_rad: np.ndarray


@dataclass(slots=True)
class Detections:
    """One row per accepted acoustic report (columnar, NumPy)."""

    arr: np.ndarray  # int32 index into Arrays
    t: np.ndarray  # float64 seconds since t_ref
    label: np.ndarray  # int8 (LABELS)
    az: np.ndarray  # rad, nan when absent
    c: np.ndarray  # still-air speed of sound at the array (m/s)
    wx: np.ndarray  # measured wind east (m/s), nan when not reported
    wy: np.ndarray
    wspeed: np.ndarray  # reported wind speed (nan when absent)
    has_T: np.ndarray  # bool: the report gave air_temp_c
    temp_var: np.ndarray  # variance (C^2) of the temperature used where none was reported
    rid: np.ndarray  # index into `report_ids`
    report_ids: list[str]
    t_ref: float

    def __len__(self) -> int:
        return int(self.arr.shape[0])


_NAN = float("nan")


def acoustic_row(body: dict[str, Any]) -> tuple[int, float, float, float, float]:
    """(label code, azimuth deg, air temperature C, wind speed m/s, wind from deg) of an
    acoustic report's body; nan where absent (the wind only when both its fields are given)."""
    az, temp = body.get("azimuth_deg"), body.get("air_temp_c")
    ws, wd = body.get("wind_speed_mps"), body.get("wind_from_deg")
    if ws is None or wd is None:
        ws = wd = _NAN
    return (LABELS.get(body.get("class"), 2), _NAN if az is None else float(az), _NAN if temp is None else float(temp),
            float(ws), float(wd))


@dataclass(slots=True)
class AcousticColumns:
    """Acoustic reports as the analysis reads them, one row each (see `reportset`)."""

    ids: list[str]  # report id per row
    sensors: list[str]  # distinct sensor ids; `sensor` indexes this list
    sensor: np.ndarray  # int32
    t: np.ndarray  # report time, epoch seconds
    label: np.ndarray  # int8 (LABELS; absent or other -> unknown)
    az_deg: np.ndarray  # nan when absent
    temp_c: np.ndarray
    wind_speed: np.ndarray  # m/s; nan unless both wind fields were given
    wind_from: np.ndarray  # deg

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @classmethod
    def from_reports(cls, reports: Iterable[dict[str, Any]]) -> AcousticColumns:
        """The acoustic reports among `reports`, in their order (other kinds skipped)."""
        from .reportset import AcousticBuilder  # the builder `ReportSet` fills chunk by chunk

        builder = AcousticBuilder()
        for seq, rep in enumerate(r for r in reports if r.get("kind") == "acoustic"):
            builder.add(rep, parse_time(rep["time"]), seq)
        return builder.build()[0]

    def take(self, rows: np.ndarray) -> AcousticColumns:
        """The given rows, in that order (sensor codes unchanged)."""
        rows = np.asarray(rows, dtype=np.int64)
        return AcousticColumns(ids=[self.ids[i] for i in rows.tolist()], sensors=self.sensors,
                               sensor=self.sensor[rows], t=self.t[rows], label=self.label[rows],
                               az_deg=self.az_deg[rows], temp_c=self.temp_c[rows],
                               wind_speed=self.wind_speed[rows], wind_from=self.wind_from[rows])

    def first_by_time(self, n: int) -> AcousticColumns:
        """The `n` earliest rows by (time, report id), in that order."""
        if n >= len(self):
            cand = np.arange(len(self))
        else:
            cut = np.partition(self.t, n - 1)[n - 1]
            cand = np.flatnonzero(self.t <= cut)  # >= n rows: ties at the cut included
        t, ids = self.t, self.ids
        cand = sorted(cand.tolist(), key=lambda i: (t[i], ids[i]))[:n]
        return self.take(np.array(cand, dtype=np.int64))


def build_tables(reports: Iterable[dict] | AcousticColumns, registry: dict[str, Any], missing_temp: str = "fill"
                 ) -> tuple[Arrays, Detections]:
    """Columnar tables from accepted acoustic reports (dicts, other kinds skipped, or
    `AcousticColumns`); sensors without a fixed position are ignored (they cannot be used
    for ranging). `missing_temp` decides the temperature of an array that reports none:
    "fill" (from nearby arrays that do, see `fill_temperature`) or "default" (the spec's
    15 C, as a generator that follows the spec's text would use)."""
    cols = reports if isinstance(reports, AcousticColumns) else AcousticColumns.from_reports(reports)
    # sensors with a fixed position, numbered in order of first appearance
    placed = np.array([(s := registry.get(sid)) is not None and sget(s, "lat") is not None
                       and sget(s, "lon") is not None for sid in cols.sensors], dtype=bool)
    keep = np.flatnonzero(placed[cols.sensor]) if len(cols) else np.zeros(0, dtype=np.int64)
    codes = cols.sensor[keep]
    uniq, first = np.unique(codes, return_index=True)
    uniq = uniq[np.argsort(first)]
    remap = np.full(len(cols.sensors), -1, dtype=np.int32)
    remap[uniq] = np.arange(uniq.size, dtype=np.int32)
    a_ids = [cols.sensors[c] for c in uniq.tolist()]
    rids = cols.ids if keep.size == len(cols) else [cols.ids[i] for i in keep.tolist()]
    sens = [registry[s] for s in a_ids]
    arrays = Arrays(
        ids=a_ids,
        lon=np.array([float(sget(s, "lon")) for s in sens], dtype=float),
        lat=np.array([float(sget(s, "lat")) for s in sens], dtype=float),
        timing_sigma=np.array([float(sget(s, "timing_sigma_s", DEFAULT_TIMING_SIGMA_S)) for s in sens]),
        az_sigma=np.radians(np.array([float(sget(s, "azimuth_sigma_deg", DEFAULT_AZIMUTH_SIGMA_DEG)) for s in sens])),
        wind_sigma_mps=np.array([float(sget(s, "wind_sigma_mps", DEFAULT_WIND_SIGMA_MPS)) for s in sens]),
        wind_sigma_rad=np.radians(np.array([float(sget(s, "wind_sigma_deg", DEFAULT_WIND_SIGMA_DEG)) for s in sens])),
    )
    # a zero sigma would give infinite weight; floor it at a microsecond / a hundredth of a degree
    arrays.timing_sigma = np.maximum(arrays.timing_sigma, 1e-6)
    arrays.az_sigma = np.maximum(arrays.az_sigma, np.radians(0.01))
    arr = remap[codes].astype(np.int32)
    t = cols.t[keep]
    t_ref = float(np.floor(t.min())) if t.size else 0.0
    ws = cols.wind_speed[keep]
    wx, wy = wind_vector(ws, cols.wind_from[keep])
    temp = cols.temp_c[keep]
    has_T = np.isfinite(temp)
    if missing_temp == "default":
        temp = np.where(has_T, temp, DEFAULT_TEMP_C)
        temp_var = np.where(has_T, 0.0, 0.3**2)
    else:
        temp, temp_var = fill_temperature(arrays, arr.astype(np.int64), t, temp)
    dets = Detections(
        arr=arr,
        t=t - t_ref,
        label=cols.label[keep].astype(np.int8),
        az=np.radians(cols.az_deg[keep]),
        c=sound_speed(temp),
        wx=wx,
        wy=wy,
        wspeed=ws,
        has_T=has_T,
        temp_var=temp_var,
        rid=np.arange(len(rids), dtype=np.int64),
        report_ids=rids,
        t_ref=t_ref,
    )
    return arrays, dets


TEMP_CLIMATE_SIGMA_C = 10.0
TEMP_SPATIAL_SIGMA_C = 1.0
TEMP_RADIUS_M = 60000.0


def fill_temperature(arrays: Arrays, arr: np.ndarray, t: np.ndarray, temp: np.ndarray):
    """Temperature where a report gives none: the mean of the temperatures reported within
    `TEMP_RADIUS_M` in the same hour (the field is smooth over hundreds of km), with variance
    `TEMP_SPATIAL_SIGMA_C^2`; else the spec's default 15 C with a climatological variance.
    The fit models what remains as a common speed-of-sound offset with that prior."""
    from scipy.spatial import cKDTree

    from . import geodesy

    out = temp.copy()
    var = np.zeros_like(temp)
    miss = ~np.isfinite(temp)
    if not miss.any():
        return out, var
    out[miss] = DEFAULT_TEMP_C
    var[miss] = TEMP_CLIMATE_SIGMA_C**2
    have = ~miss
    if not have.any():
        return out, var
    X, Y, _ = geodesy.project_region(arrays.lon, arrays.lat)
    hour = np.floor(t / 3600.0).astype(np.int64)
    for h in np.unique(hour[miss]):
        hm = np.nonzero(miss & (hour == h))[0]
        hh = np.nonzero(have & (np.abs(hour - h) <= 1))[0]
        if hh.size == 0:
            continue
        # per reporting array: its mean temperature in this window
        ua, inv = np.unique(arr[hh], return_inverse=True)
        mt = np.bincount(inv, temp[hh]) / np.bincount(inv)
        tree = cKDTree(np.c_[X[ua], Y[ua]])
        qa, qinv = np.unique(arr[hm], return_inverse=True)
        lists = tree.query_ball_point(np.c_[X[qa], Y[qa]], TEMP_RADIUS_M)
        est = np.full(qa.size, np.nan)
        for i, lst in enumerate(lists):
            if lst:
                est[i] = float(np.mean(mt[lst]))
        e = est[qinv]
        ok = np.isfinite(e)
        out[hm[ok]] = e[ok]
        var[hm[ok]] = TEMP_SPATIAL_SIGMA_C**2
    return out, var
