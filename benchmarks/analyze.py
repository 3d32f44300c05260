"""Throughput and memory of the analysis, beside a naive baseline, on the same input.

    uv run python benchmarks/analyze.py DIR [--baseline-max N] [--no-validate]
    uv run python benchmarks/analyze.py --simulate --intensity 41 --hours 24   # ~1M reports

DIR holds sensors.json and reports.jsonl (e.g. from `truceline simulate`). Prints reports/s
and peak memory for (1) validation (`truceline.ingest.validate_lines`, Ed25519 verification:
the ingest stage's cost, reported separately), (2) the analysis (`analyze_reports`), and
(3) a naive baseline: DBSCAN-like clustering of detections in (array east, north, c*t) with
scipy's cKDTree, then one `scipy.optimize.least_squares` per cluster (earliest detection per
array, no wind, no outlier handling), run on the first `--baseline-max` acoustic reports.
Peak memory is the maximum resident set (ru_maxrss) of the process (and, as "worker peak", of its
largest pool worker; forked workers count the pages they share with the parent), measured in child processes
so each figure stands alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ACCEPTED = ".bench_accepted.jsonl"  # the accepted reports handed from validation to the analysis


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _validate(d: str, q) -> None:

    from truceline.ingest import load_registry, validate_lines

    reg = load_registry(Path(d) / "sensors.json")
    lines = (Path(d) / "reports.jsonl").read_bytes().splitlines()
    t = time.perf_counter()
    res = validate_lines(lines, reg)
    dt = time.perf_counter() - t
    _write_accepted(d, res.accepted)
    q.put({"lines": len(lines), "accepted": len(res.accepted), "quarantined": len(res.quarantined),
           "seconds": dt, "peak_mb": _peak_mb()})


def _parse_only(d: str, q) -> None:
    """Without validation (--no-validate): keep the reports whose fields pass the schema
    check (spec section 2); signatures are not verified."""
    import orjson

    from truceline.ingest import load_registry
    from truceline.ingest.validate import check_schema

    reg = load_registry(Path(d) / "sensors.json")
    out = []
    for line in (Path(d) / "reports.jsonl").read_bytes().splitlines():
        try:
            r = orjson.loads(line)
            if isinstance(r, dict) and r.get("sensor") in reg and r.get("kind") == reg[r["sensor"]].kind:
                check_schema(r)
                out.append(r)
        except Exception:  # noqa: BLE001 - benchmark input filter only
            continue
    _write_accepted(d, out)
    q.put({"accepted": len(out)})


def _write_accepted(d: str, reports: list) -> None:
    import orjson

    with (Path(d) / ACCEPTED).open("wb") as fh:
        for r in reports:
            fh.write(orjson.dumps(r) + b"\n")


def _read_accepted(d: str):
    """The accepted reports, block by block (lists of dicts): never all as dicts at once."""
    import orjson

    with (Path(d) / ACCEPTED).open("rb") as fh:
        while block := fh.readlines(1 << 22):
            yield [orjson.loads(x) for x in block]


class _PssSampler:
    """Peak of the summed proportional set size (PSS: shared pages split between the
    processes sharing them) of this process and its children (pool workers), sampled every
    0.2 s: the memory the whole analysis takes from the machine."""

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pss_kb(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _pids(self) -> list[int]:
        me = os.getpid()
        out = [me]
        try:
            for task in os.listdir(f"/proc/{me}/task"):
                with open(f"/proc/{me}/task/{task}/children") as fh:
                    out += [int(x) for x in fh.read().split()]
        except OSError:
            pass
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_mb = max(self.peak_mb, sum(self._pss_kb(p) for p in self._pids()) / 1024.0)

    def __enter__(self) -> _PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _analyze(d: str, workers: int | None, q) -> None:

    from truceline.analysis import analyze_reports
    from truceline.analysis.reportset import ReportSet
    from truceline.geo.territory import default_territory_path, load_territory
    from truceline.ingest import load_registry
    from truceline.profile import load_profile

    reg = load_registry(Path(d) / "sensors.json")
    # as `truceline analyze` holds them: acoustic reports in columns, the rest as dicts
    reps = ReportSet()
    for block in _read_accepted(d):
        reps.extend(block)
    reps.finish()
    # as `truceline analyze` does: the packaged territory and default profile, so that the
    # attribution and rules stage is part of the figure (stats["timings_s"]["attribution_rules"])
    territory, profile = load_territory(default_territory_path()), load_profile()
    base = _peak_mb()
    cpu0 = _cpu_s()
    t = time.perf_counter()
    stats: dict = {}
    with _PssSampler() as pss:
        ev = analyze_reports(reps, reg, territory=territory, profile=profile, stats=stats, workers=workers)
    dt = time.perf_counter() - t
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    q.put({"reports": len(reps), "events": len(ev), "seconds": dt, "cpu_s": _cpu_s() - cpu0, "peak_mb": _peak_mb(),
           "input_mb": base, "worker_peak_mb": kids, "total_pss_peak_mb": pss.peak_mb, "load_avg": os.getloadavg(),
           "stats": {k: v for k, v in stats.items() if not k.startswith("_")}})


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished pool workers: the cost
    independent of what else runs on a shared machine."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _baseline(d: str, limit: int, q) -> None:
    from scipy.optimize import least_squares
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    from truceline.analysis import geodesy
    from truceline.formats import parse_time
    from truceline.ingest import load_registry

    reg = load_registry(Path(d) / "sensors.json")
    reps = [r for block in _read_accepted(d) for r in block if r["kind"] == "acoustic"
            and getattr(reg.get(r["sensor"]), "lon", None) is not None and getattr(reg.get(r["sensor"]), "lat", None)
            is not None]  # fixed arrays only, as the analysis
    reps.sort(key=lambda r: r["time"])
    reps = reps[:limit]
    t = time.perf_counter()
    ids = sorted({r["sensor"] for r in reps})
    ai = {s: i for i, s in enumerate(ids)}
    lon = np.array([reg[s].lon for s in ids])
    lat = np.array([reg[s].lat for s in ids])
    X, Y, _ = geodesy.project_region(lon, lat)
    a = np.array([ai[r["sensor"]] for r in reps])
    tt = np.array([parse_time(r["time"]) for r in reps])
    tt -= tt.min()
    pts = np.c_[X[a], Y[a], tt * 340.0]
    # DBSCAN-like: core points have >= 4 neighbours within eps; clusters = connected cores
    eps = 12000.0
    tree = cKDTree(pts)
    pairs = tree.query_pairs(eps, output_type="ndarray")
    deg = np.bincount(pairs.ravel(), minlength=len(pts))
    core = deg >= 3
    pc = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    g = coo_matrix((np.ones(len(pc)), (pc[:, 0], pc[:, 1])), shape=(len(pts), len(pts)))
    _, lab = connected_components(g, directed=False)
    lab = np.where(core, lab, -1)
    n_ev = 0
    for c in np.unique(lab[lab >= 0]):
        idx = np.nonzero(lab == c)[0]
        # earliest detection per array
        o = idx[np.lexsort((tt[idx], a[idx]))]
        first = np.r_[True, a[o][1:] != a[o][:-1]]
        o = o[first]
        if o.size < 4:
            continue
        ax, ay, at = X[a[o]], Y[a[o]], tt[o]

        def f(p, ax=ax, ay=ay, at=at):
            return at - (p[2] + np.hypot(ax - p[0], ay - p[1]) / 340.0)

        p0 = [ax.mean(), ay.mean(), at.min() - 5.0]
        least_squares(f, p0)
        n_ev += 1
    dt = time.perf_counter() - t
    q.put({"reports": len(reps), "events": n_ev, "seconds": dt, "peak_mb": _peak_mb()})


def _run(target, *args):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    import queue

    while True:
        try:
            out = q.get(timeout=1.0)
            break
        except queue.Empty:
            if not p.is_alive():
                raise RuntimeError(f"{target.__name__} failed (exit code {p.exitcode})") from None
    p.join()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", type=Path)
    ap.add_argument("--simulate", action="store_true")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--intensity", type=float, default=41.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--baseline-max", type=int, default=50000, help="acoustic reports given to the naive baseline")
    ap.add_argument("--no-validate", action="store_true", help="skip signature verification (schema check only)")
    ap.add_argument("--workers", type=int, default=None, help="analysis processes (default: cores, at most 4)")
    args = ap.parse_args(argv)
    d = args.dir
    if args.simulate:
        import tempfile

        from truceline.sim import simulate

        d = d or Path(tempfile.mkdtemp(prefix="truceline-bench-"))
        simulate(None, None, hours=args.hours, seed=args.seed, intensity=args.intensity, out_dir=d, keep_lines=False)
    if d is None:
        ap.error("give DIR or --simulate")
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if args.no_validate:
        _run(_parse_only, str(d))
        val = None
    else:
        val = _run(_validate, str(d))
    an = _run(_analyze, str(d), args.workers)
    print(json.dumps({"analyze": an}, default=str), flush=True)
    base = None
    if args.baseline_max > 0:
        try:
            base = _run(_baseline, str(d), args.baseline_max)
        except RuntimeError as exc:  # the baseline is a reference only; never lose the main figures
            print(f"baseline failed: {exc}", flush=True)
    table = Table(title=f"analysis benchmark: {d}")
    for col in ("stage", "reports", "seconds", "CPU s", "reports/s", "peak MB", "worker peak MB", "all processes MB",
                "events"):
        table.add_column(col, justify="right")
    if val:
        table.add_row("validate (ingest)", f"{val['lines']:,}", f"{val['seconds']:.1f}", "",
                      f"{val['lines'] / val['seconds']:,.0f}", f"{val['peak_mb']:.0f}", "", "", "")
    table.add_row("analyze", f"{an['reports']:,}", f"{an['seconds']:.1f}", f"{an['cpu_s']:.0f}",
                  f"{an['reports'] / an['seconds']:,.0f}",
                  f"{an['peak_mb']:.0f}", f"{an['worker_peak_mb']:.0f}", f"{an['total_pss_peak_mb']:.0f}",
                  f"{an['events']:,}")
    if base:
        table.add_row("naive baseline (acoustic only)", f"{base['reports']:,}", f"{base['seconds']:.1f}", "",
                      f"{base['reports'] / max(base['seconds'], 1e-9):,.0f}", f"{base['peak_mb']:.0f}", "", "",
                      f"{base['events']:,}")
    con.print(table)
    print(json.dumps({"validate": val, "analyze": an, "baseline": base}, default=str))
    (Path(d) / ACCEPTED).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
