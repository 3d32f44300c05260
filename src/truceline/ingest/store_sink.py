"""Ingest into a store: the stateful checks against stored reports, then one write
transaction per chunk holding the chunk's reports, log leaves, log nodes and quarantine
rows. A process killed at any moment leaves the store at its last committed chunk; a
rerun of the same input skips what is there (repeated ids are duplicates, quarantine
rows are unique per (source, line)) and finishes the job. A signed tree head closes
every completed run.
"""

from __future__ import annotations

import hashlib
import time as _time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, or_, select, update

from truceline import formats
from truceline.errors import InputError
from truceline.evidence.keys import log_signer
from truceline.evidence.log import Appender, sign_head_in, tree_size
from truceline.ingest.pipeline import (
    CHUNK_LINES,
    Accepted,
    Deduplicator,
    Quarantine,
    _progress,
    checked_chunks,
)
from truceline.ingest.registry import Sensor
from truceline.ingest.validate import REASONS
from truceline.store import Store
from truceline.store.bulk import bulk_insert
from truceline.store.reports import ingest_runs, quarantine, reports

REPORT_COLUMNS = ("id", "sensor", "kind", "seq", "time", "time_s", "leaf_index", "content_hash", "run_id")


@dataclass
class IngestSummary:
    """What one ingest run did. `accepted` counts reports newly stored by this run."""

    run_id: int
    source: str
    source_name: str
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: Counter = field(default_factory=Counter)
    tree_size: int = 0
    head: dict[str, Any] | None = None

    def reason_counts(self) -> dict[str, int]:
        return {reason: self.quarantined.get(reason, 0) for reason in REASONS}

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "source_name": self.source_name, "lines": self.lines,
                "accepted": self.accepted, "duplicates": self.duplicates, "quarantined": self.reason_counts(),
                "tree_size": self.tree_size, "head": self.head}


def _now() -> str:
    return formats.format_time(_time.time())


