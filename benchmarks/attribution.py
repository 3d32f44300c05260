"""Benchmark: calibrated attribution of 50,000 synthetic events near the real line of contact.

Prints throughput (events/s) and peak traced memory of `attribute_positions` (exact Owen's-T edge
integral) beside a naive baseline measured in the same run: Monte Carlo per event (sample the
bivariate normal in the event's local frame, map back to lon/lat, point-in-polygon test) on a
sample of events, and the largest difference between the two on that sample.

    uv run python benchmarks/attribution.py [--events 50000] [--mc-events 200] [--mc-samples 100000]
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from pathlib import Path

import numpy as np

from truceline.analysis.attribution import apply_attribution, attribute_positions, edge_index
from truceline.analysis.rules import evaluate_rules
from truceline.geo import LocalFrame, load_territory
from truceline.profile import load_profile

TERRITORY = Path(__file__).resolve().parents[2] / "shared" / "data" / "territory_2026-01-06.geojson"


def synthetic_events(territory, n: int, seed: int = 1):
    """Events scattered along every part of the line (offsets ~ N(0, 3 km)), with 1-sigma axes of
    15 m .. 1.5 km (log-uniform), axis ratio up to 10 and random orientation."""
    rng = np.random.default_rng(seed)
    line = territory.contact_line
    lengths = np.asarray(line.part_lengths_m) / 1000.0
    part = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
    lon = np.empty(n)
    lat = np.empty(n)
    for k in np.unique(part):
        sel = part == k
        km = rng.uniform(0, lengths[k], sel.sum())
        lo, la, _az = line.point_at(km, int(k))
        lon[sel], lat[sel] = lo, la
    lon += rng.normal(0, 3000.0, n) / (111_000.0 * np.cos(np.radians(lat)))
    lat += rng.normal(0, 3000.0, n) / 111_000.0
    s1 = np.exp(rng.uniform(math.log(15.0), math.log(1500.0), n))
    s2 = s1 / rng.uniform(1.0, 10.0, n)
    th = rng.uniform(0, math.pi, n)
    c, s = np.cos(th), np.sin(th)
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0] = c * c * s1**2 + s * s * s2**2
    cov[:, 1, 1] = s * s * s1**2 + c * c * s2**2
    cov[:, 0, 1] = cov[:, 1, 0] = c * s * (s1**2 - s2**2)
    return lon, lat, cov


def monte_carlo(territory, lon, lat, cov, samples: int, seed: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {p: np.empty(len(lon)) for p in territory.parties}
    for i in range(len(lon)):
        frame = LocalFrame(lon[i], lat[i])
        x = rng.multivariate_normal([0.0, 0.0], cov[i], size=samples)
        lo, la = frame.from_en(x[:, 0], x[:, 1])
        party = territory.party_at(lo, la)
        for p in territory.parties:
            out[p][i] = np.mean(party == p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--mc-events", type=int, default=200)
    ap.add_argument("--mc-samples", type=int, default=100_000)
    args = ap.parse_args()

    territory = load_territory(TERRITORY)
    lon, lat, cov = synthetic_events(territory, args.events)
    dist = territory.distance_to_line_m(lon, lat)
    sig_max = np.sqrt(np.linalg.eigvalsh(cov)[:, 1])

    t0 = time.perf_counter()
    edge_index(territory)
    t_index = time.perf_counter() - t0

    t0 = time.perf_counter()
    probs = attribute_positions(territory, lon, lat, cov)
    t_exact = time.perf_counter() - t0
    peak = peak_memory(lambda: attribute_positions(territory, lon, lat, cov))

    total = sum(probs.values())
    undecided = np.all(np.stack([v for v in probs.values()]) < 0.95, axis=0)
    print(
        f"events: {args.events:,}; within 8 sigma of the line: {np.mean(dist < 8 * sig_max):.1%}; "
        f"no party >= 0.95: {undecided.mean():.1%}; max sum {total.max():.12f}"
    )
    print(
        f"exact (Owen's T edge integral): {t_exact:.2f} s, {args.events / t_exact:,.0f} events/s, "
        f"peak traced memory {peak / 2**20:.0f} MiB (edge index built once in {t_index:.2f} s)"
    )

    m = min(args.mc_events, args.events)
    pick = np.random.default_rng(3).choice(args.events, size=m, replace=False)
    near = pick[np.argsort(dist[pick] / sig_max[pick])]  # all kinds, nearest first
    t0 = time.perf_counter()
    mc = monte_carlo(territory, lon[near], lat[near], cov[near], args.mc_samples)
    t_mc = time.perf_counter() - t0
    diff = max(float(np.max(np.abs(mc[p] - probs[p][near]))) for p in territory.parties)
    z = max(
        float(
            np.max(
                np.abs(mc[p] - probs[p][near])
                / np.sqrt(np.maximum(mc[p] * (1 - mc[p]), 1e-6) / args.mc_samples)
            )
        )
        for p in territory.parties
    )
    print(
        f"naive Monte Carlo ({args.mc_samples:,} samples/event) on {m} events: {t_mc:.2f} s, "
        f"{m / t_mc:,.1f} events/s ({(args.events / t_exact) / (m / t_mc):,.0f}x slower); "
        f"max |exact - MC| = {diff:.5f}, max |z| = {z:.2f} over {2 * m} comparisons"
    )

    # The whole stage on spec Features: attribution (impacts follow their launches) + rules.
    feats = spec_features(lon, lat, cov)
    profile = load_profile()
    t0 = time.perf_counter()
    apply_attribution(feats, territory, profile)
    t_att = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate_rules(feats, territory, profile)
    t_rules = time.perf_counter() - t0
    again = spec_features(lon, lat, cov)
    peak2 = peak_memory(
        lambda: (apply_attribution(again, territory, profile), evaluate_rules(again, territory, profile))
    )
    n_v = sum(bool(f["properties"]["violations"]) for f in feats)
    named = sum(f["properties"]["responsible"] is not None for f in feats)
    print(
        f"stage on {len(feats):,} spec Features (launch/impact/sighting thirds): apply_attribution {t_att:.2f} s, "
        f"evaluate_rules {t_rules:.2f} s ({len(feats) / (t_att + t_rules):,.0f} events/s), peak traced memory "
        f"{peak2 / 2**20:.0f} MiB; {named:,} with a named party, {n_v:,} with violations"
    )


def peak_memory(fn) -> int:
    """Peak traced memory (bytes) of a call, measured in a separate run (tracing slows Python code)."""
    tracemalloc.start()
    fn()
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def spec_features(lon, lat, cov) -> list[dict]:
    """Spec section 4 Features: launches, impacts linked to the preceding launch, tank sightings."""
    feats = []
    for i in range(len(lon)):
        kind = ("launch", "impact", "weapon_sighting")[i % 3]
        props = {
            "id": f"E{i:06d}",
            "type": kind,
            "time": "2026-01-06T03:00:00Z",
            "cov_en_m2": cov[i].tolist(),
            "reports": [f"r{i}"],
        }
        if kind == "impact":
            props["launch_event"] = f"E{i - 1:06d}"
        if kind == "weapon_sighting":
            props["object"] = "tank"
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon[i], lat[i]]},
                "properties": props,
            }
        )
    return feats


if __name__ == "__main__":
    main()
