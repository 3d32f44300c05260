"""Benchmark `truceline.sim.simulate`: reports/s and peak memory, beside a naive baseline.

The baseline is the obvious implementation of the signing step alone: for each report
object, `rfc8785.dumps` + `cryptography` Ed25519 `sign` + `json.dumps` of the line, one
process, measured on a sample of the same scenario's reports.

    uv run python benchmarks/simulate.py                     # one day, ~1M reports
    uv run python benchmarks/simulate.py --hours 2 --intensity 5   # quick
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--intensity", type=float, default=41.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--baseline-sample", type=int, default=20000)
    args = ap.parse_args()

    from truceline.sim import simulate

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cpu0 = _cpu()
        t = time.perf_counter()
        sc = simulate(None, None, hours=args.hours, seed=args.seed, intensity=args.intensity, out_dir=out,
                      workers=args.workers, keep_lines=False)
        wall = time.perf_counter() - t
        cpu = _cpu() - cpu0
        n = sc.truth["counts"]["lines"]
        size = (out / "reports.jsonl").stat().st_size
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"scenario: {args.hours} h, intensity {args.intensity}, seed {args.seed}, "
              f"{os.cpu_count()} CPUs, workers={args.workers or os.cpu_count()}")
        print(f"simulate: {n:,} lines ({sc.truth['counts']['reports']:,} reports, {size / 1e6:.0f} MB) "
              f"in {wall:.1f} s = {n / wall:,.0f} reports/s; stages {sc.stats}")
        print(f"peak RSS: main {peak_self:.0f} MB, largest worker {peak_child:.0f} MB")
        print(f"CPU time (main + workers): {cpu:.1f} s = {cpu / n * 1e6:.1f} us per report "
              f"(wall-clock figures depend on what else runs on the machine; load now "
              f"{os.getloadavg()[0]:.1f})")

        # naive baseline on a sample of the same reports
        import rfc8785
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        keys = {sid: Ed25519PrivateKey.from_private_bytes(base64.b64decode(k)) for sid, k in sc.keys.items()}
        sample = []
        with open(out / "reports.jsonl", "rb") as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if isinstance(r, dict) and r.get("sensor") in keys and "sig" in r:
                    r.pop("sig")
                    sample.append(r)
                if len(sample) >= args.baseline_sample:
                    break
        t = time.perf_counter()
        c0 = time.process_time()
        lines = []
        for r in sample:
            sig = keys[r["sensor"]].sign(rfc8785.dumps(r))
            lines.append(json.dumps({**r, "sig": base64.b64encode(sig).decode()}))
        base = time.perf_counter() - t
        base_cpu = time.process_time() - c0
        rate = len(sample) / base
        print(f"naive baseline (rfc8785 + cryptography sign + json.dumps, 1 process, signing only): "
              f"{rate:,.0f} reports/s, {base_cpu / len(sample) * 1e6:.1f} us CPU per report -> "
              f"{n / rate:.0f} s for these {n:,} lines without any physics")
        print(f"CPU per report: whole simulator {cpu / n * 1e6:.1f} us vs naive signing alone "
              f"{base_cpu / len(sample) * 1e6:.1f} us ({base_cpu / len(sample) / (cpu / n):.1f}x); "
              f"wall-clock speed-up {(n / wall) / rate:.1f}x")


if __name__ == "__main__":
    main()
