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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="200-209")
    ap.add_argument("--clutter", type=float, default=5.0, help="false detections per array-hour")
    ap.add_argument("--salvo-rounds", type=int, default=1)
    ap.add_argument("--shots", type=int, default=40)
    ap.add_argument("--arrays", type=int, default=12)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    rows, per_kind, per_n = [], {"launch": [], "impact": []}, {}
    t_all = time.perf_counter()
    for seed in _seeds(a.seeds):
        for layout in ("random", "grid"):
            for azf in (0.5, 0.0):
                sc = make_scenario(seed=seed, layout=layout, azimuth_fraction=azf, n_arrays=a.arrays,
                                   n_shots=a.shots, false_rate_per_array_h=a.clutter, salvo_rounds=a.salvo_rounds)
                ev = analyze_reports(sc.reports, {s["id"]: s for s in sc.sensors})
                s = score_acoustic(ev, sc)
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
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
