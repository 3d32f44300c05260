"""Independent, small synthetic scenario generator for the analysis tests.

Deliberately unlike the project simulator: random array layouts (uniform or jittered
grid, any region), its own noise levels, a smooth wind field that drifts in time, arrays
with or without wind sensors and azimuths, false and mislabelled detections, reports
shuffled, report ids random. Produces spec-shaped report dicts (optionally signed) plus a
ground truth of acoustic sources (and shots linking launch and impact).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from truceline import formats
from truceline.analysis import geodesy
from truceline.analysis.acoustic import sound_speed


@dataclass
class Scenario:
    sensors: list[dict]
    reports: list[dict]
    truth: list[dict]  # acoustic sources: {kind, lon, lat, t0, shot, arrays:[ids], report_ids}
    shots: list[dict] = field(default_factory=list)
    keys: dict = field(default_factory=dict)
    t_start: float = 0.0


def _rid(rng) -> str:
    return hashlib.sha1(rng.bytes(16)).hexdigest()[:20]


def make_scenario(
    seed: int = 0,
    n_arrays: int = 12,
    n_shots: int = 40,
    duration_s: float = 3600.0,
    extent_m: float = 40000.0,
    lon0: float = 36.2,
    lat0: float = 47.6,
    layout: str = "random",
    timing_sigma: tuple[float, float] = (0.003, 0.012),
    azimuth_fraction: float = 0.5,
    azimuth_sigma: tuple[float, float] = (2.0, 5.0),
    wind_fraction: float = 0.3,
    wind_mean: tuple[float, float] = (6.0, -3.0),
    wind_gradient: float = 0.6,
    detect_range_m: float = 30000.0,
    p_detect: float = 0.9,
    false_rate_per_array_h: float = 5.0,
    p_mislabel: float = 0.1,
    temp_c: float = 3.0,
    radar_fraction: float = 0.0,
    uav_objects: int = 0,
    sign: bool = False,
    t_start: float = 1767657600.0,  # 2026-01-06T00:00:00Z
    salvo_rounds: int = 1,
    salvo_interval_s: tuple[float, float] = (0.5, 2.0),
    salvo_impact_spread_m: float = 200.0,
) -> Scenario:
    rng = np.random.default_rng(seed)
    # --- arrays -------------------------------------------------------------------------
    if layout == "grid":
        side = int(np.ceil(np.sqrt(n_arrays)))
        g = (np.arange(side) + 0.5) / side * extent_m - extent_m / 2
        gx, gy = np.meshgrid(g, g)
        ae = gx.ravel()[:n_arrays] + rng.normal(0, extent_m / side * 0.15, n_arrays)
        an = gy.ravel()[:n_arrays] + rng.normal(0, extent_m / side * 0.15, n_arrays)
    else:
        ae = rng.uniform(-extent_m / 2, extent_m / 2, n_arrays)
        an = rng.uniform(-extent_m / 2, extent_m / 2, n_arrays)
    alon, alat = geodesy.from_local(lon0, lat0, ae, an)
    keys = {}
    sensors = []
    ts = rng.uniform(*timing_sigma, n_arrays)
    has_az = rng.random(n_arrays) < azimuth_fraction
    azs = rng.uniform(*azimuth_sigma, n_arrays)
    has_w = rng.random(n_arrays) < wind_fraction
    ws_s, ws_d = rng.uniform(0.3, 1.0, n_arrays), rng.uniform(5.0, 15.0, n_arrays)
    ids = [f"{rng.choice(['mic', 'A', 'station'])}{_rid(rng)[:6]}" for _ in range(n_arrays)]

    def add_sensor(sid, kind, extra):
        k = formats.new_private_key()
        keys[sid] = k
        sensors.append({"id": sid, "kind": kind, "public_key": formats.public_key_b64(k), **extra})

    for i in range(n_arrays):
        ex = {"lat": float(alat[i]), "lon": float(alon[i]), "alt": 0.0, "timing_sigma_s": float(ts[i])}
        if has_az[i]:
            ex["azimuth_sigma_deg"] = float(azs[i])
        if has_w[i]:
            ex["wind_sigma_mps"] = float(ws_s[i])
            ex["wind_sigma_deg"] = float(ws_d[i])
        add_sensor(ids[i], "acoustic", ex)

    def wind_at(e, n, t):
        ph = 2 * np.pi * t / 86400.0
        wx = wind_mean[0] + wind_gradient * (e / 20000.0) + 1.5 * np.sin(ph)
        wy = wind_mean[1] + wind_gradient * (n / 20000.0) * 0.5 + 1.5 * np.cos(ph)
        return wx, wy

    seqs = {sid: int(rng.integers(0, 1000)) for sid in ids}
    reports: list[dict] = []
    truth: list[dict] = []
    shots: list[dict] = []

    def emit(sid, kind, t, body):
        seqs[sid] = seqs.get(sid, 0) + 1
        rep = {"id": _rid(rng), "sensor": sid, "kind": kind, "seq": seqs[sid], "time": formats.format_time(t), "body": body}
        reports.append(rep)
        return rep

    def hear(se, sn, t0, kind, shot_no):
        le, ln, _ = geodesy.to_local(*geodesy.from_local(lon0, lat0, se, sn), alon, alat)
        d = np.hypot(le, ln)
        u = np.stack([le, ln]) / np.maximum(d, 1)
        wx, wy = wind_at(ae, an, t0)
        temps = np.round(temp_c + rng.normal(0, 0.5, n_arrays), 1)  # what each array reports
        v = sound_speed(temps) + wx * u[0] + wy * u[1]
        p = p_detect * (d < detect_range_m)
        heard = rng.random(n_arrays) < p
        rec = {"kind": kind, "shot": shot_no, "t0": t0, "arrays": [], "report_ids": []}
        slon, slat = geodesy.from_local(lon0, lat0, se, sn)
        rec["lon"], rec["lat"] = float(slon), float(slat)
        # bearing at the array towards the source
        _, az21, _ = geodesy.inverse(np.full(n_arrays, slon), np.full(n_arrays, slat), alon, alat)
        for i in np.nonzero(heard)[0]:
            t = t0 + d[i] / v[i] + rng.normal(0, ts[i])
            label = kind if rng.random() > p_mislabel else str(rng.choice(["unknown", "launch" if kind == "impact" else "impact"]))
            body = {"class": label, "air_temp_c": float(temps[i]), "snr_db": round(float(rng.uniform(8, 35)), 1)}
            if has_az[i]:
                body["azimuth_deg"] = round(float((az21[i] + rng.normal(0, azs[i])) % 360.0), 3)
            if has_w[i]:
                spd = np.hypot(wx[i], wy[i])
                frm = np.degrees(np.arctan2(-wx[i], -wy[i])) % 360
                body["wind_speed_mps"] = round(float(max(0.0, spd + rng.normal(0, ws_s[i]))), 2)
                body["wind_from_deg"] = round(float((frm + rng.normal(0, ws_d[i])) % 360), 1)
            rep = emit(ids[i], "acoustic", t, body)
            rec["arrays"].append(ids[i])
            rec["report_ids"].append(rep["id"])
        truth.append(rec)

    radar_id = None
    if radar_fraction > 0:
        radar_id = f"r{_rid(rng)[:5]}"
        add_sensor(radar_id, "radar", {"lat": float(lat0), "lon": float(lon0), "alt": 0.0})
    for s in range(n_shots):
        t0 = rng.uniform(0, duration_s) + t_start
        le, ln = rng.uniform(-extent_m / 2, extent_m / 2, 2)
        rng_m = rng.uniform(2000, 15000)
        ang = rng.uniform(0, 2 * np.pi)
        ie, inn = le + rng_m * np.sin(ang), ln + rng_m * np.cos(ang)
        tof = rng_m / rng.uniform(150, 400)
        if salvo_rounds > 1:  # a multiple rocket launcher: rounds seconds apart from one spot
            t_r = t0
            for _r in range(salvo_rounds):
                de, dn = rng.normal(0.0, 3.0, 2)
                hear(le + de, ln + dn, t_r, "launch", s)
                ie_r, in_r = ie + rng.normal(0.0, salvo_impact_spread_m), inn + rng.normal(0.0, salvo_impact_spread_m)
                hear(ie_r, in_r, t_r + tof * (1.0 + rng.normal(0.0, 0.01)), "impact", s)
                t_r += rng.uniform(*salvo_interval_s)
        else:
            hear(le, ln, t0, "launch", s)
            hear(ie, inn, t0 + tof, "impact", s)
        llon, llat = geodesy.from_local(lon0, lat0, le, ln)
        ilon, ilat = geodesy.from_local(lon0, lat0, ie, inn)
        shot = {"shot": s, "launch": (float(llon), float(llat), t0), "impact": (float(ilon), float(ilat), t0 + tof)}
        if radar_id and rng.random() < radar_fraction:
            def noisy(lon, lat, sd):
                cov = np.array([[sd**2, 0.3 * sd**2], [0.3 * sd**2, (1.2 * sd) ** 2]])
                e, n = rng.multivariate_normal([0, 0], cov)
                lo, la = geodesy.from_local(lon, lat, e, n)
                return {"lat": float(la), "lon": float(lo), "cov_en_m2": [[float(cov[0, 0]), float(cov[0, 1])], [float(cov[1, 0]), float(cov[1, 1])]]}
            body = {"launch": noisy(llon, llat, 35.0), "impact": noisy(ilon, ilat, 60.0),
                    "launch_time": formats.format_time(t0 + rng.normal(0, 0.05)),
                    "impact_time": formats.format_time(t0 + tof + rng.normal(0, 0.05)), "projectile": "shell"}
            rep = emit(radar_id, "radar", t0, body)
            shot["radar_report"] = rep["id"]
        shots.append(shot)
    # false detections
    n_false = rng.poisson(false_rate_per_array_h * duration_s / 3600.0 * n_arrays)
    for _ in range(n_false):
        i = int(rng.integers(n_arrays))
        body = {"class": str(rng.choice(["launch", "impact", "unknown"])), "air_temp_c": temp_c}
        if has_az[i]:
            body["azimuth_deg"] = float(rng.uniform(0, 360))
        emit(ids[i], "acoustic", t_start + rng.uniform(0, duration_s), body)
    # drones: objects seen repeatedly
    objects = []
    if uav_objects:
        uav_id = f"d{_rid(rng)[:5]}"
        add_sensor(uav_id, "uav", {})
        for _o in range(uav_objects):
            cls = str(rng.choice(list(formats.UAV_OBJECTS)))
            oe, on = rng.uniform(-extent_m / 2, extent_m / 2, 2)
            olon, olat = geodesy.from_local(lon0, lat0, oe, on)
            rids = []
            t = t_start + rng.uniform(0, duration_s / 2)
            for _ in range(int(rng.integers(1, 4))):
                cep = float(rng.uniform(10, 40))
                sd = cep / 1.1774
                e, n = rng.normal(0, sd, 2)
                lo, la = geodesy.from_local(olon, olat, e, n)
                rep = emit(uav_id, "uav", t, {"lat": float(la), "lon": float(lo), "cep_m": cep, "object": cls})
                rids.append(rep["id"])
                t += rng.uniform(60, 900)
            objects.append({"object": cls, "lon": float(olon), "lat": float(olat), "report_ids": rids})
    if sign:
        for rep in reports:
            rep["sig"] = formats.sign_object(rep, keys[rep["sensor"]])
    order = rng.permutation(len(reports))
    reports = [reports[i] for i in order]
    sc = Scenario(sensors=sensors, reports=reports, truth=truth, shots=shots, keys=keys, t_start=t_start)
    sc.objects = objects  # type: ignore[attr-defined]
    return sc


def score_acoustic(events, sc: Scenario, min_arrays: int = 4) -> dict:
    """Match launch/impact events to truth sources by their member reports (majority) and
    position (Mahalanobis d^2 <= 30 or error <= 200 m); returns recall over sources heard by
    >= min_arrays arrays, precision over acoustic events, coverage and errors."""
    rid2truth = {r: i for i, t in enumerate(sc.truth) for r in t["report_ids"]}
    matched: dict[int, list] = {}
    n_ev, good = 0, 0
    d2s, errs = [], []
    d2_of: dict[str, float] = {}  # Mahalanobis d^2 of each matched event from its truth
    for e in events:
        if e.type not in ("launch", "impact"):
            continue
        ids = [rid2truth[r] for r in e.reports if r in rid2truth]
        if not any(e.report_kinds.get(r) == "acoustic" for r in e.reports):
            continue
        n_ev += 1
        if not ids:
            continue
        j = max(set(ids), key=ids.count)
        tr = sc.truth[j]
        de, dn, _ = geodesy.to_local(e.lon, e.lat, tr["lon"], tr["lat"])
        v = np.array([float(de), float(dn)])
        d2 = float(v @ np.linalg.solve(np.asarray(e.cov_en_m2), v))
        err = float(np.hypot(*v))
        if d2 <= 30.0 or err <= 200.0:
            good += 1
            matched.setdefault(j, []).append(e)
            d2s.append(d2)
            d2_of[e.id] = d2
            errs.append(err)
    heard = [i for i, t in enumerate(sc.truth) if len(t["arrays"]) >= min_arrays]
    recall = float(np.mean([i in matched for i in heard])) if heard else 1.0
    d2s_a = np.array(d2s)
    return {
        "recall": recall,
        "precision": good / n_ev if n_ev else 1.0,
        "n_events": n_ev,
        "coverage": float(np.mean(d2s_a <= 5.991)) if d2s else float("nan"),
        "rmse": float(np.sqrt(np.mean(np.square(errs)))) if errs else float("nan"),
        "duplicates": sum(len(v) - 1 for v in matched.values()),
        "matched": matched,
        "d2_of": d2_of,
    }
