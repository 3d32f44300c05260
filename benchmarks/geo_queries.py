"""Benchmark: party lookup and signed distance to the line for 1,000,000 points.

Points are drawn uniformly along the main line of the shipped 2026-01-06 territory and
offset perpendicular by up to +-50 km. The vectorized path (`Territory.party_at`,
`Territory.signed_distance_m`) is timed on all of them; a naive per-point Shapely loop
(`polygon.contains(Point)`, nearest point by `shapely.ops.nearest_points`, geodesic
distance with pyproj) runs on a 10,000-point sample in the same run and is extrapolated.
Peak memory is tracemalloc's peak of Python/NumPy allocations during the vectorized run
plus the process's max RSS (resource.getrusage).

    uv run python benchmarks/geo_queries.py [--n 1000000] [--naive 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from truceline.geo import GEOD, default_territory_path, geodesic_forward, load_territory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--naive", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    terr = load_territory(default_territory_path())
    line = terr.contact_line
    print(
        f"load + line of contact: {time.perf_counter() - t0:.2f} s ({line.length_m / 1000:,.1f} km, {len(line.parts)} parts)"
    )

    rng = np.random.default_rng(args.seed)
    km = rng.uniform(0, line.part_lengths_m[0] / 1000, args.n)
    off = rng.uniform(-50_000, 50_000, args.n)
    lon, lat, az = line.point_at(km, 0)
    lon, lat = geodesic_forward(lon, lat, az + 90.0, off)

    # timing run (no tracing: tracemalloc slows every NumPy allocation down)
    c0 = time.process_time()
    t0 = time.perf_counter()
    party = terr.party_at(lon, lat)
    t1 = time.perf_counter()
    signed = terr.signed_distance_m(lon, lat, "UA")
    t2 = time.perf_counter()
    vec_s = t2 - t0
    cpu_s = time.process_time() - c0
    # memory run: the same calls under tracemalloc
    tracemalloc.start()
    terr.party_at(lon, lat)
    terr.signed_distance_m(lon, lat, "UA")
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = args.n
    print(f"\nvectorized, {n:,} points within 50 km of the line")
    print(f"  party_at          {t1 - t0:6.2f} s  {n / (t1 - t0):>12,.0f} points/s")
    print(f"  signed_distance_m {t2 - t1:6.2f} s  {n / (t2 - t1):>12,.0f} points/s")
    print(f"  both              {vec_s:6.2f} s  {n / vec_s:>12,.0f} points/s")
    print(
        f"  tracemalloc peak  {peak / 2**20:6.0f} MiB;  max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
    )
    print(
        f"  CPU time {cpu_s:.2f} s (all threads); 1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    # naive baseline: one Shapely call per point
    m = min(args.naive, n)
    polys = {p: terr.polygon(p) for p in terr.parties}
    merged = shapely.MultiLineString([np.asarray(g.coords) for g in line.parts])
    t0 = time.perf_counter()
    naive_party = []
    naive_dist = []
    for x, y in zip(lon[:m], lat[:m], strict=True):
        pt = Point(x, y)
        naive_party.append(next((p for p, g in polys.items() if g.contains(pt)), ""))
        q = nearest_points(merged, pt)[0]  # planar nearest in degrees: the naive way
        naive_dist.append(GEOD.inv(x, y, q.x, q.y)[2])
    tn = time.perf_counter() - t0
    print(
        f"\nnaive per-point Shapely loop on {m:,} points: {tn:.2f} s -> {m / tn:,.0f} points/s; "
        f"extrapolated to {n:,}: {tn * n / m:,.0f} s"
    )
    print(f"speed-up: {tn * n / m / vec_s:,.0f}x")
    agree = np.mean(np.array(naive_party, dtype=object) == party[:m])
    rel = np.abs(np.abs(signed[:m]) - np.array(naive_dist)) / np.maximum(np.array(naive_dist), 1.0)
    print(
        f"agreement with naive: party {agree:.4%}; distance median rel. diff {np.median(rel):.2e}, "
        f"max {rel.max():.2e} (naive picks the nearest point in degrees, not metres)"
    )


if __name__ == "__main__":
    main()
