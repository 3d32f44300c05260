"""`simulate()`: ground truth -> sensing -> ordered, signed report lines + truth.json."""

from __future__ import annotations

import multiprocessing as mp
import os
import time as _time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from truceline.errors import InputError
from truceline.formats import format_time, parse_time
from truceline.sim import observe as ob
from truceline.sim import render as rd
from truceline.sim.atmosphere import Atmosphere
from truceline.sim.config import SimConfig
from truceline.sim.network import K_AC, K_MON, K_RADAR, K_SAT, K_UAV, KINDS, Network, build_network
from truceline.sim.truth import WEAPONS, Truth, generate_fires, generate_truth
from truceline.sim.world import load_profile_view, load_world, month_of

TRUTH_FORMAT = "truceline-sim-truth/1"
DEFAULT_START = "2026-01-06T00:00:00Z"
KEYS_FILE = "sensor_keys.SECRET.json"


@dataclass
class Scenario:
    """A simulated scenario. `lines` holds the raw report lines when kept in memory
    (no `out_dir`, or `keep_lines=True`); otherwise read `out_dir/reports.jsonl`."""

    sensors: list[dict[str, Any]]
    truth: dict[str, Any]
    keys: dict[str, str]                       # sensor id -> base64 raw private key (SECRET)
    arrival: np.ndarray                        # per line: arrival (emission) epoch seconds
    out_dir: Path | None = None
    lines: list[bytes] | None = None
    atmosphere: Atmosphere | None = None
    stats: dict[str, float] = field(default_factory=dict)

    def iter_lines(self) -> Iterator[bytes]:
        if self.lines is not None:
            yield from self.lines
        elif self.out_dir is not None:
            with open(self.out_dir / "reports.jsonl", "rb") as fh:
                for line in fh:
                    yield line.rstrip(b"\n")

    @property
    def reports(self) -> Iterator[dict[str, Any] | None]:
        """Parsed report objects in file order (None for lines that are not JSON objects)."""
        for line in self.iter_lines():
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield None
                continue
            yield obj if isinstance(obj, dict) else None


