"""Smooth, deterministic temperature and wind fields (space: hundreds of km, time: hours).

Both fields are sums of a few random travelling Fourier modes on a local east/north
grid (km) around the scenario's centre, plus a climatological mean and a diurnal
cycle. They are analytic, so any consumer (the simulator, the tests, an evaluator
reading `truth.json`) can recompute them exactly from the stored parameters.

Temperature (deg C):
    T = T_month - 0.6 * (lat - lat0) + A_d * cos(2*pi*(solar_hour - 15) / 24) + sum_k a_k cos(phase_k)
Wind (m/s, the vector the air moves *towards*, east/north):
    w = s0 * (sin th(t), cos th(t)) * (1 + 0.25 cos(diurnal)) + sum_k (u_k, v_k) cos(phase_k),
    th(t) = th0 + omega * t, speed then capped at 12 m/s.
with phase_k = kx*x + ky*y - w_k*t + phi_k.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Monthly mean surface temperature (deg C), eastern/southern Ukraine, rough climatology.
_T_MONTH = (-4.5, -3.5, 1.5, 9.5, 15.5, 19.5, 22.0, 21.0, 15.5, 9.0, 2.5, -2.0)
MAX_WIND = 12.0


def speed_of_sound(temp_c: np.ndarray) -> np.ndarray:
    """Spec formula: 331.3 * sqrt(1 + T / 273.15) m/s."""
    return 331.3 * np.sqrt(1.0 + np.asarray(temp_c, float) / 273.15)


class Atmosphere:
    """Analytic temperature/wind fields; `params()` round-trips through `from_params`."""

    def __init__(self, p: dict[str, Any]) -> None:
        self.p = p
        self.lon0, self.lat0, self.t0 = p["lon0"], p["lat0"], p["t0"]
        self.kx_km = math.cos(math.radians(self.lat0)) * 111.32
        self._tm = {k: np.asarray(v, float) for k, v in p["temp_modes"].items()}
        self._wm = {k: np.asarray(v, float) for k, v in p["wind_modes"].items()}

    @classmethod
    def random(cls, rng: np.random.Generator, lon0: float, lat0: float, t0: float, month: int) -> Atmosphere:
        def modes(n: int, lmin: float, lmax: float, pmin_h: float, pmax_h: float) -> dict[str, list[float]]:
            lam = rng.uniform(lmin, lmax, n)
            ang = rng.uniform(0, 2 * np.pi, n)
            k = 2 * np.pi / lam
            period = rng.uniform(pmin_h, pmax_h, n) * 3600.0
            return {
                "kx": (k * np.cos(ang)).tolist(),
                "ky": (k * np.sin(ang)).tolist(),
                "omega": (2 * np.pi / period * rng.choice([-1, 1], n)).tolist(),
                "phi": rng.uniform(0, 2 * np.pi, n).tolist(),
            }

        tm = modes(4, 250.0, 900.0, 18.0, 96.0)
        tm["amp"] = rng.uniform(0.4, 1.0, 4).tolist()
        wm = modes(5, 150.0, 700.0, 6.0, 48.0)
        wm["u"] = rng.normal(0, 1.6, 5).tolist()
        wm["v"] = rng.normal(0, 1.6, 5).tolist()
        return cls({
            "lon0": lon0, "lat0": lat0, "t0": t0,
            "temp_month_mean_c": _T_MONTH[month - 1] + float(rng.normal(0, 2.0)),
            "temp_lat_gradient_c_per_deg": -0.6,
            "temp_diurnal_amp_c": 3.0 + 3.0 * math.sin(math.pi * (month - 1) / 11.0) + float(rng.uniform(0, 1)),
            "temp_modes": tm,
            "wind_base_speed_mps": float(rng.uniform(2.0, 7.0)),
            "wind_base_towards_deg": float(rng.uniform(0, 360)),
            "wind_base_turn_deg_per_h": float(rng.normal(0, 1.5)),
            "wind_diurnal_frac": 0.25,
            "wind_modes": wm,
            "wind_max_mps": MAX_WIND,
        })

    def params(self) -> dict[str, Any]:
        return self.p

    def _xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon, float) - self.lon0) * self.kx_km, (np.asarray(lat, float) - self.lat0) * 110.57

    @staticmethod
    def _phase(m: dict[str, np.ndarray], x, y, t) -> np.ndarray:
        return (np.multiply.outer(x, m["kx"]) + np.multiply.outer(y, m["ky"])
                - np.multiply.outer(t, m["omega"]) + m["phi"])

    def _diurnal(self, lon, t) -> np.ndarray:
        solar_h = (np.asarray(t, float) / 3600.0 + np.asarray(lon, float) / 15.0) % 24.0
        return np.cos(2 * np.pi * (solar_h - 15.0) / 24.0)

    def temperature_c(self, lon, lat, t) -> np.ndarray:
        """Air temperature (deg C) at points and epoch times (arrays broadcast)."""
        lon, lat, t = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float), np.asarray(t, float))
        x, y = self._xy(lon, lat)
        p = self.p
        modes = (np.cos(self._phase(self._tm, x, y, t - self.t0)) * self._tm["amp"]).sum(axis=-1)
        return (p["temp_month_mean_c"] + p["temp_lat_gradient_c_per_deg"] * (lat - self.lat0)
                + p["temp_diurnal_amp_c"] * self._diurnal(lon, t) + modes)

    def wind_en(self, lon, lat, t) -> tuple[np.ndarray, np.ndarray]:
        """Wind vector (east, north) in m/s: the direction the air moves towards."""
        lon, lat, t = np.broadcast_arrays(np.asarray(lon, float), np.asarray(lat, float), np.asarray(t, float))
        x, y = self._xy(lon, lat)
        p = self.p
        dt = t - self.t0
        th = np.radians(p["wind_base_towards_deg"] + p["wind_base_turn_deg_per_h"] * dt / 3600.0)
        s = p["wind_base_speed_mps"] * (1.0 + p["wind_diurnal_frac"] * self._diurnal(lon, t))
        c = np.cos(self._phase(self._wm, x, y, dt))
        u = s * np.sin(th) + (c * self._wm["u"]).sum(axis=-1)
        v = s * np.cos(th) + (c * self._wm["v"]).sum(axis=-1)
        sp = np.hypot(u, v)
        f = np.where(sp > p["wind_max_mps"], p["wind_max_mps"] / np.maximum(sp, 1e-9), 1.0)
        return u * f, v * f

    def wind_speed_from(self, lon, lat, t) -> tuple[np.ndarray, np.ndarray]:
        """(speed m/s, meteorological 'from' direction deg) of the wind."""
        u, v = self.wind_en(lon, lat, t)
        return np.hypot(u, v), np.mod(np.degrees(np.arctan2(u, v)) + 180.0, 360.0)

    def effective_speed(self, lon, lat, t, prop_az_deg) -> np.ndarray:
        """c(T) + w.u at the array for sound propagating along azimuth `prop_az_deg`."""
        u, v = self.wind_en(lon, lat, t)
        a = np.radians(prop_az_deg)
        return speed_of_sound(self.temperature_c(lon, lat, t)) + u * np.sin(a) + v * np.cos(a)
