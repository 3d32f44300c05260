"""Ingest throughput: N signed reports into a fresh SQLite store, signatures checked.

    uv run python benchmarks/ingest.py [--n 1000000] [--workers N] [--db URL]

Prints, side by side: the floor (orjson parse of every line, nothing else), a naive
baseline on a sample (json + rfc8785 + `cryptography` verify, one process, no store),
and the real `ingest_file` (block reads, parse, validate, JCS, Ed25519 with libsodium's
acceptance rule via ed25519-dalek in a process pool, de-duplication, batched inserts,
Merkle log, signed head): reports/s and peak memory (this process and its worker
processes). Then the CPU budget per report, stage by stage: the main process's stages
timed during the run (thread CPU time), the workers' stages on a 20,000-line sample
(best of 3). Then inclusion-proof latency for random leaves of the resulting log.
Generates its own signed reports (cached in /tmp). Other load on the machine slows
every figure: compare the printed load average.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson
import rfc8785
from nacl.signing import SigningKey

KINDS = ("acoustic", "radar", "uav", "satellite", "monitor")


def _sensor_key(i: int) -> SigningKey:
    return SigningKey(i.to_bytes(4, "big") * 8)


def _body(kind: str, rng: random.Random) -> dict:
    lat, lon = round(rng.uniform(46.0, 50.0), 7), round(rng.uniform(33.0, 39.0), 7)
    cov = [[round(rng.uniform(500, 3000), 1), 12.5], [12.5, round(rng.uniform(500, 3000), 1)]]
    if kind == "acoustic":
        return {"class": rng.choice(["launch", "impact", "unknown"]), "azimuth_deg": round(rng.uniform(0, 360), 2),
                "air_temp_c": round(rng.uniform(-10, 10), 1), "snr_db": round(rng.uniform(5, 40), 1)}
    if kind == "radar":
        return {"launch": {"lat": lat, "lon": lon, "cov_en_m2": cov},
                "impact": {"lat": lat + 0.05, "lon": lon + 0.05, "cov_en_m2": cov},
                "launch_time": "2026-01-06T00:01:48.748790Z", "impact_time": "2026-01-06T00:02:08.632334Z",
                "projectile": rng.choice(["mortar", "shell", "rocket"])}
    if kind == "uav":
        return {"lat": lat, "lon": lon, "cep_m": round(rng.uniform(5, 50), 1), "object": "tank",
                "confidence": round(rng.random(), 3)}
    if kind == "satellite":
        return {"lat": lat, "lon": lon, "radius_m": 187.5, "frp_mw": round(rng.uniform(0.5, 30), 2),
                "confidence": "nominal"}
    return {"lat": lat, "lon": lon, "category": "shelling", "text": "heard several explosions to the east"}


def _make_chunk(args: tuple[int, int, int]) -> bytes:
    start, stop, n_sensors = args
    rng = random.Random(start)
    keys = {}
    out = []
    for i in range(start, stop):
        s = i % n_sensors
        kind = KINDS[s % len(KINDS)]
        key = keys.get(s) or keys.setdefault(s, _sensor_key(s))
        secs = i * 0.05
        report = {"id": f"r{i:09d}", "sensor": f"s{s:04d}", "kind": kind, "seq": i // n_sensors,
                  "time": f"2026-01-06T{int(secs // 3600) % 24:02d}:{int(secs // 60) % 60:02d}:{secs % 60:09.6f}Z",
                  "body": _body(kind, rng)}
        report["sig"] = base64.b64encode(key.sign(rfc8785.dumps(report)).signature).decode()
        out.append(orjson.dumps(report))
    return b"\n".join(out) + b"\n"


def generate(n: int, n_sensors: int, directory: Path) -> tuple[Path, Path]:
    reports = directory / f"bench_reports_{n}.jsonl"
    sensors = directory / f"bench_sensors_{n_sensors}.json"
    sensors.write_text(json.dumps([
        {"id": f"s{s:04d}", "kind": KINDS[s % len(KINDS)],
         "public_key": base64.b64encode(bytes(_sensor_key(s).verify_key)).decode()} for s in range(n_sensors)]))
    if not reports.exists():
        step = 20000
        tasks = [(a, min(a + step, n), n_sensors) for a in range(0, n, step)]
        tmp = reports.with_suffix(".tmp")
        with multiprocessing.Pool() as pool, tmp.open("wb") as fh:
            for data in pool.imap(_make_chunk, tasks):
                fh.write(data)
        tmp.rename(reports)
    return reports, sensors


def peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (the pool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def floor(path: Path) -> float:
    t = time.perf_counter()
    n = 0
    with path.open("rb") as fh:
        for line in fh:
            orjson.loads(line)
            n += 1
    return n / (time.perf_counter() - t)


def naive(path: Path, sensors: Path, sample: int = 5000) -> float:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = {s["id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(s["public_key"]))
            for s in json.loads(sensors.read_text())}
    with path.open("rb") as fh:
        lines = [next(fh) for _ in range(sample)]
    t = time.perf_counter()
    for line in lines:
        report = json.loads(line)
        sig = base64.b64decode(report.pop("sig"))
        keys[report["sensor"]].verify(sig, rfc8785.dumps(report))
    return sample / (time.perf_counter() - t)


class StageTimer:
    """Thread-CPU time spent in wrapped functions of the main process (per call, so the
    wrapping costs nothing measurable: the wrapped calls are per chunk, not per line)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, owner: object, attr: str, name: str) -> None:
        fn = getattr(owner, attr)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.thread_time() - t

        setattr(owner, attr, timed)


