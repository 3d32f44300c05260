"""Evaluate attribution, abstention, calibration and withdrawal findings against simulated truth.

    uv run python benchmarks/eval_attribution.py DIR [--events DIR/events.geojson]
    uv run python benchmarks/eval_attribution.py --simulate --hours 24 --seed 1 [--intensity 1] [DIR]

DIR holds `sensors.json`, `reports.jsonl`, `truth.json` (`truceline simulate`, docs/sim.md) and,
unless `--simulate`/`--analyze` is given, `events.geojson` (`truceline analyze`, spec section 4).
With `--simulate` both commands are run first (through the CLI, exactly as a user would).

Matching is by evidence, not by position: every report id belongs to one truth entity
(`truth.json`, docs/sim.md; radar tracks to both a launch and its impact), and an event is
matched to the truth entity owning the most of its `reports` (radar ids count for the launch
when the event is a launch, for the impact when it is an impact). Figures (issue 6):

1. naming: among events with `responsible` set, the share naming the right party (launch:
   the firing party; impact: the party that fired it; weapon_sighting: the territory the
   object stands in, i.e. what the spec's attribution states). Target >= 99.5 %. Every wrong
   naming is listed with the evidence (distance to the line, 95 % ellipse, probability,
   Mahalanobis distance of the truth, sources).
2. abstention: true launches more than 2 km behind the line and heard by >= 4 acoustic arrays
   (distinct sensors among the truth's acoustic reports) whose matched launch event has
   `responsible` null. Target < 2 %.
3. calibration of launches: for every launch event with an attribution and every party,
   predicted p = attribution[party], outcome = that party fired the matched truth launch (0 for
   every party when the event is a false alarm); Brier score, 10-bin reliability table.
4. withdrawal: recall and precision of `withdrawal.*` violations on weapon sightings against
   truth objects inside their exclusion distance that drones reported. Targets >= 0.95.
5. localization coverage of launches: share of matched launch events whose 95 % ellipse
   holds the true firing position (d^2 <= 5.991), broken down by sources, arrays, weapon and
   whether the event's reports all belong to one truth launch ("clean").

Wrong namings are classified (`naming_cause`): false alarm (`false:<kind>`), type confusion,
wrong launch link, mixed association (< half of the reports from the matched source),
`outside_ellipse`, `inside_ellipse`; prefixed `fragment/` when the truth source has another,
larger event (the wrong one is a split-off piece). Diagnostics printed beside the figures:
named launches by evidence class (radar only / acoustic arrays / fit redundancy), radar-only
launches real vs false track with the number of arrays nearby, uav confidence of true and false
withdrawal findings.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CHI2_2_95 = 5.991464547107979
ROLE_OF_TYPE = {"launch": "launch", "impact": "impact", "weapon_sighting": "object"}


# --------------------------------------------------------------------------------------------
# pure matching helpers (tested in tests/test_eval_attribution.py)
# --------------------------------------------------------------------------------------------


def truth_owners(truth: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Report id -> list of (role, truth id) owning it.

    Roles: `launch`, `impact`, `object` (weapon objects), `presence` (buffer presences),
    `fire`, and `false:<kind>` for false alarms. A radar track belongs to a launch and to its
    impact; a monitor report may belong to an impact or an object.
    """
    owners: dict[str, list[tuple[str, str]]] = {}
    groups: list[tuple[str, Iterable[Mapping[str, Any]]]] = [
        ("launch", truth.get("launches", [])),
        ("impact", truth.get("impacts", [])),
        ("object", truth.get("weapon_objects", [])),
        ("presence", truth.get("buffer_presences", [])),
        ("fire", truth.get("fires", [])),
    ]
    for role, items in groups:
        for x in items:
            for r in x.get("reports", []):
                owners.setdefault(r, []).append((role, x["id"]))
    for x in truth.get("false_alarms", []):
        for r in x.get("reports", []):
            owners.setdefault(r, []).append((f"false:{x.get('kind', 'other')}", x["id"]))
    return owners


def match_event(
    event_type: str, reports: Sequence[str], owners: Mapping[str, Sequence[tuple[str, str]]]
) -> tuple[str, str, float] | None:
    """The truth entity owning most of an event's reports: (role, truth id, share of reports).

    A report owned by several entities (a radar track: launch and impact) counts only for the
    owner whose role fits the event type when there is one, otherwise for each owner. Ties go
    to the role that fits the event type, then to the smallest id (deterministic). None when no
    report of the event is in the truth.
    """
    if not reports:
        return None
    want = ROLE_OF_TYPE.get(event_type)
    votes: Counter[tuple[str, str]] = Counter()
    for r in reports:
        own = owners.get(r)
        if not own:
            continue
        fit = [o for o in own if o[0] == want]
        for o in fit or own:
            votes[o] += 1
    if not votes:
        return None
    best = min(votes.items(), key=lambda kv: (-kv[1], kv[0][0] != want, kv[0][1]))
    return best[0][0], best[0][1], best[1] / len(reports)


