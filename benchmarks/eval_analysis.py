"""Evaluate `truceline analyze` against a simulator's ground truth (truth.json, docs/sim.md).

    uv run python benchmarks/eval_analysis.py DIR            # DIR with sensors.json, reports.jsonl, truth.json
    uv run python benchmarks/eval_analysis.py --simulate --hours 24 --seed 1 [--intensity 1]

Prints, for acoustic launch/impact events: RMSE of events heard by >= 4 arrays against the
Cramer-Rao bound of the same measurement model evaluated at the true position (ratio),
95 % ellipse coverage (share of events with Mahalanobis d^2 <= 5.991), recall of launches
(and impacts) heard by >= 4 arrays, precision; and sanity counts for the other event types.
An event matches the truth source that owns most of its acoustic reports, if its position
is within d^2 <= 30 or 200 m of it (otherwise it is a false event).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _load(dirpath: Path):
    from truceline.ingest import load_registry, validate_lines

    reg = load_registry(dirpath / "sensors.json")
    lines = (dirpath / "reports.jsonl").read_bytes().splitlines()
    t = time.perf_counter()
    res = validate_lines(lines, reg)
    tv = time.perf_counter() - t
    truth = json.loads((dirpath / "truth.json").read_text())
    return reg, res, truth, tv, len(lines)


def evaluate(dirpath: Path, territory=None) -> dict:
    from truceline.analysis import analyze_reports, geodesy
    from truceline.analysis.localize import fisher_position_cov
    from truceline.formats import parse_time

    reg, res, truth, t_validate, n_lines = _load(dirpath)
    kind_of = {r["id"]: r["kind"] for r in res.accepted}
    # truth acoustic sources: launches, impacts, other explosions
    sources = []
    for role, key in (("launch", "launches"), ("impact", "impacts")):
        for x in truth[key]:
            ac = [r for r in x["reports"] if kind_of.get(r) == "acoustic"]
            w = x.get("weapon") or next((y.get("weapon") for y in truth["launches"] if y["id"] == x.get("launch")), None) \
                if role == "launch" else None
            sources.append({"role": role, "id": x["id"], "lon": x["lon"], "lat": x["lat"], "t": parse_time(x["time"]),
                            "acoustic": ac, "weapon": w})
    for x in truth["false_alarms"]:
        if x.get("kind") == "explosion_other":
            ac = [r for r in x["reports"] if kind_of.get(r) == "acoustic"]
            sources.append({"role": "other", "id": x["id"], "lon": x["lon"], "lat": x["lat"],
                            "t": parse_time(x["time"]), "acoustic": ac})
    owner = {r: i for i, s in enumerate(sources) for r in s["acoustic"]}
    stats: dict = {}
    t = time.perf_counter()
    events = analyze_reports(res.accepted, reg, territory=territory, stats=stats)
    t_analyze = time.perf_counter() - t
    by_id = {e.id: e for e in events}
    src, arrays, dets = stats.get("_acoustic", (None, None, None))
    ev_ids = stats.get("_acoustic_event_ids", [])
    # --- match events ---------------------------------------------------------------
    matched: dict[int, list[str]] = {}
    n_ac_events = 0
    false_ev = []
    match_of: dict[str, int] = {}
    false_kind: dict[str, int] = {}
    for e in events:
        if e.type not in ("launch", "impact"):
            continue
        ac = [r for r in e.reports if e.report_kinds.get(r) == "acoustic"]
        if not ac:
            continue
        n_ac_events += 1
        owners = [owner[r] for r in ac if r in owner]
        if not owners:
            false_ev.append(e.id)
            false_kind["no_truth_source"] = false_kind.get("no_truth_source", 0) + 1
            continue
        j = max(set(owners), key=owners.count)
        s = sources[j]
        de, dn, _ = geodesy.to_local(e.lon, e.lat, s["lon"], s["lat"])
        v = np.array([float(de), float(dn)])
        d2 = float(v @ np.linalg.solve(np.asarray(e.cov_en_m2), v))
        if d2 <= 30.0 or float(np.hypot(*v)) <= 200.0:
            matched.setdefault(j, []).append(e.id)
            match_of[e.id] = j
        else:
            false_ev.append(e.id)
            key = "far_from_" + (sources[j]["weapon"] or sources[j]["role"] if sources[j]["role"] == "launch"
                                 else sources[j]["role"])
            false_kind[key] = false_kind.get(key, 0) + 1
    out: dict = {"lines": n_lines, "accepted": len(res.accepted), "quarantined": len(res.quarantined),
                 "events": len(events), "validate_s": round(t_validate, 2), "analyze_s": round(t_analyze, 2),
                 # what the analysis measured of the network and the weather (docs/analysis.md)
                 "hearing_share": stats.get("hearing_share"), "wind_spread_mps": stats.get("wind_spread_mps"),
                 "wind_gradient_sigma_mps_per_km": stats.get("wind_gradient_sigma_mps_per_km")}
    for role in ("launch", "impact"):
        heard = [i for i, s in enumerate(sources) if s["role"] == role and len(s["acoustic"]) >= 4]
        out[f"recall_{role}s_4plus"] = round(float(np.mean([i in matched for i in heard])), 4) if heard else None
        out[f"n_{role}s_4plus"] = len(heard)
        if role == "launch":
            by_w: dict = {}
            for i in heard:
                by_w.setdefault(sources[i]["weapon"], []).append(i in matched)
            out["recall_launch_by_weapon"] = {str(k): (round(float(np.mean(v)), 3), len(v)) for k, v in sorted(by_w.items(), key=lambda kv: str(kv[0]))}
        typed = [by_id[matched[i][0]].type == role for i in heard if i in matched]
        out[f"type_accuracy_{role}"] = round(float(np.mean(typed)), 4) if typed else None
    out["acoustic_events"] = n_ac_events
    out["precision"] = round(1.0 - len(false_ev) / n_ac_events, 4) if n_ac_events else None
    out["duplicates"] = sum(len(v) - 1 for v in matched.values())
    out["false_events_by_cause"] = dict(sorted(false_kind.items()))
    out["matched_other_explosions"] = sum(1 for j in matched if sources[j]["role"] == "other")
    # links
    link_ok = link_bad = 0
    launch_of = {x["impact"]: x["id"] for x in truth["launches"]}
    for e in events:
        if e.type == "impact" and e.launch_event and e.id in match_of and e.launch_event in match_of:
            si, sl = sources[match_of[e.id]], sources[match_of[e.launch_event]]
            if launch_of.get(si["id"]) == sl["id"]:
                link_ok += 1
            else:
                link_bad += 1
    out["links_correct"], out["links_wrong"] = link_ok, link_bad
    # --- localization vs CRB, coverage --------------------------------------------------
    if src is not None and len(ev_ids):
        rows, truths = [], []
        for row, eid in enumerate(ev_ids):
            if eid in match_of and src.n_arrays[row] >= 4:
                rows.append(row)
                truths.append(sources[match_of[eid]])
        if rows:
            rows = np.array(rows)
            from truceline.analysis.localize import _take

            P = _take(src.problem, rows)
            P.m = src.sol.m[rows]
            tl = np.array([s["lon"] for s in truths])
            ta = np.array([s["lat"] for s in truths])
            tt = np.array([s["t"] for s in truths]) - src.t_ref
            crb = fisher_position_cov(P, tl, ta, tt, wind=src.sol.wind[rows])
            sol = src.sol
            de, dn, _ = geodesy.to_local(sol.lon[rows], sol.lat[rows], tl, ta)
            err = np.stack([de, dn], -1)
            # coverage with the published (possibly radar-fused) covariance of each event
            covs = np.array([by_id[ev_ids[r]].cov_en_m2 for r in rows])
            pos = np.array([[by_id[ev_ids[r]].lon, by_id[ev_ids[r]].lat] for r in rows])
            pe, pn, _ = geodesy.to_local(pos[:, 0], pos[:, 1], tl, ta)
            perr = np.stack([pe, pn], -1)
            d2 = np.einsum("ei,eij,ej->e", perr, np.linalg.inv(covs), perr)
            d2_ac = np.einsum("ei,eij,ej->e", err, np.linalg.inv(sol.cov[rows, :2, :2]), err)
            tr_crb = np.trace(crb, axis1=1, axis2=2)
            out["n_localized_4plus"] = int(rows.size)
            out["rmse_m"] = round(float(np.sqrt(np.mean(np.sum(err**2, 1)))), 2)
            out["crb_rms_m"] = round(float(np.sqrt(np.mean(tr_crb))), 2)
            out["rmse_over_crb"] = round(float(np.sqrt(np.mean(np.sum(err**2, 1)) / np.mean(tr_crb))), 3)
            out["median_err_m"] = round(float(np.median(np.hypot(de, dn))), 2)
            # the events that weigh most on the RMSE (one bad fit can double it)
            e2 = np.sum(err**2, 1)
            out["largest_errors"] = [
                {"event": ev_ids[rows[k]], "err_m": round(float(np.sqrt(e2[k])), 1),
                 "crb_m": round(float(np.sqrt(tr_crb[k])), 1), "n_arrays": int(src.n_arrays[rows[k]]),
                 "share_of_sq_error": round(float(e2[k] / e2.sum()), 3)}
                for k in np.argsort(-e2)[:3]]
            # per-event normalised error (robust to a few wide events dominating the means)
            out["mean_err2_over_crb"] = round(float(np.mean(np.sum(err**2, 1) / tr_crb)), 3)
            out["coverage_95"] = round(float(np.mean(d2 <= 5.991)), 4)
            out["coverage_95_acoustic_only"] = round(float(np.mean(d2_ac <= 5.991)), 4)
    # --- other event types ---------------------------------------------------------------
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    out["by_type"] = dict(sorted(counts.items()))
    out["truth_counts"] = {"launches": len(truth["launches"]), "impacts": len(truth["impacts"]),
                           "weapon_objects_seen": sum(1 for w in truth["weapon_objects"] if w["reports"]),
                           "fires_seen": sum(1 for f in truth["fires"] if f["reports"])}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", type=Path)
    ap.add_argument("--simulate", action="store_true", help="simulate first (truceline.sim) into DIR or a temp dir")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--intensity", type=float, default=1.0)
    ap.add_argument("--territory", type=Path, default=None)
    args = ap.parse_args(argv)
    d = args.dir
    if args.simulate:
        import tempfile

        from truceline.sim import simulate

        d = d or Path(tempfile.mkdtemp(prefix="truceline-eval-"))
        t = time.perf_counter()
        simulate(None, None, hours=args.hours, seed=args.seed, intensity=args.intensity, out_dir=d, keep_lines=False)
        print(f"simulated into {d} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if d is None:
        ap.error("give DIR or --simulate")
    territory = None
    if args.territory is not None:
        from truceline.geo import load_territory

        territory = load_territory(args.territory)
    res = evaluate(d, territory)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