def _lookup(conn: Connection):  # type: ignore[no-untyped-def]
    """Stored reports matching a chunk's ids or (sensor, seq) pairs."""

    def lookup(ids: list[str], pairs: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
        found_ids: dict[str, bytes] = {}
        found_pairs: dict[tuple[str, int], str] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            for rid, sensor, seq, h in conn.execute(
                    select(reports.c.id, reports.c.sensor, reports.c.seq, reports.c.content_hash)
                    .where(reports.c.id.in_(part))):
                found_ids[rid] = bytes(h)
                found_pairs[(sensor, int(seq))] = rid
        by_sensor: dict[str, list[int]] = {}
        for sensor, seq in pairs:
            if (sensor, seq) not in found_pairs:
                by_sensor.setdefault(sensor, []).append(seq)
        conds = []
        for sensor, seqs in by_sensor.items():
            for i in range(0, len(seqs), 500):
                conds.append((reports.c.sensor == sensor) & reports.c.seq.in_(seqs[i:i + 500]))
        for i in range(0, len(conds), 50):
            for rid, sensor, seq in conn.execute(
                    select(reports.c.id, reports.c.sensor, reports.c.seq).where(or_(*conds[i:i + 50]))):
                found_pairs[(sensor, int(seq))] = rid
        return found_ids, found_pairs

    return lookup


def _insert_quarantine(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(quarantine).on_conflict_do_nothing(index_elements=["source", "line"]), rows)


def ingest_lines(
    lines: Iterable[bytes | str | dict[str, Any]],
    registry: dict[str, Sensor],
    store: Store,
    *,
    source: str | None = None,
    source_name: str = "<lines>",
    workers: int | None = None,
    progress: bool = False,
    total: int | None = None,
    log_key: str | Path | None = None,
    sign: bool = True,
    chunk_lines: int = CHUNK_LINES,
) -> IngestSummary:
    """Validate `lines` and store the accepted reports (appending each to the evidence log).

    `source` identifies the input for quarantine de-duplication across reruns (the file's
    SHA-256 for `ingest_file`); without it quarantine rows are keyed by this run.
    Each chunk of `chunk_lines` lines is one transaction (the unit that survives a crash).
    """
    with store.write() as conn:
        if sign:
            log_signer(conn, log_key)  # fail early on a wrong/missing key, before any work
        run_id = conn.execute(ingest_runs.insert().values(
            source=source or "", source_name=source_name, started=_now(), status="running", lines=0, accepted=0,
            duplicates=0, quarantined=0)).inserted_primary_key[0]
        if source is None:
            source = f"run:{run_id}"
            conn.execute(update(ingest_runs).where(ingest_runs.c.run_id == run_id).values(source=source))
        # Stored reports matter only if there are any; while this run is the only writer
        # (the log size is what we left it at), the in-memory maps know everything.
        need_lookup = conn.execute(select(reports.c.id).limit(1)).first() is not None
        expected_size = tree_size(conn)
    summary = IngestSummary(run_id=int(run_id), source=source, source_name=source_name)
    dedup = Deduplicator()
    appender = Appender()
    with _progress(progress, f"ingesting {Path(source_name).name}", total) as advance:
        for chunk, outcomes in checked_chunks(lines, registry, workers, chunk_lines):
            with store.write() as conn:
                appender.sync(conn)
                if appender.compact.size != expected_size:
                    need_lookup = True  # another writer appended meanwhile
                if len(dedup.ids) > dedup.max_keys:
                    need_lookup = True  # the in-memory maps are about to be dropped
                dedup.lookup = _lookup(conn) if need_lookup else None
                accepted, quarantined, duplicates = dedup.classify(outcomes, chunk)
                _write_chunk(conn, appender, accepted, quarantined, run_id, source)
                expected_size = appender.compact.size
            summary.lines += len(outcomes)
            summary.accepted += len(accepted)
            summary.duplicates += duplicates
            summary.quarantined.update(q.reason for q in quarantined)
            advance(len(outcomes))
    with store.write() as conn:
        appender.sync(conn)
        summary.tree_size = appender.compact.size if appender.compact else 0
        if sign:
            summary.head = sign_head_in(conn, log_key)
        conn.execute(update(ingest_runs).where(ingest_runs.c.run_id == run_id).values(
            finished=_now(), status="done", lines=summary.lines, accepted=summary.accepted,
            duplicates=summary.duplicates, quarantined=sum(summary.quarantined.values()),
            tree_size=summary.tree_size))
    return summary


def _write_chunk(conn: Connection, appender: Appender, accepted: list[Accepted], quarantined: list[Quarantine],
                 run_id: int, source: str) -> None:
    if accepted:
        # Columns of the accepted outcome tuples (see `Accepted`), transposed in C.
        _, _lines, ids, sensors, seqs, kinds, times, times_s, entries, leaves = zip(*accepted, strict=True)
        first = appender.append_columns(conn, "report", ids, entries, leaves)
        n = len(accepted)
        bulk_insert(conn, reports, REPORT_COLUMNS, list(zip(
            ids, sensors, kinds, seqs, times, times_s, range(first, first + n), leaves, [run_id] * n, strict=True)))
    _insert_quarantine(conn, [
        {"run_id": run_id, "source": source, "line": q.line, "report_id": q.id, "reason": q.reason,
         "detail": q.detail, "raw": q.raw} for q in quarantined])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(path: str | Path, registry: dict[str, Sensor], store: Store, **kwargs: Any) -> IngestSummary:
    """`ingest_lines` over a JSON Lines file; quarantine rows are keyed by the file's
    SHA-256, so rerunning the same file (e.g. after a crash) is idempotent."""
    path = Path(path)
    try:
        source = file_sha256(path)
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read reports: {exc.strerror or exc}") from None
    total = None
    if kwargs.get("progress"):
        with path.open("rb") as counter:
            total = sum(1 for line in counter if line.strip())
    with fh:
        return ingest_lines(fh, registry, store, source=source, source_name=str(path), total=total, **kwargs)