def expected_party(
    role: str, truth_id: str, truth_by_id: Mapping[str, Mapping[str, Any]], launch_party: Mapping[str, str]
) -> str | None:
    """The party an event matched to this truth entity should name (None: no party is right).

    launch -> the firing party; impact -> the party that fired it; object / presence -> the
    territory it stands in (the spec's meaning of a sighting's attribution); anything else
    (false alarms, fires) -> None, i.e. any naming is wrong.
    """
    x = truth_by_id.get(truth_id)
    if x is None:
        return None
    if role == "launch":
        return x.get("party")
    if role == "impact":
        return x.get("fired_by") or launch_party.get(x.get("launch", ""))
    if role in ("object", "presence"):
        return x.get("stands_in")
    return None


def naming_cause(event_type: str, match: tuple[str, str, float] | None, truth_d2: float | None,
                 link_ok: bool | None = None) -> str:
    """Why a named event names the wrong party, from its truth match.

    `no_truth` (no report of the event is in the truth), `false:<kind>` (a false alarm),
    `type:<event>-><truth role>` (e.g. a launch event made of an impact's reports),
    `wrong_link` (an impact linked to a launch event of another truth launch),
    `mixed_association` (under half of the reports are the matched source's, truth outside the
    ellipse), `outside_ellipse` (the estimate misses the truth beyond its 95 % ellipse), else
    `inside_ellipse` (the truth is inside the ellipse: a calibrated-chance error).
    """
    if match is None:
        return "no_truth"
    role, _tid, share = match
    if role.startswith("false:"):
        return role
    if role != ROLE_OF_TYPE.get(event_type):
        return f"type:{event_type}->{role}"
    if link_ok is False:
        return "wrong_link"
    outside = truth_d2 is None or not truth_d2 <= CHI2_2_95
    if share < 0.5 and outside:
        return "mixed_association"
    return "outside_ellipse" if outside else "inside_ellipse"


def evidence_class(sources: Mapping[str, int], n_arrays: int | None, dof: float | None) -> str:
    """Coarse class of the evidence behind a launch event: radar/acoustic, number of arrays, and
    whether the acoustic fit has redundancy (chi-square dof >= 2) to reveal a wrong association."""
    radar = bool(sources.get("radar"))
    na = int(n_arrays or 0)
    if not sources.get("acoustic"):
        return "radar only" if radar else "other"
    nb = "3" if na <= 3 else "4" if na == 4 else "5-6" if na <= 6 else "7+"
    red = "dof<2" if dof is None or dof < 2 else "dof>=2"
    return f"{'radar+' if radar else ''}acoustic arrays={nb} {red}"


def radar_only_diagnostics(sensors_path: Path, items: Sequence[tuple[tuple[float, float], Any]]) -> dict[str, Any]:
    """Named launch events resting on radar tracks alone, real vs false track: how many acoustic
    arrays lie within 5 and 10 km of the estimate (arrays that should have heard a real launch).

    A false track is "plausible-looking but nothing was fired" (docs/sim.md); the only evidence
    against it is that nearby arrays heard nothing.
    """
    reg = json.loads(sensors_path.read_text())
    arr = np.array([[s["lon"], s["lat"]] for s in reg if s.get("kind") == "acoustic" and "lon" in s], float)
    out: dict[str, Any] = {}
    for label in ("real", "false"):
        near5, near10 = [], []
        for (lon, lat), m in items:
            is_false = not m or m[0].startswith("false:")
            if (label == "false") != is_false:
                continue
            # equirectangular distances: enough for counting arrays within a few km
            dx = (arr[:, 0] - lon) * 111320.0 * math.cos(math.radians(lat))
            dy = (arr[:, 1] - lat) * 110574.0
            d = np.hypot(dx, dy)
            near5.append(int((d <= 5000).sum()))
            near10.append(int((d <= 10000).sum()))
        out[label] = {"n": len(near5),
                      "arrays_within_5km_median": float(np.median(near5)) if near5 else None,
                      "arrays_within_10km_median": float(np.median(near10)) if near10 else None,
                      "share_with_>=3_arrays_within_5km": round(float(np.mean(np.array(near5) >= 3)), 3)
                      if near5 else None}
    return out


