"""Analysis time of two revisions, interleaved on the same input.

    uv run python benchmarks/compare_analyze.py DIR --base REV [--pairs 2] [--hours H] [--workers N]

This machine's speed drifts by 30-50 % within an hour (it is shared), so a figure measured
now and one measured an hour ago do not compare. This script runs `analyze_reports` on the
same reports alternately with the revision `REV` (checked out into a temporary git worktree)
and with the working tree, `--pairs` times each, and prints for every run the wall time, the
CPU time (user + system, pool workers included) and a digest of the events (ids, positions,
named parties): equal digests mean the two revisions give identical events.

DIR holds sensors.json and reports.jsonl (`truceline simulate`); the reports that pass the
schema check (spec section 2, signatures not verified, as `analyze.py --no-validate`) are
handed over as `truceline analyze` does: a `ReportSet`, the packaged territory and profile.
`--hours` keeps the first H hours only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run in a fresh interpreter with PYTHONPATH pointing at one revision's src/
_CHILD = r"""
import hashlib, json, resource, sys, time
import orjson
from pathlib import Path
from truceline.analysis.pipeline import analyze_reports
from truceline.analysis.reportset import ReportSet
from truceline.formats import parse_time
from truceline.geo.territory import default_territory_path, load_territory
from truceline.ingest import load_registry
from truceline.profile import load_profile

d, accepted, hours, workers = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
reg = load_registry(d / "sensors.json")
reps, block, t_first = ReportSet(), [], None
for line in accepted.read_bytes().splitlines():
    r = orjson.loads(line)
    if hours > 0:
        t = parse_time(r["time"])
        t_first = t if t_first is None else t_first
        if t - t_first > hours * 3600.0:
            continue
    block.append(r)
    if len(block) >= 50_000:
        reps.extend(block)
        block = []
reps.extend(block)
reps.finish()
territory, profile = load_territory(default_territory_path()), load_profile()

def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

c0, t0 = cpu(), time.perf_counter()
ev = analyze_reports(reps, reg, territory=territory, profile=profile, workers=workers or None)
wall, cpu_s = time.perf_counter() - t0, cpu() - c0
digest = hashlib.sha256("".join(sorted(f"{e.id}{e.lon:.7f}{e.lat:.7f}{e.responsible}" for e in ev)).encode())
print(json.dumps({"reports": len(reps), "events": len(ev), "wall_s": round(wall, 1), "cpu_s": round(cpu_s, 1),
                  "digest": digest.hexdigest()[:12]}))
"""


def _accepted_file(d: Path, out: Path) -> None:
    """The reports of DIR that pass the schema check, one per line (as `analyze.py`)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import analyze

    class _Sink:
        def put(self, _x):
            pass

    analyze._parse_only(str(d), _Sink())
    (d / analyze.ACCEPTED).replace(out)


def _run(src: Path, d: Path, accepted: Path, hours: float, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    res = subprocess.run([sys.executable, "-c", _CHILD, str(d), str(accepted), str(hours), str(workers)],
                         env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
    if res.returncode != 0:
        raise SystemExit(f"error: the run with {src} failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--base", required=True, help="git revision to compare the working tree with")
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--hours", type=float, default=0.0, help="first H hours only (0: all)")
    ap.add_argument("--workers", type=int, default=0, help="analysis processes (0: the default)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.base], check=True)
        try:
            accepted = Path(tmp) / "accepted.jsonl"
            _accepted_file(args.dir, accepted)
            trees = {"base": tree / "src", "work": ROOT / "src"}
            _run(trees["base"], args.dir, accepted, min(args.hours, 0.1) or 0.1, args.workers)  # compile caches
            rows = []
            for i in range(args.pairs):
                for name, src in trees.items():
                    r = _run(src, args.dir, accepted, args.hours, args.workers)
                    rows.append((name, r))
                    print(f"{i + 1} {name:4s} wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  "
                          f"events {r['events']:,}  digest {r['digest']}  ({r['reports']:,} reports)", flush=True)
            for name in trees:
                w = [r["wall_s"] for n, r in rows if n == name]
                c = [r["cpu_s"] for n, r in rows if n == name]
                print(f"{name}: wall {min(w):.1f}-{max(w):.1f} s, cpu {min(c):.1f}-{max(c):.1f} s")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