def _start_epoch(start: str | float | datetime | None, prof_start: float | None) -> float:
    if start is None:
        return prof_start if prof_start is not None else parse_time(DEFAULT_START)
    if isinstance(start, datetime):
        return (start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp()
    if isinstance(start, int | float):
        return float(start)
    try:
        return parse_time(start)
    except ValueError as exc:
        raise InputError(f"--start: {exc}") from None


def simulate(territory: str | Path | None = None, profile: str | Path | None = None, hours: float = 2.0,
             seed: int = 0, intensity: float = 1.0, start: str | float | datetime | None = None,
             out_dir: str | Path | None = None, *, config: SimConfig | None = None, workers: int | None = None,
             keep_lines: bool | None = None, progress: Callable[[str, float], None] | None = None) -> Scenario:
    """Simulate `hours` of ceasefire along the territory's line of contact.

    Deterministic for a given (territory, profile, hours, seed, intensity, start, config):
    the files are byte-identical whatever `workers` is. Writes `sensors.json`,
    `reports.jsonl`, `truth.json` and `sensor_keys.SECRET.json` when `out_dir` is given.
    """
    if hours <= 0 or not np.isfinite(hours):
        raise InputError(f"--hours must be positive, got {hours}")
    if intensity < 0 or not np.isfinite(intensity):
        raise InputError(f"--intensity must be >= 0, got {intensity}")
    cfg = config or SimConfig()
    tick = _time.perf_counter()
    stats: dict[str, float] = {}

    def step(name: str, frac: float) -> None:
        nonlocal tick
        now = _time.perf_counter()
        stats[name] = round(now - tick, 3)
        tick = now
        if progress:
            progress(name, frac)

    world = load_world(territory)
    prof = load_profile_view(profile)
    if profile is not None and prof.parties and set(prof.parties) != set(world.parties):
        raise InputError(f"profile parties {prof.parties} differ from territory parties {world.parties}")
    t0 = _start_epoch(start, prof.ceasefire_start)
    rng = np.random.default_rng([seed, 7])
    step("world", 0.05)
    net = build_network(world, cfg, np.random.default_rng([seed, 1]), seed)
    parts = sorted({s[0] for s in net.sector if s is not None})
    lon0, lat0 = float(np.nanmean(net.lon)), float(np.nanmean(net.lat))
    atm = Atmosphere.random(np.random.default_rng([seed, 2]), lon0, lat0, t0, month_of(t0))
    tr = generate_truth(world, prof, cfg, np.random.default_rng([seed, 3]), t0, hours, intensity, parts)
    generate_fires(world, cfg, np.random.default_rng([seed, 4]), tr, intensity, parts)
    step("truth", 0.15)
    tables = {
        K_AC: ob.acoustic(net, tr, atm, cfg, np.random.default_rng([seed, 10]), intensity),
        K_RADAR: ob.radar(net, tr, cfg, np.random.default_rng([seed, 11]), intensity),
        K_UAV: ob.uav(world, net, tr, cfg, np.random.default_rng([seed, 12])),
        K_SAT: ob.satellite(net, tr, cfg, np.random.default_rng([seed, 13])),
        K_MON: ob.monitor(world, net, tr, cfg, np.random.default_rng([seed, 14]), parts),
    }
    step("physics", 0.35)
    rows, plan, bad = _plan(net, tables, cfg, rng)
    step("plan", 0.4)

    from truceline.formats import b64encode

    keys = [rd.sodium_key(k) for k in net.key_seeds]
    renderer = rd.Renderer(net.ids, keys, tables, rows, plan, seed)
    out = Path(out_dir) if out_dir is not None else None
    keep = (out is None) if keep_lines is None else keep_lines
    n_lines = len(plan["type"])
    lines: list[bytes] | None = [] if keep else None
    sink = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        sink = open(out / "reports.jsonl", "wb")  # noqa: SIM115 - closed below
    try:
        for chunk in _render_all(renderer, n_lines, workers):
            if sink is not None:
                sink.write(chunk)
            if lines is not None:
                lines.extend(chunk.split(b"\n")[:-1])
            if progress:
                progress("sign", 0.4 + 0.5 * (len(lines or []) / max(n_lines, 1)))
    finally:
        if sink is not None:
            sink.close()
    step("sign+write", 0.9)
    sensors = net.registry(cfg)
    truth = _truth(world, prof, cfg, net, tr, tables, rows, plan, bad, atm,
                   dict(seed=seed, hours=hours, intensity=intensity, start=format_time(t0),
                        end=format_time(tr.t1)))
    keys_b64 = {sid: b64encode(k) for sid, k in zip(net.ids, net.key_seeds, strict=True)}
    if out is not None:
        (out / "sensors.json").write_bytes(orjson.dumps(sensors, option=orjson.OPT_INDENT_2) + b"\n")
        (out / "truth.json").write_bytes(orjson.dumps(truth) + b"\n")
        kp = out / KEYS_FILE
        kp.write_bytes(orjson.dumps({
            "WARNING": "SECRET: Ed25519 private keys of the simulated sensors. Anyone holding this file can "
                       "forge reports. Never publish it or load it into the evidence log.",
            "secret": True, "format": "raw 32-byte Ed25519 private key, standard base64",
            "keys": keys_b64}, option=orjson.OPT_INDENT_2) + b"\n")
        os.chmod(kp, 0o600)
    step("truth.json", 1.0)
    arrival = plan["arrival"]
    return Scenario(sensors, truth, keys_b64, arrival, out, lines, atm, stats)


CHUNK = 10000  # lines per signing task


def _render_all(renderer: rd.Renderer, n: int, workers: int | None) -> Iterator[bytes]:
    chunk = CHUNK
    bounds = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    w = workers if workers is not None else (os.cpu_count() or 1)
    if w <= 1 or n < 3 * chunk or "fork" not in mp.get_all_start_methods():
        rd._init(renderer)
        for b in bounds:
            yield rd.render_chunk(b)
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(w, initializer=rd._init, initargs=(renderer,)) as pool:
        yield from pool.imap(rd.render_chunk, bounds, chunksize=1)


def _plan(net: Network, tables: dict[int, dict[str, np.ndarray]], cfg: SimConfig,
          rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Global rows (seq, ids), arrival order, and the injected bad input."""
    kinds, kidx = [], []
    cols: dict[str, list] = {k: [] for k in ("sensor", "t", "tmade", "lat_s", "src", "sidx")}
    for k in (K_AC, K_RADAR, K_UAV, K_SAT, K_MON):
        tab = tables[k]
        n = len(tab["t"])
        kinds.append(np.full(n, k, np.int8))
        kidx.append(np.arange(n))
        for c in cols:
            cols[c].append(np.asarray(tab[c]))
    R = {c: np.concatenate(v) for c, v in cols.items()}
    R["kind"] = np.concatenate(kinds)
    R["kidx"] = np.concatenate(kidx)
    N = len(R["t"])
    # seq: per sensor, in the order the sensor made its reports
    o = np.lexsort((R["kidx"], R["tmade"], R["sensor"]))
    s_sorted = R["sensor"][o]
    first = np.searchsorted(s_sorted, s_sorted, side="left")
    seq = np.empty(N, np.int64)
    seq[o] = net.seq0[s_sorted] + (np.arange(N) - first)
    R["seq"] = seq
    # ids: unique 64-bit random hex (plus fresh ones for bad records)
    n_bad = int(rng.binomial(N, min(max(cfg.bad_share, 0.0), 0.5))) if N else 0
    raw = np.unique(rng.integers(0, 2**63, N + n_bad + 64, dtype=np.int64))
    raw = rng.permutation(raw)[: N + n_bad]
    hexes = np.char.zfill(np.char.mod("%x", raw), 16)
    R["id"] = hexes[:N]
    fresh = hexes[N:]
    arrival = R["tmade"] + R["lat_s"]
    order = np.lexsort((R["kidx"], R["kind"], arrival))          # line order of normal rows
    pos = np.empty(N, np.int64)
    pos[order] = np.arange(N)
    # bad records, each placed after the normal line it is derived from
    names = [k for k in rd.BAD_NAMES[1:] if cfg.bad_mix.get(k, 0.0) > 0]
    if n_bad and names and N:
        w = np.array([cfg.bad_mix[k] for k in names], float)
        btype = np.array([rd.BAD_NAMES.index(k) for k in names])[rng.choice(len(names), n_bad, p=w / w.sum())]
        donor_pos = rng.integers(0, N, n_bad)
        after = np.minimum(donor_pos + rng.integers(0, 2000, n_bad), N - 1)
        donor = order[donor_pos]
        variant = rng.integers(0, 6, n_bad)
        aux = rng.integers(0, 2**31, n_bad)
        kind_of_sensor = net.kind
        for j in np.flatnonzero((btype == rd.UNKNOWN_SENSOR) & (variant % 2 == 1)):
            other = np.flatnonzero(kind_of_sensor != R["kind"][donor[j]])
            aux[j] = other[aux[j] % len(other)]
        for j in np.flatnonzero(btype == rd.BAD_SIGNATURE):
            other = np.flatnonzero(np.arange(len(net.ids)) != R["sensor"][donor[j]])
            aux[j] = other[aux[j] % len(other)]
        variant = np.where(btype == rd.UNKNOWN_SENSOR, variant % 2, variant)
        variant = np.where(btype == rd.BAD_SIGNATURE, variant % 3, variant)
        bid = np.where(np.isin(btype, [rd.MALFORMED, rd.BLANK]), "", fresh[:n_bad])
        bid = np.where(np.isin(btype, [rd.CONFLICT, rd.DUPLICATE]), R["id"][donor], bid)
    else:
        btype = donor = after = variant = aux = np.zeros(0, np.int64)
        bid = np.zeros(0, "U16")
    key = np.concatenate([2 * np.arange(N), 2 * after + 1])
    tie = np.concatenate([np.zeros(N), np.arange(1, len(btype) + 1)])
    line_order = np.lexsort((tie, key))
    ptype = np.concatenate([np.zeros(N, np.int64), btype])[line_order]
    prow = np.concatenate([order, donor]).astype(np.int64)[line_order]
    pid = np.concatenate([R["id"][order], bid])[line_order]
    pvar = np.concatenate([np.zeros(N, np.int64), variant])[line_order]
    paux = np.concatenate([np.zeros(N, np.int64), aux])[line_order]
    arr_sorted = arrival[order]
    parr = np.concatenate([arr_sorted, arr_sorted[after] if len(btype) else np.zeros(0)])[line_order]
    plan = {"type": ptype, "row": prow, "id": pid, "variant": pvar, "aux": paux, "arrival": parr}
    R["line"] = np.empty(N, np.int64)
    normal = np.flatnonzero(ptype == rd.NORMAL)
    R["line"][prow[normal]] = normal + 1
    return R, plan, {"normal_lines": normal}


def _group_ids(R: dict[str, np.ndarray], src_codes: list[int], n: int,
               extra: list[tuple[np.ndarray, np.ndarray]] | None = None) -> list[list[str]]:
    """For truth rows 0..n-1: ids of the reports whose (src, sidx) point at them."""
    sel = np.flatnonzero(np.isin(R["src"], src_codes))
    idx, ids, when = R["sidx"][sel], R["id"][sel], R["t"][sel]
    if extra:
        idx = np.concatenate([idx] + [e[0] for e in extra])
        ids = np.concatenate([ids] + [e[1] for e in extra])
        when = np.concatenate([when] + [np.zeros(len(e[0])) for e in extra])
    o = np.lexsort((ids, when, idx))
    idx, ids = idx[o], ids[o].tolist()
    cuts = np.searchsorted(idx, np.arange(n + 1))
    return [ids[cuts[i]:cuts[i + 1]] for i in range(n)]


def _r(x: np.ndarray, d: int) -> list[float]:
    return np.round(np.asarray(x, float), d).tolist()


def _truth(world, prof, cfg, net: Network, tr: Truth, tables, R, plan, bad, atm: Atmosphere,
           scenario: dict[str, Any]) -> dict[str, Any]:
    L, OB, X, F = tr.launch, tr.obj, tr.other, tr.fire
    nL = len(L["t"])
    radar_rows = R["kind"] == K_RADAR
    mon = R["kind"] == K_MON
    # launches: acoustic launch detections + radar tracks; impacts: acoustic + radar + monitor
    launch_ids = _group_ids(R, [ob.SRC_LAUNCH, ob.SRC_RADAR], nL)
    impact_ids = _group_ids(R, [ob.SRC_IMPACT, ob.SRC_RADAR], nL)
    tl = format_time
    launches, impacts = [], []
    lt, it = rd.times_text(L["t"]), rd.times_text(L["it"])
    llat, llon, ilat, ilon = _r(L["lat"], 7), _r(L["lon"], 7), _r(L["ilat"], 7), _r(L["ilon"], 7)
    dl, di = _r(L["dist_line"], 1), _r(L["idist_line"], 1)
    for i in range(nL):
        launches.append({"id": f"L{i + 1:06d}", "mission": f"M{int(L['mission'][i]) + 1:05d}",
                         "party": str(L["party"][i]), "weapon": WEAPONS[int(L["weapon"][i])],
                         "caliber_mm": int(L["caliber"][i]), "lat": llat[i], "lon": llon[i], "time": lt[i],
                         "distance_to_line_m": dl[i], "impact": f"I{i + 1:06d}", "reports": launch_ids[i]})
        impacts.append({"id": f"I{i + 1:06d}", "launch": f"L{i + 1:06d}", "fired_by": str(L["party"][i]),
                        "lat": ilat[i], "lon": ilon[i], "time": it[i], "territory": str(L["iparty"][i]),
                        "distance_to_line_m": di[i], "range_m": round(float(L["range"][i]), 1),
                        "reports": impact_ids[i]})
    nO = len(OB["on"])
    obj_ids = _group_ids(R, [ob.SRC_OBJECT], nO)
    weapon_objects, buffer_presences = [], []
    olat, olon, od = _r(OB["lat"], 7), _r(OB["lon"], 7), _r(OB["dist_line"], 1)
    for i in range(nO):
        d = {"id": f"{'B' if OB['buffer'][i] else 'W'}{i + 1:06d}", "party": str(OB["party"][i]),
             "class": str(OB["cls"][i]), "count": int(OB["count"][i]), "lat": olat[i], "lon": olon[i],
             "from": tl(float(OB["on"][i])), "until": tl(float(OB["off"][i])), "distance_to_line_m": od[i],
             "stands_in": str(OB["stands_in"][i])}
        if OB["caliber"][i] > 0:
            d["caliber_mm"] = int(OB["caliber"][i])
        if OB["buffer"][i]:
            d["across_line"] = bool(OB["across"][i])
            d["reports"] = obj_ids[i]
            buffer_presences.append(d)
        else:
            d["exclusion_distance_m"] = round(float(OB["excl"][i]), 1)
            d["in_exclusion_zone"] = bool(OB["in_excl"][i])
            d["reports"] = obj_ids[i]
            weapon_objects.append(d)
    nF = len(F["start"])
    fire_ids = _group_ids(R, [ob.SRC_FIRE], nF)
    fires = [{"id": f"F{i + 1:05d}", "cause": str(F["cause"][i]),
              "impact": f"I{int(F['launch'][i]) + 1:06d}" if F["launch"][i] >= 0 else None,
              "lat": round(float(F["lat"][i]), 7), "lon": round(float(F["lon"][i]), 7),
              "start": tl(max(float(F["start"][i]), tr.t0 - 86400.0)),
              "end": tl(min(float(F["end"][i]), tr.t1 + 86400.0)), "frp_mw": round(float(F["frp"][i]), 2),
              "reports": fire_ids[i]} for i in range(nF)]
    false_alarms = []
    other_ids = _group_ids(R, [ob.SRC_OTHER], len(X["t"]))
    for i in range(len(X["t"])):
        false_alarms.append({"id": f"X{i + 1:05d}", "kind": "explosion_other", "cause": str(X["kind"][i]),
                             "lat": round(float(X["lat"][i]), 7), "lon": round(float(X["lon"][i]), 7),
                             "time": tl(float(X["t"][i])), "reports": other_ids[i]})
    for code, kind in ((ob.SRC_CLUTTER, "acoustic_clutter"), (ob.SRC_RADAR_FALSE, "radar_false_track"),
                       (ob.SRC_UAV_FALSE, "uav_false_sighting")):
        sel = np.flatnonzero(R["src"] == code)
        sel = sel[np.argsort(R["t"][sel], kind="stable")]
        times = rd.times_text(R["t"][sel])
        sids = R["sensor"][sel].tolist()
        rids = R["id"][sel].tolist()
        prefix = kind[:2].upper()
        false_alarms.extend({"id": f"{prefix}{j + 1:06d}", "kind": kind, "sensor": net.ids[sids[j]],
                             "time": times[j], "reports": [rids[j]]} for j in range(len(sel)))
    monitors = []
    for r in np.flatnonzero(mon).tolist():
        s, k = int(R["src"][r]), int(R["sidx"][r])
        ref = (f"I{k + 1:06d}" if s == ob.SRC_IMPACT else
               (f"{'B' if OB['buffer'][k] else 'W'}{k + 1:06d}" if s == ob.SRC_OBJECT else None))
        monitors.append({"report": str(R["id"][r]), "category": str(tables[K_MON]["cat"][R["kidx"][r]]),
                         "refers_to": ref})
    # bad input as a correct ingest must see it
    P = plan
    bad_records, duplicates = [], []
    reason_detail = {
        rd.MALFORMED: "line is not a JSON object", rd.SCHEMA: "required field missing, wrong type or out of range",
        rd.UNKNOWN_SENSOR: "sensor not in registry or kind differs", rd.BAD_SIGNATURE: "signature does not verify",
        rd.CONFLICT: "id already accepted with different content",
        rd.REPLAY: "(sensor, seq) already accepted under another id"}
    variants = {rd.MALFORMED: ("truncated", "not_json", "json_array", "json_string"),
                rd.SCHEMA: ("missing_time", "negative_seq", "unparsable_time", "sig_not_base64", "lat_out_of_range",
                            "missing_body"),
                rd.UNKNOWN_SENSOR: ("unregistered_sensor", "kind_differs"),
                rd.BAD_SIGNATURE: ("altered_after_signing", "wrong_key", "random_signature")}
    for line in np.flatnonzero(P["type"] != rd.NORMAL).tolist():
        t = int(P["type"][line])
        if t == rd.BLANK:
            continue
        if t == rd.DUPLICATE:
            duplicates.append({"line": line + 1, "id": str(P["id"][line]),
                               "original_line": int(R["line"][P["row"][line]])})
            continue
        v = int(P["variant"][line])
        if t == rd.SCHEMA and v == 4 and int(R["kind"][P["row"][line]]) in (K_AC, K_RADAR):
            v = 5
        rid = None if t == rd.MALFORMED else str(P["id"][line])
        rec = {"line": line + 1, "id": rid, "reason": rd.BAD_NAMES[t], "detail": reason_detail[t],
               "variant": variants[t][v % len(variants[t])] if t in variants else rd.BAD_NAMES[t]}
        if t in (rd.CONFLICT, rd.REPLAY):
            rec["original_line"] = int(R["line"][P["row"][line]])
        bad_records.append(rec)
    blank_lines = (np.flatnonzero(P["type"] == rd.BLANK) + 1).tolist()
    # out-of-order arrivals among accepted reports (not an error)
    nl = bad["normal_lines"]
    rows = P["row"][nl]
    sens = R["sensor"][rows]
    o = np.lexsort((nl, sens))
    big = int(R["seq"].max()) + 1 if len(R["seq"]) else 1
    key = sens[o].astype(np.int64) * big + R["seq"][rows[o]]
    cm = np.maximum.accumulate(key)
    late = np.zeros(len(o), bool)
    late[1:] = key[1:] < cm[:-1]
    late_rows = o[late]
    out_of_order = [{"line": int(nl[j]) + 1, "id": str(R["id"][rows[j]])} for j in np.sort(late_rows).tolist()]
    ac = tables[K_AC]
    outliers = R["id"][(R["kind"] == K_AC) & np.isin(R["kidx"], np.flatnonzero(ac["outlier"]))].tolist()
    counts = {"lines": int(len(P["type"])), "reports": int(len(R["t"])),
              "reports_by_kind": {KINDS[k]: int((R["kind"] == k).sum()) for k in range(5)},
              "launches": nL, "weapon_objects": len(weapon_objects), "buffer_presences": len(buffer_presences),
              "fires": nF, "false_alarms": len(false_alarms), "bad_records": len(bad_records),
              "duplicates": len(duplicates), "blank_lines": len(blank_lines), "out_of_order": len(out_of_order),
              "radar_tracks_of_launches": int((radar_rows & (R["src"] == ob.SRC_RADAR)).sum())}
    return {
        "format": TRUTH_FORMAT,
        "scenario": {**scenario, "territory": world.describe(), "profile": {"source": prof.source,
                     "buffer_zone_km": prof.buffer_zone_km}, "config": cfg.to_dict()},
        "atmosphere": {"model": "truceline.sim.atmosphere.Atmosphere (see docs/sim.md)", **atm.params()},
        "counts": counts,
        "launches": launches, "impacts": impacts, "weapon_objects": weapon_objects,
        "buffer_presences": buffer_presences, "fires": fires, "false_alarms": false_alarms,
        "monitor_reports": monitors, "acoustic_outliers": outliers,
        "bad_records": bad_records, "duplicates": duplicates, "blank_lines": blank_lines,
        "out_of_order": out_of_order,
    }