def coverage_breakdown(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """95 % coverage of launch events by group (sources, arrays, weapon, clean/mixed association).

    Each row: d2 (truth Mahalanobis distance squared), weapon, radar, acoustic, n_arrays, share.
    Also the covariance scale the group would need: median(d2) / median of chi2(2) (1.386); 1 when
    the covariance is honest, > 1 when it is too small.
    """
    groups: dict[str, list[float]] = {}
    for r in rows:
        src = ("radar+acoustic" if r["acoustic"] else "radar only") if r["radar"] else "acoustic only"
        na = r["n_arrays"]
        nb = "0" if na == 0 else "3" if na <= 3 else "4-5" if na <= 5 else "6-9" if na <= 9 else "10+"
        clean = r["share"] >= 0.999
        keys = [f"src={src}", f"weapon={r['weapon']}", f"clean={clean}", f"src={src} clean={clean}",
                f"weapon={r['weapon']} clean={clean}"]
        if r["acoustic"] and not r["radar"]:
            keys.append(f"acoustic-only arrays={nb}")
        for k in keys:
            groups.setdefault(k, []).append(float(r["d2"]))
    out = {}
    for k in sorted(groups):
        d2 = np.array(groups[k])
        out[k] = {"n": int(d2.size), "coverage": round(float(np.mean(d2 <= CHI2_2_95)), 4),
                  "median_d2_over_chi2": round(float(np.median(d2) / 1.3862943611198906), 2)}
    return out


def best_event_per_truth(matches: Mapping[str, tuple[str, str, float]], overlap: Mapping[str, int],
                         event_type: Mapping[str, str], role: str) -> dict[str, str]:
    """For each truth id of `role`, the event (of the fitting type) with the largest overlap."""
    want_type = {v: k for k, v in ROLE_OF_TYPE.items()}[role]
    best: dict[str, tuple[int, str]] = {}
    for eid, (r, tid, _share) in matches.items():
        if r != role or event_type.get(eid) != want_type:
            continue
        key = (overlap.get(eid, 0), eid)
        if tid not in best or (key[0] > best[tid][0] or (key[0] == best[tid][0] and eid < best[tid][1])):
            best[tid] = key
    return {tid: v[1] for tid, v in best.items()}


def recall_precision(flagged_truth: Iterable[str], eligible_truth: Iterable[str],
                     flagged_events_ok: int, flagged_events: int) -> tuple[float, float]:
    """Recall = eligible truth entities with a flagged event / eligible; precision = flagged
    events matched to an eligible entity / flagged events (NaN when a denominator is 0)."""
    elig = set(eligible_truth)
    hit = elig & set(flagged_truth)
    rec = len(hit) / len(elig) if elig else math.nan
    prec = flagged_events_ok / flagged_events if flagged_events else math.nan
    return rec, prec


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def report_index(path: Path) -> dict[str, tuple[str, str, float | None]]:
    """Report id -> (sensor, kind, uav confidence or None) for every line of reports.jsonl that is
    a JSON object."""
    import orjson

    out: dict[str, tuple[str, str, float | None]] = {}
    with open(path, "rb") as fh:
        for line in fh:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                body = obj.get("body") if isinstance(obj.get("body"), dict) else {}
                conf = body.get("confidence")
                out.setdefault(obj["id"], (str(obj.get("sensor")), str(obj.get("kind")),
                                           float(conf) if isinstance(conf, (int, float)) else None))
    return out


def run_cli(args: list[str]) -> None:
    t = time.perf_counter()
    cmd = ["uv", "run", "truceline", *args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    print(f"# {' '.join(cmd)}  ({time.perf_counter() - t:.1f} s)", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


def _mahalanobis2(ev_lon: float, ev_lat: float, cov: Any, t_lon: float, t_lat: float) -> tuple[float, float]:
    """(d^2 of the truth under the event's covariance, distance m) in the event's local frame."""
    from truceline.geo import LocalFrame

    e, n = LocalFrame(ev_lon, ev_lat).to_en(t_lon, t_lat)
    v = np.array([float(e), float(n)])
    try:
        c = np.asarray(cov, dtype=float).reshape(2, 2)
        d2 = float(v @ np.linalg.solve(c, v))
    except (ValueError, TypeError, np.linalg.LinAlgError):
        d2 = math.inf
    return d2, float(np.hypot(*v))


def evaluate(dirpath: Path, events_path: Path, territory_path: Path | None = None,
             profile_path: Path | None = None) -> dict[str, Any]:
    from truceline.analysis.attribution import brier_score, calibration_table
    from truceline.geo import default_territory_path, load_territory
    from truceline.profile import load_profile

    truth = json.loads((dirpath / "truth.json").read_text())
    fc = json.loads(events_path.read_text())
    territory = load_territory(territory_path or default_territory_path())
    profile = load_profile(profile_path)
    parties = list(territory.parties)
    rep = report_index(dirpath / "reports.jsonl")
    owners = truth_owners(truth)
    truth_by_id: dict[str, Mapping[str, Any]] = {}
    for key in ("launches", "impacts", "weapon_objects", "buffer_presences", "fires", "false_alarms"):
        for x in truth.get(key, []):
            truth_by_id[x["id"]] = x
    launch_party = {x["id"]: x["party"] for x in truth["launches"]}

    feats = list(fc["features"])
    props = {f["properties"]["id"]: f["properties"] for f in feats}
    pos = {f["properties"]["id"]: tuple(f["geometry"]["coordinates"][:2]) for f in feats}
    etype = {k: p["type"] for k, p in props.items()}
    matches: dict[str, tuple[str, str, float]] = {}
    overlap: dict[str, int] = {}
    for eid, p in props.items():
        m = match_event(p["type"], p.get("reports", []), owners)
        if m is not None:
            matches[eid] = m
            overlap[eid] = round(m[2] * len(p.get("reports", [])))
    out: dict[str, Any] = {"events": len(props), "events_by_type": dict(Counter(etype.values()))}

    # ---- 1. naming --------------------------------------------------------------------------
    best_of = {role: best_event_per_truth(matches, overlap, etype, role) for role in ("launch", "impact", "object")}
    named = {eid: p for eid, p in props.items() if p.get("responsible") is not None}
    naming: dict[str, Any] = {}
    wrong: list[dict[str, Any]] = []
    for typ in ("launch", "impact", "weapon_sighting"):
        ids = [e for e in named if etype[e] == typ]
        ok = 0
        for eid in ids:
            p = props[eid]
            m = matches.get(eid)
            exp = expected_party(m[0], m[1], truth_by_id, launch_party) if m else None
            if exp is not None and p["responsible"] == exp:
                ok += 1
                continue
            x = truth_by_id.get(m[1]) if m else None
            d2 = dist = None
            link_ok = None
            src_eid = eid
            if typ == "impact":  # the naming comes from the linked launch event: judge that one
                le = p.get("launch_event")
                lm = matches.get(le) if le else None
                if m and m[0] == "impact" and x is not None:
                    link_ok = bool(lm and lm[0] == "launch" and lm[1] == x.get("launch"))
                if link_ok and le in props:
                    src_eid = le
                    x_l = truth_by_id.get(lm[1])
                    d2, dist = _mahalanobis2(*pos[le], props[le].get("cov_en_m2"), x_l["lon"], x_l["lat"])
            elif x is not None and "lat" in x:
                d2, dist = _mahalanobis2(*pos[eid], p.get("cov_en_m2"), x["lon"], x["lat"])
            sp = props[src_eid]
            cause = naming_cause(typ, m, d2, link_ok)
            if typ == "impact" and src_eid != eid:
                lm = matches.get(src_eid)
                cause = "launch:" + naming_cause("launch", lm, d2)
                if lm and best_of["launch"].get(lm[1]) != src_eid:
                    cause = "launch:fragment/" + cause[len("launch:"):]
            elif m and m[0] == ROLE_OF_TYPE.get(typ) and best_of[m[0]].get(m[1]) != eid:
                # a second, smaller event of a truth source that has a better event: a split fragment
                cause = "fragment/" + cause
            wrong.append({
                "event": eid, "type": typ, "cause": cause, "named": p["responsible"], "expected": exp,
                "truth": (m[0], m[1], round(m[2], 3)) if m else None, "judged_event": src_eid,
                "attribution": p.get("attribution"), "event_distance_to_line_m": sp.get("distance_to_line_m"),
                "truth_distance_to_line_m": x.get("distance_to_line_m") if x else None,
                "ellipse_95": sp.get("ellipse_95"), "cov_en_m2": sp.get("cov_en_m2"),
                "error_m": None if dist is None else round(dist, 1),
                "truth_d2": None if d2 is None else round(d2, 2), "sources": sp.get("sources"),
                "n_arrays": sp.get("n_arrays"), "quality": sp.get("quality"), "launch_event": p.get("launch_event"),
                "launch_event_truth": matches.get(p.get("launch_event") or ""),
                "object": p.get("object"), "weapon": x.get("weapon") if x else None,
            })
        naming[typ] = {"named": len(ids), "correct": ok,
                       "fraction_correct": round(ok / len(ids), 5) if ids else None}
    n_named = sum(v["named"] for v in naming.values())
    n_ok = sum(v["correct"] for v in naming.values())
    naming["all"] = {"named": n_named, "correct": n_ok,
                     "fraction_correct": round(n_ok / n_named, 5) if n_named else None}
    # the sighting's owner vs where it stands (the spec attributes sightings by territory)
    sight_owner_diff = 0
    for eid in named:
        m = matches.get(eid)
        if etype[eid] == "weapon_sighting" and m and m[0] in ("object", "presence"):
            x = truth_by_id[m[1]]
            if x.get("party") != x.get("stands_in") and named[eid]["responsible"] == x.get("stands_in"):
                sight_owner_diff += 1
    naming["sightings_named_by_territory_not_owner"] = sight_owner_diff
    # naming of launches by the kind of evidence behind them (which evidence is over-trusted)
    wrong_ids = {w["event"] for w in wrong}
    by_class: dict[str, list[int]] = {}
    for eid, p in named.items():
        if etype[eid] != "launch":
            continue
        k = evidence_class(p.get("sources") or {}, p.get("n_arrays"), (p.get("quality") or {}).get("dof"))
        by_class.setdefault(k, [0, 0])
        by_class[k][0] += 1
        by_class[k][1] += eid in wrong_ids
    naming["launch_by_evidence"] = {k: {"named": v[0], "wrong": v[1]} for k, v in sorted(by_class.items())}
    naming["radar_only_launches"] = radar_only_diagnostics(
        dirpath / "sensors.json", [(pos[e], matches.get(e)) for e, p in named.items()
                                   if etype[e] == "launch" and not (p.get("sources") or {}).get("acoustic")])
    naming["wrong_by_cause"] = dict(Counter(f"{w['type']}:{w['cause']}" for w in wrong).most_common())
    real = [e for e in named if matches.get(e) and not matches[e][0].startswith("false:")]
    real_wrong = {w["event"] for w in wrong if w["cause"] != "no_truth" and not w["cause"].startswith("false:")}
    naming["real_sources_only"] = {"named": len(real), "correct": len(real) - len(real_wrong),
                                   "fraction_correct": round(1 - len(real_wrong) / len(real), 5) if real else None}
    out["naming"] = naming
    out["wrong_namings"] = wrong

    # ---- 2. abstention and coverage on launches ----------------------------------------------
    best_launch = best_of["launch"]
    eligible, abstained, missed = [], [], []
    cover, cover_all = [], []
    cov_rows: list[dict[str, Any]] = []
    by_weapon: dict[str, list[bool]] = {}
    abst_detail: list[dict[str, Any]] = []
    for x in truth["launches"]:
        arrays = {rep[r][0] for r in x["reports"] if r in rep and rep[r][1] == "acoustic"}
        eid = best_launch.get(x["id"])
        if eid is not None:
            d2, dist = _mahalanobis2(*pos[eid], props[eid].get("cov_en_m2"), x["lon"], x["lat"])
            cover_all.append(d2 <= CHI2_2_95)
            src = props[eid].get("sources") or {}
            na = int(props[eid].get("n_arrays") or 0)
            cov_rows.append({"d2": d2, "weapon": x["weapon"], "radar": bool(src.get("radar")),
                             "acoustic": bool(src.get("acoustic")), "n_arrays": na, "share": matches[eid][2]})
        if x["distance_to_line_m"] > 2000.0 and len(arrays) >= 4:
            eligible.append(x["id"])
            if eid is None:
                missed.append(x["id"])
                continue
            nul = props[eid].get("responsible") is None
            abstained.append(nul)
            cover.append(d2 <= CHI2_2_95)
            by_weapon.setdefault(x["weapon"], []).append(nul)
            if nul:
                p = props[eid]
                abst_detail.append({"truth": x["id"], "event": eid, "party": x["party"], "weapon": x["weapon"],
                                    "truth_distance_to_line_m": x["distance_to_line_m"],
                                    "attribution": p.get("attribution"), "ellipse_95": p.get("ellipse_95"),
                                    "error_m": round(dist, 1), "truth_d2": round(d2, 2), "n_arrays": p.get("n_arrays"),
                                    "truth_arrays": len(arrays), "sources": p.get("sources")})
    out["abstention"] = {
        "eligible_launches": len(eligible), "with_matched_launch_event": len(abstained),
        "no_launch_event": len(missed),
        "abstained": int(sum(abstained)),
        "fraction_abstained": round(float(np.mean(abstained)), 5) if abstained else None,
        "fraction_not_named_incl_missed": round((sum(abstained) + len(missed)) / len(eligible), 5) if eligible else None,
        "by_weapon": {w: {"n": len(v), "abstained": int(sum(v))} for w, v in sorted(by_weapon.items())},
        "coverage_95_eligible": round(float(np.mean(cover)), 4) if cover else None,
    }
    out["abstentions"] = abst_detail
    out["launch_coverage_95"] = {"n": len(cover_all),
                                 "coverage": round(float(np.mean(cover_all)), 4) if cover_all else None,
                                 "breakdown": coverage_breakdown(cov_rows)}

    # ---- 3. calibration of launches ----------------------------------------------------------
    pred: list[float] = []
    outc: list[int] = []
    outc_terr: list[int] = []
    party_at = {}
    lon = np.array([x["lon"] for x in truth["launches"]])
    lat = np.array([x["lat"] for x in truth["launches"]])
    pa = territory.party_at(lon, lat)
    for x, q in zip(truth["launches"], pa, strict=True):
        party_at[x["id"]] = None if q is None else str(q)
    # every launch event with an attribution: outcome 1 when the party fired the matched truth
    # launch; an event of a false alarm (a false radar track) or of another kind of source has
    # outcome 0 for every party (nobody fired it). The best-event-per-launch subset is kept
    # apart: it hides split fragments and false tracks, which is where the misses are.
    n_cal = 0
    pred_b: list[float] = []
    outc_b: list[int] = []
    best_ids = set(best_launch.values())
    for eid, p in props.items():
        att = p.get("attribution") or {}
        if etype[eid] != "launch" or not att:
            continue
        m = matches.get(eid)
        fired = launch_party.get(m[1]) if m and m[0] == "launch" else None
        terr = party_at.get(m[1]) if m and m[0] == "launch" else None
        n_cal += 1
        for party in parties:
            pred.append(float(att.get(party, 0.0)))
            outc.append(int(fired == party))
            outc_terr.append(int(terr == party))
            if eid in best_ids:
                pred_b.append(pred[-1])
                outc_b.append(outc[-1])
    cal: dict[str, Any] = {"launch_events": n_cal, "pairs": len(pred),
                           "firing_party_not_territory": int(sum(1 for tid in best_launch
                                                                 if party_at[tid] != launch_party[tid]))}
    if pred:
        cal["brier"] = round(brier_score(pred, outc), 6)
        cal["brier_outcome_territory"] = round(brier_score(pred, outc_terr), 6)
        cal["table"] = calibration_table(pred, outc, bins=10)
    if pred_b:
        cal["best_event_only"] = {"pairs": len(pred_b), "brier": round(brier_score(pred_b, outc_b), 6)}
    out["calibration_launches"] = cal
    # sightings: attribution[party] vs "the object stands in the party's territory"
    sp_pred, sp_out = [], []
    for eid, m in matches.items():
        if etype[eid] != "weapon_sighting" or m[0] not in ("object", "presence"):
            continue
        att = props[eid].get("attribution") or {}
        if not att:
            continue
        for party in parties:
            sp_pred.append(float(att.get(party, 0.0)))
            sp_out.append(int(truth_by_id[m[1]].get("stands_in") == party))
    out["calibration_sightings"] = {"pairs": len(sp_pred),
                                    "brier": round(brier_score(sp_pred, sp_out), 6) if sp_pred else None}

    # ---- 4. withdrawal violations -------------------------------------------------------------
    def restricted_inside(x: Mapping[str, Any]) -> bool:
        if "in_exclusion_zone" in x:
            return bool(x["in_exclusion_zone"])
        d = profile.exclusion_distance_m(x["class"], x.get("caliber_mm"))
        return d is not None and x["distance_to_line_m"] < d

    seen_uav = {x["id"] for key in ("weapon_objects", "buffer_presences") for x in truth.get(key, [])
                if any(rep.get(r, ("", "", None))[1] == "uav" for r in x["reports"])}
    eligible_w = {x["id"] for key in ("weapon_objects", "buffer_presences") for x in truth.get(key, [])
                  if x["id"] in seen_uav and restricted_inside(x)}
    flagged_truth, flagged_ok, flagged_n = set(), 0, 0
    flag_stats: list[dict[str, Any]] = []
    fp: list[dict[str, Any]] = []
    for eid, p in props.items():
        if p["type"] != "weapon_sighting" or not any(v.startswith("withdrawal.") for v in p.get("violations", [])):
            continue
        flagged_n += 1
        m = matches.get(eid)
        confs = [rep[r][2] for r in p.get("reports", []) if r in rep and rep[r][2] is not None]
        looks = len(p.get("reports", []))
        ok_flag = bool(m and m[1] in eligible_w)
        flag_stats.append({"true": ok_flag, "looks": looks, "max_conf": max(confs) if confs else None})
        if ok_flag:
            flagged_ok += 1
            flagged_truth.add(m[1])
        else:
            x = truth_by_id.get(m[1]) if m else None
            fp.append({"event": eid, "object": p.get("object"), "caliber_mm": p.get("caliber_mm"),
                       "violations": p.get("violations"), "event_distance_to_line_m": p.get("distance_to_line_m"),
                       "truth": m, "truth_class": x.get("class") if x else None,
                       "truth_caliber": x.get("caliber_mm") if x else None,
                       "truth_distance_to_line_m": x.get("distance_to_line_m") if x else None,
                       "truth_exclusion_m": x.get("exclusion_distance_m") if x else None})
    rec, prec = recall_precision(flagged_truth, eligible_w, flagged_ok, flagged_n)
    # why the missed ones were missed: the best sighting event of each
    best_obj = best_of["object"]
    missed_w = []
    for tid in sorted(eligible_w - flagged_truth):
        x = truth_by_id[tid]
        eid = best_obj.get(tid)
        p = props.get(eid, {}) if eid else {}
        missed_w.append({"truth": tid, "class": x["class"], "caliber_mm": x.get("caliber_mm"),
                         "distance_to_line_m": x["distance_to_line_m"],
                         "exclusion_distance_m": x.get("exclusion_distance_m"),
                         "event": eid, "event_object": p.get("object"), "event_caliber": p.get("caliber_mm"),
                         "event_distance_to_line_m": p.get("distance_to_line_m"),
                         "event_time": p.get("time"), "violations": p.get("violations"),
                         "ellipse_95": p.get("ellipse_95")})
    out["withdrawal"] = {"eligible_objects": len(eligible_w), "flagged_events": flagged_n,
                         "flagged_events_true": flagged_ok, "objects_flagged": len(flagged_truth),
                         "recall": round(rec, 4), "precision": round(prec, 4)}
    diag = {}
    for truth_ok in (True, False):
        st = [f for f in flag_stats if f["true"] is truth_ok]
        cf = [f["max_conf"] for f in st if f["max_conf"] is not None]
        diag["true_positive" if truth_ok else "false_positive"] = {
            "n": len(st), "single_look": sum(1 for f in st if f["looks"] == 1),
            "max_conf_quartiles": [round(float(q), 2) for q in np.quantile(cf, [0.25, 0.5, 0.75])] if cf else None}
    out["withdrawal"]["flagged_diagnostics"] = diag
    out["withdrawal"]["false_by_truth"] = dict(Counter(
        (f["truth"][0] if f["truth"] else "no_truth") for f in fp))
    out["withdrawal_missed"] = missed_w
    out["withdrawal_false"] = fp
    out["withdrawal_gate_sweep"] = gate_sweep(feats, matches, eligible_w, territory, profile)
    return out


SWEEP_GATES = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def gate_sweep(feats: Sequence[Mapping[str, Any]], matches: Mapping[str, tuple[str, str, float]],
               eligible: set[str], territory: Any, profile: Any,
               gates: Sequence[float] = SWEEP_GATES) -> list[dict[str, Any]]:
    """Withdrawal recall and precision had the profile's `sighting_min_confidence` been each gate.

    The rules are re-checked on the weapon sightings with the gate at 0 (position evidence only);
    a sighting then breaks a withdrawal rule at gate g when it did so and its combined confidence
    reaches g (or it has none). This is the whole trade-off curve the gate can reach, so it shows
    whether any operating point meets both targets on the day. Rules carrying their own
    `params.min_confidence` keep it (the default profile has none)."""
    import dataclasses

    from truceline.analysis.rules import check_rules

    sight = [f for f in feats if f["properties"]["type"] == "weapon_sighting"]
    if not sight:
        return []
    open_profile = dataclasses.replace(profile, sighting_min_confidence=0.0)
    findings = check_rules(sight, territory, open_profile, evidence=False)
    by_position = np.array([any(x.broken and x.code.startswith("withdrawal.") for x in fs) for fs in findings])
    conf = np.array([np.nan if f["properties"].get("confidence") is None else float(f["properties"]["confidence"])
                     for f in sight])
    truth = [matches.get(f["properties"]["id"], (None, None, 0.0))[1] for f in sight]
    true_hit = np.array([t in eligible for t in truth])
    rows = []
    for g in gates:
        flag = by_position & (np.isnan(conf) | (conf >= g))
        found = {truth[i] for i in np.flatnonzero(flag & true_hit)}
        rec, prec = recall_precision(found, eligible, int((flag & true_hit).sum()), int(flag.sum()))
        rows.append({"gate": g, "recall": round(rec, 4), "precision": round(prec, 4),
                     "flagged_events": int(flag.sum())})
    return rows


def _fmt_table(rows: list[dict[str, float]]) -> str:
    lines = ["  bin          count  mean_pred  observed  (95% CI)"]
    for r in rows:
        if r["count"]:
            lines.append(f"  [{r['bin_low']:.1f},{r['bin_high']:.1f})  {r['count']:6d}  {r['mean_predicted']:.4f}"
                         f"     {r['observed_frequency']:.4f}    ({r['ci_low']:.3f}-{r['ci_high']:.3f})")
        else:
            lines.append(f"  [{r['bin_low']:.1f},{r['bin_high']:.1f})  {0:6d}")
    return "\n".join(lines)


def _short(w: Mapping[str, Any]) -> str:
    ell = w.get("ellipse_95") or {}
    att = w.get("attribution") or {}
    q = w.get("quality") or {}
    return (f"{w['event']} {w['type']:15s} {w['cause']:28s} named {w['named']} expected {w['expected']} "
            f"truth {w['truth']} P={json.dumps(att, separators=(',', ':'))} "
            f"dist_line ev {w['event_distance_to_line_m']} truth {w['truth_distance_to_line_m']} "
            f"ell95 {ell.get('semi_major_m')}x{ell.get('semi_minor_m')}@{ell.get('azimuth_deg')} "
            f"err {w['error_m']} m d2 {w['truth_d2']} src {w['sources']} weapon {w['weapon']}"
            + (f" chi2/dof {q.get('chi2')}/{q.get('dof')}" if q else "")
            + (f" linked launch matches {w['launch_event_truth']}" if w.get("launch_event_truth") else ""))


def print_report(res: dict[str, Any], details: int = 1000) -> None:
    """Human-readable summary; at most `details` rows of each list."""
    nm = res["naming"]
    print(f"events: {res['events']}  {res['events_by_type']}")
    print("1. naming (responsible set): target fraction_correct >= 0.995")
    for k in ("launch", "impact", "weapon_sighting", "all", "real_sources_only"):
        print(f"   {k:18s} named {nm[k]['named']:5d}  correct {nm[k]['correct']:5d}  fraction {nm[k]['fraction_correct']}")
    print(f"   wrong by cause: {nm['wrong_by_cause']}")
    print("   named launches by evidence: " + "; ".join(f"{k}: {v['wrong']}/{v['named']} wrong"
                                                     for k, v in nm["launch_by_evidence"].items()))
    print(f"   named radar-only launches (real vs false track): {nm['radar_only_launches']}")
    print(f"   sightings named by territory where owner differs: {nm['sightings_named_by_territory_not_owner']}")
    shown = [w for w in res["wrong_namings"] if not w["cause"].startswith("false:uav")]
    for w in shown[:details]:
        print("   WRONG", _short(w))
    n_uav = len(res["wrong_namings"]) - len(shown)
    if n_uav:
        print(f"   (+ {n_uav} weapon_sighting events from false drone sightings, named by the territory where reported)")
    a = res["abstention"]
    print("2. abstention on launches > 2 km behind the line, heard by >= 4 arrays: target < 0.02")
    print(f"   eligible {a['eligible_launches']}, with launch event {a['with_matched_launch_event']}, "
          f"abstained {a['abstained']} -> fraction {a['fraction_abstained']} "
          f"(counting the {a['no_launch_event']} without a launch event as not named: "
          f"{a['fraction_not_named_incl_missed']})")
    print(f"   by weapon {a['by_weapon']}; 95 % coverage of these events: {a['coverage_95_eligible']}")
    for x in res["abstentions"][:details]:
        print("   ABSTAINED", json.dumps(x))
    c = res["calibration_launches"]
    print(f"3. calibration of launches (events {c['launch_events']}, pairs {c['pairs']}): Brier {c.get('brier')} "
          f"(outcome 'true position in the party's territory': {c.get('brier_outcome_territory')}; "
          f"truth launches fired from the other party's territory: {c['firing_party_not_territory']})")
    if "table" in c:
        print(_fmt_table(c["table"]))
    if "best_event_only" in c:
        print(f"   only the best event of each truth launch: pairs {c['best_event_only']['pairs']}, "
              f"Brier {c['best_event_only']['brier']}")
    print(f"   weapon sightings of real objects (outcome: stands in the party's territory): "
          f"pairs {res['calibration_sightings']['pairs']}, Brier {res['calibration_sightings']['brier']}")
    w = res["withdrawal"]
    print("4. withdrawal violations: targets recall >= 0.95, precision >= 0.95")
    print(f"   eligible objects {w['eligible_objects']}, flagged {w['objects_flagged']} -> recall {w['recall']}; "
          f"flagged events {w['flagged_events']}, true {w['flagged_events_true']} -> precision {w['precision']}")
    print(f"   false positives by truth: {w['false_by_truth']}; diagnostics {w['flagged_diagnostics']}")
    for x in res["withdrawal_missed"][:details]:
        print("   MISSED", json.dumps(x))
    for x in [f for f in res["withdrawal_false"] if not (f["truth"] or [""])[0].startswith("false:")][:details]:
        print("   FALSE", json.dumps(x))
    if res.get("withdrawal_gate_sweep"):
        print("   had sighting_min_confidence been: "
              + "; ".join(f"{r['gate']:g}: {r['recall']:.3f} / {r['precision']:.3f}"
                          for r in res["withdrawal_gate_sweep"]) + " (recall / precision)")
    lc = res["launch_coverage_95"]
    print(f"5. launch localization coverage (truth inside the 95 % ellipse): {lc['coverage']} of {lc['n']}")
    for k, v in lc["breakdown"].items():
        print(f"   {k:28s} n {v['n']:4d}  coverage {v['coverage']:.4f}  median d2 / 1.386 = {v['median_d2_over_chi2']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", type=Path)
    ap.add_argument("--events", type=Path, default=None, help="events.geojson (default DIR/events.geojson)")
    ap.add_argument("--simulate", action="store_true", help="run `truceline simulate` and `analyze` first")
    ap.add_argument("--analyze", action="store_true", help="run `truceline analyze` first")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--intensity", type=float, default=1.0)
    ap.add_argument("--territory", type=Path, default=None)
    ap.add_argument("--profile", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write all results as JSON here")
    ap.add_argument("--details", type=int, default=1000, help="print at most this many rows per list")
    args = ap.parse_args(argv)
    from truceline.geo import default_territory_path

    d = args.dir
    terr = args.territory or default_territory_path()
    if args.simulate:
        d = d or Path(tempfile.mkdtemp(prefix="truceline-evalatt-"))
        run_cli(["simulate", "--out", str(d), "--hours", str(args.hours), "--seed", str(args.seed),
                 "--intensity", str(args.intensity), "--territory", str(terr)]
                + (["--profile", str(args.profile)] if args.profile else []))
    if d is None:
        ap.error("give DIR or --simulate")
    events = args.events or d / "events.geojson"
    if args.simulate or args.analyze:
        run_cli(["analyze", str(d / "reports.jsonl"), "--sensors", str(d / "sensors.json"),
                 "--territory", str(terr), "--out", str(events)]
                + (["--profile", str(args.profile)] if args.profile else []))
    t = time.perf_counter()
    res = evaluate(d, events, terr, args.profile)
    print(f"# {d}: evaluated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    print_report(res, args.details)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
