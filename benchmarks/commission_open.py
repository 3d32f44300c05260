"""Throughput of opening cases from an events file (`case open-from`), beside a naive
baseline (one transaction, one group lookup and one case per event), in the same run.

    uv run python benchmarks/commission_open.py [N_EVENTS]

Prints events/s and peak Python memory for both; synthetic events (30 days, 4 rules,
2 parties + undetermined, random positions along a 1,000 km band).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def make_events(n: int, seed: int = 1):  # type: ignore[no-untyped-def]
    from truceline.commission.events import parse_events
    from truceline.formats import format_time

    rng = np.random.default_rng(seed)
    t0 = 1767657600.0
    feats = []
    rules = ["fire.launch", "fire.impact", "buffer.presence", "withdrawal.tank"]
    for i in range(n):
        party = rng.choice(["RU", "UA", None], p=[0.5, 0.3, 0.2])
        p = float(rng.uniform(0.96, 1.0)) if party else float(rng.uniform(0.3, 0.9))
        viol = [] if rng.random() < 0.3 else [str(rng.choice(rules))]
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
            float(rng.uniform(32.0, 38.5)), float(rng.uniform(46.5, 50.0))]}, "properties": {
            "id": f"ev-{i:07d}", "type": "launch", "time": format_time(t0 + float(rng.uniform(0, 30 * 86400))),
            "cov_en_m2": [[100.0, 0.0], [0.0, 100.0]], "attribution": {party or "RU": p},
            "responsible": party, "violations": viol, "reports": [f"r-{i}"]}})
    return parse_events({"type": "FeatureCollection", "features": feats}, "bench")


def naive(store, events, ctx) -> int:  # type: ignore[no-untyped-def]
    """Baseline: events fed one at a time (one transaction and one set of lookups each)."""
    from truceline.commission.service import open_cases_from_events

    return sum(len(open_cases_from_events(store, "analyst", [ev], ctx).opened) for ev in events)


def measure(label: str, fn, n: int) -> None:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    t = time.perf_counter()
    cases = fn()
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:10s} {n:7d} events -> {cases:6d} cases in {dt:7.2f} s = {n / dt:9.0f} events/s, "
          f"peak {peak / 2**20:6.1f} MiB")


def main() -> None:
    from truceline.commission.service import make_context, open_cases_from_events
    from truceline.store import open_store

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    events = make_events(n)
    ctx = make_context()
    with tempfile.TemporaryDirectory() as tmp:
        s1 = open_store(f"sqlite:///{Path(tmp) / 'a.sqlite'}")
        measure("grouped", lambda: len(open_cases_from_events(s1, "analyst", events, ctx).opened), n)
        s2 = open_store(f"sqlite:///{Path(tmp) / 'b.sqlite'}")
        m = min(n, 2000)  # the baseline is slow: measure it on a prefix
        measure("naive", lambda: naive(s2, events[:m], ctx), m)
        s1.close()
        s2.close()


if __name__ == "__main__":
    main()
