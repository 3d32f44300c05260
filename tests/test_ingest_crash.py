"""SIGKILL at random moments during ingest: nothing accepted is lost or duplicated, and
the log stays consistent with the head signed before the run. On both backends (the
`store_url` fixture: a SQLite file, and a fresh schema of the PostgreSQL test cluster)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from common import SensorNet, jsonl
from truceline import formats
from truceline.evidence import consistency_proof, sign_head
from truceline.evidence.audit import audit
from truceline.evidence.keys import log_public_key
from truceline.evidence.verify import verify_consistency_files
from truceline.ingest import ingest_lines
from truceline.store import open_store
from truceline.store.log_tables import log_entries
from truceline.store.reports import quarantine, reports

CHILD = """
import sys
from truceline.ingest import ingest_file, registry_from_json
from truceline.store import open_store
import json
registry = registry_from_json(json.load(open(sys.argv[2])))
with open_store(sys.argv[1]) as store:
    ingest_file(sys.argv[3], registry, store, workers=1, chunk_lines=50)
print("done")
"""


def _counts(store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        n_reports = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
        n_distinct = conn.execute(sa.select(sa.func.count(sa.distinct(reports.c.id)))).scalar_one()
        n_leaves = conn.execute(sa.select(sa.func.count()).select_from(log_entries)).scalar_one()
    return n_reports, n_distinct, n_leaves


def _kill_after_progress(proc: subprocess.Popen, url: str, rng: random.Random) -> bool:
    """SIGKILL the child once the store has grown past a random target (then a random
    few milliseconds more, so the kill lands anywhere inside a chunk's transaction)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        start = conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one()
    target = start + rng.randint(0, max(1, (3000 - start) // 2))
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one() >= target:
                    break
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.03))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        return False
    finally:
        engine.dispose()


def test_sigkill_loses_and_duplicates_nothing(tmp_path, store_url):
    import json

    net = SensorNet({f"s{i}": "acoustic" for i in range(20)})
    all_reports = [net.report(f"s{i % 20}") for i in range(3000)]
    (tmp_path / "sensors.json").write_text(json.dumps(net.registry_json()))
    url = store_url
    with open_store(url) as store:
        ingest_lines(jsonl(all_reports[:400]), net.registry(), store, workers=1)
        old_head = sign_head(store)
        with store.engine.connect() as conn:
            key = {"public_key": log_public_key(conn)}
    data = tmp_path / "reports.jsonl"
    data.write_bytes(b"\n".join(jsonl(all_reports)) + b"\n{bad line\n")

    rng = random.Random(20260106)
    kills = 0
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, url, str(tmp_path / "sensors.json"), str(data)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        killed = attempt < 4 and _kill_after_progress(proc, url, rng)
        kills += killed
        out, err = proc.communicate(timeout=120)
        assert killed or proc.returncode == 0, err.decode()
        with open_store(url) as store:
            n_reports, n_distinct, n_leaves = _counts(store)
            assert n_reports == n_distinct == n_leaves, "duplicates or orphans after a kill"
            assert 400 <= n_reports <= 3000
            result = audit(store)
            assert result.ok, result.first_mismatch
            proof = consistency_proof(store, old_head["tree_size"], n_leaves)
            new_head = sign_head(store)
            assert verify_consistency_files(proof, old_head, new_head, key).ok
        if not killed:
            assert b"done" in out
            break
    assert kills >= 2, "the ingest kept finishing before the kill; the test proved little"
    with open_store(url) as store:
        assert _counts(store) == (3000, 3000, 3000)
        with store.engine.connect() as conn:
            ids = {r for (r,) in conn.execute(sa.select(reports.c.id))}
        assert ids == {r["id"] for r in all_reports}
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(quarantine.c.line, quarantine.c.reason, quarantine.c.raw)).all()
        assert [tuple(r) for r in rows] == [(3001, "malformed", "{bad line")]  # once, whatever the kills
        final = sign_head(store)
        proof = consistency_proof(store, old_head["tree_size"], final["tree_size"])
        assert verify_consistency_files(proof, old_head, final, key).ok
        assert formats.b64decode(final["root_hash"], 32)
