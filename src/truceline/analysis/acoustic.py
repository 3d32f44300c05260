"""Acoustic physics and the columnar detection table the association and fit work on.

Physics (spec section 2, `acoustic`): propagation along the ground at the receiving
array's speed of sound `c = 331.3 sqrt(1 + T/273.15)` (T from `air_temp_c`, else 15 C);
sound travelling in unit direction `u` moves at `c + w.u`, `w` the wind at the array
(meteorological convention: `wind_from_deg` is where the wind blows from).
"""

from __future__ import annotations

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


def build_tables(reports: list[dict], registry: dict[str, Any], missing_temp: str = "fill"
                 ) -> tuple[Arrays, Detections]:
    """Columnar tables from accepted acoustic reports; sensors without a fixed position are
    ignored (they cannot be used for ranging). `missing_temp` decides the temperature of an
    array that reports none: "fill" (from nearby arrays that do, see `fill_temperature`) or
    "default" (the spec's 15 C, as a generator that follows the spec's text would use)."""
    index: dict[str, int] = {}
    a_ids: list[str] = []
    # columns preallocated (no Python float objects kept per report), trimmed at the end
    cap = len(reports)
    rows_arr = np.empty(cap, dtype=np.int32)
    rows_t = np.empty(cap)
    rows_label = np.empty(cap, dtype=np.int8)
    rows_az = np.empty(cap)
    rows_temp = np.empty(cap)
    rows_ws = np.empty(cap)
    rows_wd = np.empty(cap)
    rids: list[str] = []
    nan = float("nan")
    n = 0
    for rep in reports:
        if rep.get("kind") != "acoustic":
            continue
        sid = rep.get("sensor")
        k = index.get(sid)
        if k is None:
            sensor = registry.get(sid)
            if sensor is None or sget(sensor, "lat") is None or sget(sensor, "lon") is None:
                continue
            k = index[sid] = len(a_ids)
            a_ids.append(sid)
        body = rep.get("body") or {}
        rows_arr[n] = k
        rows_t[n] = parse_time(rep["time"])
        rows_label[n] = LABELS.get(body.get("class"), 2)
        az = body.get("azimuth_deg")
        rows_az[n] = float(az) if az is not None else nan
        temp = body.get("air_temp_c")
        rows_temp[n] = float(temp) if temp is not None else nan
        ws, wd = body.get("wind_speed_mps"), body.get("wind_from_deg")
        if ws is not None and wd is not None:
            rows_ws[n] = float(ws)
            rows_wd[n] = float(wd)
        else:
            rows_ws[n] = nan
            rows_wd[n] = nan
        rids.append(rep["id"])
        n += 1
    rows_arr, rows_t, rows_label, rows_az = rows_arr[:n], rows_t[:n], rows_label[:n], rows_az[:n]
    rows_temp, rows_ws, rows_wd = rows_temp[:n], rows_ws[:n], rows_wd[:n]
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
    t = np.array(rows_t, dtype=float)
    t_ref = float(np.floor(t.min())) if t.size else 0.0
    ws = np.array(rows_ws, dtype=float)
    wx, wy = wind_vector(ws, np.array(rows_wd, dtype=float))
    temp = np.array(rows_temp, dtype=float)
    has_T = np.isfinite(temp)
    if missing_temp == "default":
        temp = np.where(has_T, temp, DEFAULT_TEMP_C)
        temp_var = np.where(has_T, 0.0, 0.3**2)
    else:
        temp, temp_var = fill_temperature(arrays, np.array(rows_arr, dtype=np.int64), t, temp)
    dets = Detections(
        arr=np.array(rows_arr, dtype=np.int32),
        t=t - t_ref,
        label=np.array(rows_label, dtype=np.int8),
        az=np.radians(np.array(rows_az, dtype=float)),
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
