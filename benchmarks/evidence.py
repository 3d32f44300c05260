"""Evidence log: append throughput, proof latency and audit speed at N leaves.

    uv run python benchmarks/evidence.py [--n 1000000] [--db URL]

Appends N synthetic entries (batches of 2,000, one transaction each) to a fresh store,
then times inclusion proofs and consistency proofs for random leaves and sizes, beside a
naive baseline measured in the same run: computing the same inclusion path by rebuilding
the tree from all N leaf hashes in memory (what a log without persisted nodes does).
Finally times `log audit` (full recomputation) and prints peak memory.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", default=None)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from truceline.evidence import merkle
    from truceline.evidence.audit import audit
    from truceline.evidence.log import Appender, LogRow, consistency_proof, inclusion_proof
    from truceline.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/evidence.sqlite"
        with open_store(url) as store:
            appender = Appender()
            leaves = []
            t = time.perf_counter()
            for start in range(0, args.n, 2000):
                rows = []
                for i in range(start, min(start + 2000, args.n)):
                    entry = b'{"id":"e%09d","payload":"%s"}' % (i, hashlib.sha256(b"%d" % i).hexdigest().encode())
                    leaf = merkle.leaf_hash(entry)
                    leaves.append(leaf)
                    rows.append(LogRow("bench", f"e{i:09d}", entry, leaf))
                with store.write() as conn:
                    appender.sync(conn)
                    appender.append(conn, rows)
            elapsed = time.perf_counter() - t
            print(f"append: {args.n:,} leaves in {elapsed:.1f} s = {args.n / elapsed:,.0f} leaves/s "
                  f"(hash + entries + nodes, 2,000 per transaction)")
            rng = random.Random(3)
            times = []
            for _ in range(args.proofs):
                i = rng.randrange(args.n)
                t = time.perf_counter()
                proof = inclusion_proof(store, f"e{i:09d}", size=args.n)
                times.append(time.perf_counter() - t)
            times.sort()
            root = merkle.root_of_leaves(leaves) if args.n <= 200_000 else None
            print(f"inclusion proof (store, {args.n:,} leaves): median {times[len(times) // 2] * 1e3:.2f} ms, "
                  f"p99 {times[int(len(times) * 0.99)] * 1e3:.2f} ms, max {times[-1] * 1e3:.2f} ms")
            t = time.perf_counter()
            merkle.inclusion_path(proof["leaf_index"], args.n, merkle.leaves_block(leaves))
            naive = time.perf_counter() - t
            print(f"naive baseline (rebuild from all {args.n:,} leaf hashes in memory): {naive * 1e3:,.0f} ms per proof")
            ctimes = []
            for _ in range(200):
                a = rng.randrange(1, args.n)
                b = rng.randrange(a, args.n + 1)
                t = time.perf_counter()
                consistency_proof(store, a, b)
                ctimes.append(time.perf_counter() - t)
            ctimes.sort()
            print(f"consistency proof: median {ctimes[len(ctimes) // 2] * 1e3:.2f} ms, max {ctimes[-1] * 1e3:.2f} ms")
            if root is not None:
                assert merkle.verify_inclusion(leaves[proof["leaf_index"]], proof["leaf_index"], args.n,
                                               [__import__("base64").b64decode(p) for p in proof["inclusion_path"]],
                                               root)
            t = time.perf_counter()
            result = audit(store)
            print(f"audit: {'PASS' if result.ok else 'FAIL'} over {result.entries:,} leaves in "
                  f"{time.perf_counter() - t:.1f} s")
            print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
