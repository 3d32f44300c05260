"""Store + evidence log on both backends (SQLite and PostgreSQL): ingest, idempotency,
proofs from persisted nodes, append_entries, signed heads, keys, tamper detection."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from common import FIXTURES, SPEC, SensorNet, jsonl
from truceline import formats
from truceline.errors import TrucelineError
from truceline.evidence import (
    append_entries,
    consistency_proof,
    inclusion_proof,
    latest_head,
    merkle,
    sign_head,
)
from truceline.evidence.audit import audit
from truceline.evidence.log import verify_head_signature
from truceline.evidence.verify import verify_consistency_files, verify_inclusion_files
from truceline.ingest import ingest_file, ingest_lines, load_registry
from truceline.store import open_store
from truceline.store.log_tables import log_entries, log_heads, log_nodes
from truceline.store.reports import quarantine, reports


def _count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_migrations_match_metadata(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from truceline.store.tables import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    open_store(store.url).close()  # reopening runs no migration twice


def test_ingest_examples_then_rerun_is_idempotent(store, tmp_path):
    registry = load_registry(SPEC / "examples_sensors.json")
    path = tmp_path / "r.jsonl"
    path.write_bytes((SPEC / "examples_reports.jsonl").read_bytes() + b"\n{broken\n")
    first = ingest_file(path, registry, store, workers=1)
    assert (first.accepted, first.duplicates, first.reason_counts()["malformed"]) == (11, 0, 1)
    second = ingest_file(path, registry, store, workers=1)
    assert (second.accepted, second.duplicates, second.reason_counts()["malformed"]) == (0, 11, 1)
    assert _count(store, reports) == 11 and _count(store, log_entries) == 11
    assert _count(store, quarantine) == 1  # unique per (file sha256, line)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(quarantine)).mappings().one()
    assert row["line"] == 13 and row["reason"] == "malformed" and row["raw"] == "{broken" and row["report_id"] is None
    assert second.head["tree_size"] == 11 and first.head["root_hash"] == second.head["root_hash"]


def test_conflict_and_replay_across_runs(store, net: SensorNet):
    registry = net.registry()
    r1 = net.report("ac-1", seq=1)
    ingest_lines(jsonl([r1]), registry, store, workers=1)
    conflict = net.report("ac-1", rid=r1["id"], seq=2)
    replay = net.report("ac-1", rid="new-id", seq=1)
    summary = ingest_lines(jsonl([r1, conflict, replay]), registry, store, workers=1)
    assert summary.duplicates == 1 and summary.accepted == 0
    assert summary.reason_counts() == {"malformed": 0, "schema": 0, "unknown_sensor": 0, "bad_signature": 0,
                                       "conflict": 1, "replay": 1}


def test_conflict_and_replay_rows_keep_the_line_as_read(store, net: SensorNet):
    """The quarantine row's `raw` is the input line itself (spacing, key order, escapes),
    not the canonical re-rendering, for the stateful reasons too."""
    registry = net.registry()
    r1 = net.report("mon-1", seq=1)
    ingest_lines(jsonl([r1]), registry, store, workers=1)
    conflict = net.report("mon-1", rid=r1["id"], seq=2)
    replay = net.report("mon-1", rid="new-id", seq=1)
    conflict_line = json.dumps(dict(reversed(list(conflict.items()))), indent=None, separators=(" , ", " : "))
    replay_line = json.dumps(replay, ensure_ascii=True)  # \u escapes for the Cyrillic text
    assert conflict_line.encode() != formats.canonical_bytes(conflict)
    summary = ingest_lines([conflict_line.encode(), replay_line + "\r\n"], registry, store, workers=1)
    assert summary.reason_counts()["conflict"] == 1 and summary.reason_counts()["replay"] == 1
    with store.engine.connect() as conn:
        rows = {r["reason"]: r for r in conn.execute(sa.select(quarantine)).mappings()}
    assert rows["conflict"]["raw"] == conflict_line and rows["conflict"]["line"] == 1
    assert rows["replay"]["raw"] == replay_line and rows["replay"]["line"] == 2


def test_proofs_from_store_match_reference(store, net: SensorNet):
    registry = net.registry()
    all_reports = [net.report(s) for _ in range(45) for s in ("ac-1", "ac-2", "uav-1")]  # 135 leaves
    ingest_lines(jsonl(all_reports[:70]), registry, store, workers=1)
    head70 = latest_head(store)
    ingest_lines(jsonl(all_reports[70:]), registry, store, workers=1)
    with store.engine.connect() as conn:
        leaves = [bytes(h) for (h,) in conn.execute(sa.select(log_entries.c.leaf_hash).order_by(log_entries.c.idx))]
        assert conn.execute(sa.select(sa.func.count()).select_from(log_nodes)).scalar_one() == 135 // 16
    assert len(leaves) == 135
    block = merkle.leaves_block(leaves)
    for size in (1, 2, 16, 17, 70, 128, 129, 135):
        root = merkle.root_of_leaves(leaves[:size])
        for index in {0, size // 2, size - 1}:
            rid = all_reports[index]["id"]
            proof = inclusion_proof(store, rid, size=size)
            assert proof["leaf_index"] == index and proof["tree_size"] == size
            path = [formats.b64decode(p) for p in proof["inclusion_path"]]
            assert path == merkle.inclusion_path(index, size, block)
            assert merkle.verify_inclusion(formats.b64decode(proof["leaf_hash"]), index, size, path, root)
    for first, second in [(1, 135), (16, 17), (70, 135), (64, 128), (100, 101), (135, 135), (0, 5)]:
        proof = consistency_proof(store, first, second)
        assert [formats.b64decode(p) for p in proof["consistency_path"]] == merkle.consistency_path(first, second,
                                                                                                    block)
    head = sign_head(store)
    assert head["tree_size"] == 135
    key = {"public_key": _public_key(store)}
    cons = consistency_proof(store, 70, 135)
    assert verify_consistency_files(cons, head70, head, key).ok
    proof = inclusion_proof(store, all_reports[3]["id"])
    assert proof["tree_size"] == 135
    assert verify_inclusion_files(proof, head, key, all_reports[3], entry_given=True).ok
    assert not verify_inclusion_files(proof, head70, key).ok
    with pytest.raises(TrucelineError):
        inclusion_proof(store, all_reports[100]["id"], size=70)
    with pytest.raises(TrucelineError):
        consistency_proof(store, 5, 136)
    with pytest.raises(TrucelineError):
        inclusion_proof(store, "no-such-id")


def _public_key(store) -> str:
    from truceline.evidence.keys import log_public_key

    with store.engine.connect() as conn:
        return log_public_key(conn)


def test_append_entries_idempotent_and_mixed_with_reports(store, net: SensorNet):
    ingest_lines(jsonl([net.report("ac-1"), net.report("ac-2")]), net.registry(), store, workers=1)
    decisions = [{"id": f"d{i}", "case": "c1", "vote": [1, 2.5], "text": "é"} for i in range(3)]
    idx = append_entries(store, decisions, "decision", [d["id"] for d in decisions])
    assert idx == [2, 3, 4]
    assert append_entries(store, decisions[1:] + [decisions[1]], "decision", ["d1", "d2", "d1"]) == [3, 4, 3]
    with pytest.raises(TrucelineError):
        append_entries(store, [{"id": "d0", "changed": True}], "decision", ["d0"])
    head = sign_head(store)
    proof = inclusion_proof(store, "d1", kind="decision")
    assert verify_inclusion_files(proof, head, {"public_key": _public_key(store)}, decisions[1], entry_given=True).ok
    assert audit(store).ok


def test_log_key_file_and_mismatch(store, tmp_path):
    keyfile = tmp_path / "log.key"
    head = sign_head(store, key_file=keyfile)  # created on first use
    assert keyfile.exists() and oct(keyfile.stat().st_mode & 0o777) == "0o600"
    public = json.loads(keyfile.read_text())["public_key"]
    assert verify_head_signature(head, public)
    with pytest.raises(TrucelineError, match="--log-key"):
        sign_head(store)  # the store keeps only the public key now
    other = tmp_path / "other.key"
    with pytest.raises(TrucelineError, match="does not exist"):
        sign_head(store, key_file=other)  # no new key is minted for a log that has one
    assert not other.exists()
    from truceline.evidence.keys import write_key_file

    write_key_file(other, formats.new_private_key())
    with pytest.raises(TrucelineError, match="not the key of this log"):
        sign_head(store, key_file=other)


def test_audit_detects_tampering(store, net: SensorNet):
    registry = net.registry()
    reps = [net.report("ac-1") for _ in range(40)]
    ingest_lines(jsonl(reps), registry, store, workers=1)
    assert audit(store).ok
    victim = reps[7]
    altered = dict(victim, time="2026-01-06T00:00:09Z")
    with store.engine.begin() as conn:
        conn.execute(sa.update(log_entries).where(log_entries.c.idx == 7)
                     .values(entry=formats.canonical_bytes(altered)))
    result = audit(store)
    assert not result.ok and "leaf 7" in result.first_mismatch
    # hide it by also rewriting the leaf hash and the report row: the stored nodes disagree
    new_leaf = merkle.leaf_hash(formats.canonical_bytes(altered))
    with store.engine.begin() as conn:
        conn.execute(sa.update(log_entries).where(log_entries.c.idx == 7).values(leaf_hash=new_leaf))
        conn.execute(sa.update(reports).where(reports.c.leaf_index == 7)
                     .values(time=altered["time"], content_hash=new_leaf))
    result = audit(store)
    assert not result.ok and "stored node (level 4, index 0)" in result.first_mismatch
    # ... and rewriting that node too leaves the signed head's root wrong
    with store.engine.begin() as conn:
        leaves = [bytes(h) for (h,) in conn.execute(sa.select(log_entries.c.leaf_hash).order_by(log_entries.c.idx))]
        conn.execute(sa.update(log_nodes).where((log_nodes.c.level == 4) & (log_nodes.c.idx == 0))
                     .values(hash=merkle.root_of_leaves(leaves[:16])))
    result = audit(store)
    assert not result.ok and "signed head for tree size 40" in result.first_mismatch


def test_audit_detects_changed_head_and_report_row(store, net: SensorNet):
    ingest_lines(jsonl([net.report("ac-1") for _ in range(5)]), net.registry(), store, workers=1)
    with store.engine.begin() as conn:
        conn.execute(sa.update(reports).where(reports.c.seq == 3).values(sensor="ac-2"))
    assert "reports row differs" in audit(store).first_mismatch
    with store.engine.begin() as conn:
        conn.execute(sa.update(reports).where(reports.c.seq == 3).values(sensor="ac-1"))
        conn.execute(sa.update(log_heads).values(json=sa.func.replace(log_heads.c.json, '"tree_size":5',
                                                                       '"tree_size":4')))
    assert audit(store).ok is False


def test_other_writer_between_chunks(store, net: SensorNet):
    """Another writer appends while an ingest runs: the ingest notices (log size moved),
    checks against the store, and classifies instead of crashing on a unique key."""
    registry = net.registry()
    mine = [net.report("ac-1") for _ in range(30)]
    theirs = [net.report("ac-2") for _ in range(5)]
    clash = net.report("ac-2", rid=theirs[0]["id"], seq=999)  # their id, other content
    replay = net.report("ac-2", rid="fresh", seq=theirs[1]["seq"])

    def lines():
        yield from jsonl(mine[:10])
        ingest_lines(jsonl(theirs), registry, store, workers=1, sign=False)  # the other writer
        yield from jsonl(mine[10:] + [theirs[2], clash, replay])

    summary = ingest_lines(lines(), registry, store, workers=1, chunk_lines=10)
    assert summary.accepted == 30 and summary.duplicates == 1
    assert summary.reason_counts()["conflict"] == 1 and summary.reason_counts()["replay"] == 1
    assert _count(store, reports) == 35 and audit(store).ok


def test_nasty_corpus_stored_in_quarantine(store):
    """Every hostile line lands in the quarantine table on both databases (text columns
    take whatever `raw`/`detail`/`id` hold: no NUL, no lone surrogates)."""
    from truceline.ingest import registry_from_json

    data = json.loads((FIXTURES / "nasty_lines.json").read_text())
    lines = [b"".join(bytes.fromhex(h) * n for h, n in c["parts"]) for c in data["cases"]]
    registry = registry_from_json([{"id": "ac-1", "kind": "acoustic",
                                    "public_key": "jwGcfXqf75WMtd3uNgj4FJbjugEYTkI0l68cZn61Vn8="}])
    summary = ingest_lines([b""] + lines, registry, store, workers=1)
    assert summary.accepted == 0 and sum(summary.quarantined.values()) == len(lines)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(quarantine.c.line, quarantine.c.reason).order_by(quarantine.c.line)).all()
    assert [r.line for r in rows] == list(range(2, len(lines) + 2))
    by_line = {r.line: r.reason for r in rows}
    for n, case in enumerate(data["cases"], start=2):
        if case["name"] not in ("kind differs from registry",):  # registry here lacks wlr-1
            assert by_line[n] == case["reason"], case["name"]


def test_bounded_memory_falls_back_to_store_lookups(store, net: SensorNet, monkeypatch):
    from truceline.ingest import pipeline

    monkeypatch.setattr(pipeline, "MAX_MEMORY_KEYS", 15)
    reps = [net.report("ac-1") for _ in range(40)]
    lines = jsonl(reps + [reps[3], net.report("ac-1", rid=reps[5]["id"], seq=500),
                          net.report("ac-1", rid="again", seq=reps[7]["seq"])])
    summary = ingest_lines(lines, net.registry(), store, workers=1, chunk_lines=10)
    assert summary.accepted == 40 and summary.duplicates == 1
    assert summary.reason_counts()["conflict"] == 1 and summary.reason_counts()["replay"] == 1


def test_parallel_file_ingest_matches_pure_validation(store, net: SensorNet, tmp_path):
    """A file big enough for the worker pool (block reads, lines numbered by the workers,
    CRLF, a BOM, blank lines) stores exactly what single-process `validate_lines` decides,
    quarantine rows (line, reason, raw as read) included."""
    from truceline.ingest import validate_lines

    reports_ = [net.report(f"ac-{1 + i % 2}") for i in range(4300)]
    conflict = net.report("ac-1", rid=reports_[5]["id"], seq=99_999)
    replay = net.report("ac-2", rid="replayed", seq=reports_[7]["seq"])
    lines = jsonl(reports_[:2000]) + [b"", b"   ", b"{not json", b"[1]"] + jsonl(reports_[2000:])
    lines += [json.dumps(conflict, indent=1).replace("\n", "").encode(), jsonl([replay])[0], jsonl([reports_[9]])[0]]
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    expected = validate_lines(path.read_bytes().split(b"\n"), net.registry(), workers=1)
    summary = ingest_file(path, net.registry(), store, workers=2)
    assert summary.accepted == len(expected.accepted) == 4300 and summary.duplicates == 1
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(
            sa.select(quarantine.c.line, quarantine.c.reason, quarantine.c.raw).order_by(quarantine.c.line))]
        stored = [r for (r,) in conn.execute(sa.select(reports.c.id).order_by(reports.c.leaf_index))]
    assert rows == [(q.line, q.reason, q.raw) for q in expected.quarantined]
    assert [r for _, r, _ in rows] == ["malformed", "malformed", "conflict", "replay"]
    assert rows[2][2] == json.dumps(conflict, indent=1).replace("\n", "")
    assert stored == [r["id"] for r in expected.accepted]
    assert audit(store).ok