def instrument_main() -> StageTimer:
    import sqlalchemy

    from truceline.evidence import log, merkle
    from truceline.ingest import pipeline, store_sink

    timer = StageTimer()
    timer.wrap(pipeline.Deduplicator, "classify", "de-duplication (classify)")
    timer.wrap(merkle.CompactRange, "extend", "Merkle hashing (extend)")
    timer.wrap(log, "bulk_insert", "SQL inserts: log entries + nodes")
    timer.wrap(store_sink, "bulk_insert", "SQL inserts: reports")
    timer.wrap(sqlalchemy.engine.Connection, "commit", "SQL commit")
    return timer


def worker_stages(path: Path, sensors: Path, sample: int = 20000) -> list[tuple[str, float]]:
    """Per-report CPU of each stateless stage, one process, on the first `sample` lines."""
    import hashlib
    import itertools
    import pickle

    from truceline.ingest import ed25519, load_registry, validate
    from truceline.ingest.pipeline import _numbered_block, registry_keys
    from truceline.jcs import canonical_bytes_checked

    keys = registry_keys(load_registry(sensors))
    with path.open("rb") as fh:
        block = b"".join(itertools.islice(fh, sample))
    lines = _numbered_block(1, block.split(b"\n"))
    raws = [r for _, r in lines]
    reports = [validate.parse_line(r) for r in raws]
    entries = [canonical_bytes_checked(r) for r in reports]
    messages = [validate._without_sig(e, r) for e, r in zip(entries, reports, strict=True)]
    sigs = [validate.check_schema(r)[1] for r in reports]
    pks = [keys[r["sensor"]][1] for r in reports]
    outcomes = validate.check_chunk(lines, keys)

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(3):
            t = time.process_time()
            fn()
            times.append(time.process_time() - t)
        return min(times) / len(raws) * 1e6

    return [
        ("split + number lines", best(lambda: _numbered_block(1, block.split(b"\n")))),
        ("parse (orjson + checks)", best(lambda: [validate.parse_line(r) for r in raws])),
        ("schema", best(lambda: [validate.check_schema(r) for r in reports])),
        ("RFC 8785 bytes", best(lambda: [canonical_bytes_checked(r) for r in reports])),
        ("duplicate-key count", best(lambda: [validate.raw_key_count(r) for r in raws])),
        ("signed message (cut sig)", best(lambda: [validate._without_sig(e, r) for e, r in zip(entries, reports, strict=True)])),
        ("Ed25519 verify (dalek, libsodium rule)",
         best(lambda: [ed25519.verify(s, m, k) for s, m, k in zip(sigs, messages, pks, strict=True)])),
        ("  for reference: libsodium verify",
         best(lambda: [ed25519.sodium_verify(s, m, k) for s, m, k in zip(sigs, messages, pks, strict=True)])),
        ("leaf hash", best(lambda: [hashlib.sha256(b"\x00" + e).digest() for e in entries])),
        ("whole check_line", best(lambda: validate.check_chunk(lines, keys))),
        ("pickle + unpickle outcomes", best(lambda: pickle.loads(pickle.dumps(outcomes, protocol=5)))),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from truceline.evidence import inclusion_proof
    from truceline.ingest import ingest_file, load_registry
    from truceline.store import open_store

    cache = Path(tempfile.gettempdir()) / "truceline-bench"
    cache.mkdir(exist_ok=True)
    t = time.perf_counter()
    reports, sensors = generate(args.n, args.sensors, cache)
    print(f"input: {args.n:,} signed reports, {reports.stat().st_size / 1e6:.0f} MB ({time.perf_counter() - t:.1f} s "
          f"to generate or load)")
    print(f"floor  (orjson.loads only):                  {floor(reports):>10,.0f} reports/s")
    print(f"naive  (json + rfc8785 + cryptography, 1 proc): {naive(reports, sensors):>7,.0f} reports/s (sample)")

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.sqlite"
        registry = load_registry(sensors)
        timer = instrument_main()
        with open_store(url) as store:
            own0 = resource.getrusage(resource.RUSAGE_SELF)
            main_thread0 = time.thread_time()
            cpu0 = _cpu()
            t = time.perf_counter()
            summary = ingest_file(reports, registry, store, workers=args.workers)
            elapsed = time.perf_counter() - t
            cpu = _cpu() - cpu0
            own1 = resource.getrusage(resource.RUSAGE_SELF)
            main_cpu = own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime
            main_thread = time.thread_time() - main_thread0
            own, children = peak_mb()
            print(f"ingest (truceline, {store.dialect}, signatures checked): {summary.accepted / elapsed:>7,.0f} reports/s "
                  f"({summary.accepted:,} accepted in {elapsed:.1f} s; peak RSS {own:.0f} MB main, "
                  f"{children:.0f} MB largest worker)")
            cores = os.cpu_count() or 1
            print(f"       CPU {cpu / args.n * 1e6:.0f} us per report (main + workers; a database server's own CPU "
                  f"not counted), i.e. at most "
                  f"{args.n / cpu * cores:,.0f} reports/s on {cores} otherwise idle cores "
                  f"(load average now {os.getloadavg()[0]:.1f})")
            us = 1e6 / args.n
            print(f"       main process {main_cpu * us:.1f} us/report CPU (main thread {main_thread * us:.1f}, "
                  f"pool threads: sending chunks, unpickling outcomes {(main_cpu - main_thread) * us:.1f}):")
            for name, spent in timer.spent.items():
                print(f"         {name:<38} {spent * us:6.1f} us")
            print(f"         {'other (read, dispatch, rows, ...)':<38} "
                  f"{(main_thread - sum(timer.spent.values())) * us:6.1f} us")
            print(f"       workers {(cpu - main_cpu) * us:.1f} us/report CPU; stages measured on a sample, one process:")
            for name, value in worker_stages(reports, sensors):
                print(f"         {name:<38} {value:6.1f} us")
            assert summary.accepted == args.n, summary.to_json()
            rng = random.Random(1)
            times = []
            for _ in range(args.proofs):
                rid = f"r{rng.randrange(args.n):09d}"
                t = time.perf_counter()
                inclusion_proof(store, rid)
                times.append(time.perf_counter() - t)
            times.sort()
            print(f"inclusion proof over {args.n:,} leaves: median {times[len(times) // 2] * 1e3:.2f} ms, "
                  f"p99 {times[int(len(times) * 0.99)] * 1e3:.2f} ms, max {times[-1] * 1e3:.2f} ms "
                  f"({args.proofs} random leaves)")
            if url.startswith("sqlite"):
                raw = store.engine.raw_connection()  # autocommit: a checkpoint cannot run in a transaction
                try:
                    raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
                size = sum(f.stat().st_size for f in Path(tmp).glob("bench.sqlite*"))
                print(f"store size: {size / 1e6:.0f} MB ({size / args.n:.0f} B/report)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
