"""Recall, precision and 95 % ellipse coverage on scenarios of the independent generator.

    uv run python benchmarks/eval_foreign.py [--seeds 200-209] [--clutter 5] [--salvo-rounds 1]
                                             [--shots 40] [--arrays 12] [--json OUT]

`tests/scenario_gen.py` simulates acoustic arrays, sources, wind, clutter and salvos with
code that shares nothing with `truceline.sim` (its own layouts, id patterns, noise and
ordering). For each seed it runs two layouts (random, jittered grid) and two azimuth shares
(0.5, 0): the "40 foreign scenarios" of docs/analysis.md with the default seeds. Each
scenario is analysed by `analyze_reports` and scored by `scenario_gen.score_acoustic`;
coverage is also given per kind (launch, impact) and per number of arrays, as the share of
matched events whose true position lies inside their 95 % ellipse (target 0.92-0.97).

`--attribution` analyses with the shipped territory and default profile and scores issue 6's
figures on these foreign reports: among launch/impact events naming a party, the share naming
the right one (events are matched to the truth source owning more than half of their reports; the
truth party is read from the territory polygons with Shapely, for an impact the party at its
shot's launch; a named false alarm or mixture counts as wrong); abstention on true launches
more than 2 km from the line, inside a party's territory, heard by 4+ arrays; the Brier score
and reliability table of launch events with an attribution (every party).
`--along-line` centres each scenario on a random point of the real line of contact (seeded),
instead of the generator's default spot, so the sources straddle many stretches of the line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scenario_gen import make_scenario, score_acoustic  # noqa: E402
from truceline.analysis import analyze_reports  # noqa: E402


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


class AttributionScore:
    """Issue 6's naming, abstention and Brier figures, accumulated over scenarios."""

    def __init__(self, territory) -> None:
        import shapely

        self.t = territory
        self.polys = {p: territory.polygon(p) for p in territory.parties}
        self.contains = shapely.contains_xy
        self.named = self.correct = self.eligible = self.abstained = 0
        self.wrong: list[dict] = []
        self.pred: list[float] = []
        self.outcome: list[float] = []

    def party_at(self, lon: float, lat: float) -> str | None:
        hits = [p for p, g in self.polys.items() if self.contains(g, lon, lat)]
        return hits[0] if len(hits) == 1 else None

    def add(self, events, sc) -> None:
        """Events are matched by evidence, as in eval_attribution.py: to the truth source owning
        most of their reports (none: a false alarm), whatever their position. The rounds of one
        salvo count as one source here (one launcher, one party): an event blending its rounds
        is that launcher's launch."""
        key_of = [(t["shot"], t["kind"]) for t in sc.truth]
        first = {}
        for i, k in enumerate(key_of):
            first.setdefault(k, i)
        rid2truth = {r: first[key_of[i]] for i, t in enumerate(sc.truth) for r in t["report_ids"]}
        truth_of, matched = {}, {}
        for e in events:
            ids = [rid2truth[r] for r in e.reports if r in rid2truth]
            if ids and e.type in ("launch", "impact"):
                j = max(set(ids), key=ids.count)
                if 2 * ids.count(j) > len(e.reports):
                    truth_of[e.id] = j
                    matched.setdefault(j, []).append(e)
        shots = {sh["shot"]: sh for sh in sc.shots}
        for e in events:
            if e.type not in ("launch", "impact"):
                continue
            j = truth_of.get(e.id)
            tr = sc.truth[j] if j is not None else None
            fired_by = None
            if tr is not None and tr["kind"] == e.type:
                lon, lat, _t = shots[tr["shot"]]["launch"]
                fired_by = self.party_at(lon, lat)
            if e.type == "launch" and e.attribution:  # as eval_attribution.py: events with an attribution
                for p in self.t.parties:
                    self.pred.append(float(e.attribution.get(p, 0.0)))
                    self.outcome.append(1.0 if fired_by == p else 0.0)
            if e.responsible is not None:
                self.named += 1
                if e.responsible == fired_by:
                    self.correct += 1
                else:
                    self.wrong.append({"event": e.id, "type": e.type, "named": e.responsible, "truth": fired_by,
                                       "attribution": e.attribution, "distance_to_line_m": e.distance_to_line_m,
                                       "ellipse_95": e.ellipse_95()})
        for j, tr in enumerate(sc.truth):  # a salvo: its first round stands for the launcher
            if first[key_of[j]] != j or tr["kind"] != "launch" or len(tr["arrays"]) < 4 or j not in matched:
                continue
            if float(self.t.distance_to_line_m(tr["lon"], tr["lat"])) <= 2000.0:
                continue
            if self.party_at(tr["lon"], tr["lat"]) is None:  # outside the territory file: nobody to name
                continue
            self.eligible += 1
            if all(e.responsible is None for e in matched[j] if e.type == "launch"):
                self.abstained += 1

    def result(self) -> dict:
        from truceline.analysis.attribution import calibration_table

        pred, out = np.array(self.pred), np.array(self.outcome)
        table = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                 for row in calibration_table(pred, out) if row["count"]] if len(pred) else []
        return {"reliability": table, "named": self.named,
                "named_correct": round(self.correct / self.named, 4) if self.named else None,
                "abstention_eligible": self.eligible,
                "abstention": round(self.abstained / self.eligible, 4) if self.eligible else None,
                "brier_launches": round(float(np.mean((pred - out) ** 2)), 6) if len(pred) else None,
                "wrong": self.wrong[:50]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="200-209")
    ap.add_argument("--clutter", type=float, default=5.0, help="false detections per array-hour")
    ap.add_argument("--salvo-rounds", type=int, default=1)
    ap.add_argument("--shots", type=int, default=40)
    ap.add_argument("--arrays", type=int, default=12)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--attribution", action="store_true", help="also score naming, abstention and Brier (issue 6)")
    ap.add_argument("--along-line", action="store_true", help="centre each scenario on a random point of the line")
    a = ap.parse_args(argv)
    rows, per_kind, per_n = [], {"launch": [], "impact": []}, {}
    terr = prof = None
    if a.attribution or a.along_line:
        from truceline.geo import default_territory_path, load_territory
        from truceline.profile import load_profile

        terr, prof = load_territory(default_territory_path()), load_profile(None)
    att = AttributionScore(terr) if a.attribution else None
    t_all = time.perf_counter()
    for seed in _seeds(a.seeds):
        centre = {}
        if a.along_line:
            km = np.random.default_rng(seed).uniform(20.0, terr.contact_line.part_lengths_m[0] / 1000.0 - 20.0)
            lon0, lat0, _az = terr.contact_line.point_at(km, 0)
            centre = {"lon0": float(lon0), "lat0": float(lat0)}
        for layout in ("random", "grid"):
            for azf in (0.5, 0.0):
                sc = make_scenario(seed=seed, layout=layout, azimuth_fraction=azf, n_arrays=a.arrays,
                                   n_shots=a.shots, false_rate_per_array_h=a.clutter, salvo_rounds=a.salvo_rounds,
                                   **centre)
                ev = analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors},
                                     territory=terr if a.attribution else None, profile=prof)
                s = score_acoustic(ev, sc)
                if att is not None:
                    att.add(ev, sc)
                for j, evs in s["matched"].items():
                    tr = sc.truth[j]
                    for e in evs:
                        inside = s["d2_of"][e.id] <= 5.991
                        per_kind[tr["kind"]].append(inside)
                        per_n.setdefault(min(len(e.reports), 10), []).append(inside)
                rows.append({"seed": seed, "layout": layout, "azimuth_fraction": azf,
                             **{k: round(v, 4) if isinstance(v, float) else v for k, v in s.items() if k not in ("matched", "d2_of")}})
                print(f"seed {seed} {layout:6s} az {azf}: recall {s['recall']:.3f} precision {s['precision']:.3f} "
                      f"coverage {s['coverage']:.3f} events {s['n_events']}", flush=True)

    def mean(key):
        return round(float(np.mean([r[key] for r in rows])), 4)

    out = {"scenarios": len(rows), "recall": mean("recall"), "precision": mean("precision"),
           "coverage": mean("coverage"),
           "coverage_by_kind": {k: (round(float(np.mean(v)), 4), len(v)) for k, v in per_kind.items() if v},
           "coverage_by_reports": {("10+" if k == 10 else str(k)): (round(float(np.mean(v)), 4), len(v))
                                   for k, v in sorted(per_n.items())},
           "seconds": round(time.perf_counter() - t_all, 1), "rows": rows}
    if att is not None:
        out["attribution"] = att.result()
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
