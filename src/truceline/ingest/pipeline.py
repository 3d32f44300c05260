"""Ingest pipeline: numbered lines -> stateless checks (parallel) -> stateful checks.

`validate_lines` is pure (no database): the analysis stage calls it on a file of reports.
`ingest_lines` / `ingest_file` do the same against a store: accepted reports are written
and appended to the evidence log in batches, one transaction per batch, so a crash at any
point loses nothing that was committed and a rerun finishes the job (see
`truceline.ingest.store_sink`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from truceline.ingest.registry import Sensor
from truceline.ingest.validate import BOM, CONFLICT, REASONS, REPLAY, check_chunk

CHUNK_LINES = 2000
PARALLEL_MIN_LINES = 4000
# Above this many remembered reports, a store-backed ingest forgets them and asks the
# store instead (memory stays bounded for inputs of any size; ~300 MB at this cap).
MAX_MEMORY_KEYS = 2_000_000


@dataclass(frozen=True, slots=True)
class Quarantine:
    """One rejected line (spec section 2): 1-based line number, report id if readable."""

    line: int
    id: str | None
    reason: str
    detail: str
    raw: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "reason": self.reason, "detail": self.detail, "raw": self.raw}


@dataclass
class ValidationResult:
    """Outcome of `validate_lines`: accepted reports (input order, duplicates removed)."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[Quarantine] = field(default_factory=list)
    duplicates: int = 0

    def reason_counts(self) -> dict[str, int]:
        counts = Counter(q.reason for q in self.quarantined)
        return {reason: counts.get(reason, 0) for reason in REASONS}


@dataclass(slots=True)
class Accepted:
    """A report that passed every check: what the store and the log need about it."""

    line: int
    id: str
    sensor: str
    seq: int
    kind: str
    time: str
    time_s: float
    entry: bytes  # RFC 8785 bytes of the report as received, sig included (the log entry)
    leaf_hash: bytes


def numbered_lines(lines: Iterable[bytes | str | dict[str, Any]]) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, bytes) for each non-blank line; strips the line ending and a
    byte-order mark at the start of line 1 only. A dict item (an already parsed report)
    is serialized with orjson and checked like a line."""
    for number, line in enumerate(lines, start=1):
        if isinstance(line, dict):
            try:
                raw = orjson.dumps(line)
            except (orjson.JSONEncodeError, TypeError):
                raw = repr(line).encode("utf-8", "backslashreplace")  # not JSON: malformed
        elif isinstance(line, str):
            raw = line.encode("utf-8", "surrogatepass")
        else:
            raw = bytes(line)
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(BOM):
            raw = raw[3:]
        if not raw.strip(b" \t\r\n"):
            continue
        yield number, raw


def _chunks(items: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_WORKER_KEYS: dict[str, tuple[str, bytes]] = {}


def _init_worker(keys: dict[str, tuple[str, bytes]]) -> None:
    global _WORKER_KEYS
    _WORKER_KEYS = keys


def _worker_check(chunk: list[tuple[int, bytes]]) -> list[tuple]:
    return check_chunk(chunk, _WORKER_KEYS)


def registry_keys(registry: dict[str, Sensor]) -> dict[str, tuple[str, bytes]]:
    return {sid: (s.kind, s.public_key) for sid, s in registry.items()}


def checked_chunks(
    lines: Iterable[bytes | str], registry: dict[str, Sensor], workers: int | None = None,
    chunk_lines: int = CHUNK_LINES,
) -> Iterator[list[tuple]]:
    """Stateless outcomes chunk by chunk, in input order.

    `workers=None` uses every core when the input is large (more than
    PARALLEL_MIN_LINES lines) and runs inline otherwise; `workers<=1` is always inline.
    """
    keys = registry_keys(registry)
    chunks = _chunks(numbered_lines(lines), chunk_lines)
    head: list[list[tuple[int, bytes]]] = []
    for chunk in chunks:
        head.append(chunk)
        if sum(map(len, head)) >= PARALLEL_MIN_LINES:
            break
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    if n_workers <= 1 or sum(map(len, head)) < PARALLEL_MIN_LINES:
        for chunk in head:
            yield check_chunk(chunk, keys)
        for chunk in chunks:
            yield check_chunk(chunk, keys)
        return

    def all_chunks() -> Iterator[list[tuple[int, bytes]]]:
        yield from head
        yield from chunks

    # Bounded in-flight work (Pool.imap would read the whole input ahead into memory).
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(n_workers, initializer=_init_worker, initargs=(keys,)) as pool:
        pending: deque = deque()
        for chunk in all_chunks():
            pending.append(pool.apply_async(_worker_check, (chunk,)))
            if len(pending) > 2 * n_workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


class Deduplicator:
    """Stateful checks in input order: duplicate, `conflict`, `replay`.

    Holds id -> leaf hash and (sensor, seq) -> id for everything accepted so far;
    `lookup` (optional) is asked, once per chunk, about ids and (sensor, seq) pairs it has
    not seen, so previously stored reports count too.
    """

    def __init__(
        self,
        lookup: Callable[[list[str], list[tuple[str, int]]], tuple[dict[str, bytes], dict[tuple[str, int], str]]]
        | None = None,
    ) -> None:
        self.ids: dict[str, bytes] = {}
        self.seqs: dict[tuple[str, int], str] = {}
        self.lookup = lookup
        self.max_keys = MAX_MEMORY_KEYS

    def classify(self, outcomes: list[tuple]) -> tuple[list[Accepted], list[Quarantine], int]:
        if self.lookup is not None and len(self.ids) > self.max_keys:
            # Bounded memory: everything accepted is in the store, which `lookup` asks.
            self.ids.clear()
            self.seqs.clear()
        if self.lookup is not None:
            ids = [o[2] for o in outcomes if o[0] == "ok" and o[2] not in self.ids]
            pairs = [(o[3], o[4]) for o in outcomes if o[0] == "ok" and (o[3], o[4]) not in self.seqs]
            if ids or pairs:
                found_ids, found_pairs = self.lookup(ids, pairs)
                self.ids.update(found_ids)
                self.seqs.update(found_pairs)
        accepted: list[Accepted] = []
        quarantined: list[Quarantine] = []
        duplicates = 0
        ids, seqs = self.ids, self.seqs
        for o in outcomes:
            if o[0] != "ok":
                quarantined.append(Quarantine(o[1], o[2], o[3], o[4], o[5]))
                continue
            _, line, rid, sensor, seq, kind, time_text, time_s, entry, leaf = o
            known = ids.get(rid)
            if known is not None:
                if known == leaf:
                    duplicates += 1
                else:
                    quarantined.append(Quarantine(line, rid, CONFLICT,
                                                  f"id {rid!r} already accepted with different content",
                                                  _entry_text(entry)))
                continue
            other = seqs.get((sensor, seq))
            if other is not None:
                quarantined.append(Quarantine(line, rid, REPLAY,
                                              f"({sensor}, seq {seq}) already accepted as id {other!r}",
                                              _entry_text(entry)))
                continue
            ids[rid] = leaf
            seqs[(sensor, seq)] = rid
            accepted.append(Accepted(line, rid, sensor, seq, kind, time_text, time_s, entry, leaf))
        return accepted, quarantined, duplicates


def _entry_text(entry: bytes) -> str:
    return entry.decode("utf-8")


def validate_lines(
    lines: Iterable[bytes | str | dict[str, Any]], registry: dict[str, Sensor], workers: int | None = None, progress: bool = False
) -> ValidationResult:
    """Validate report lines against the spec without a database (pure).

    `lines` are raw lines (bytes or str) or already parsed report dicts. Returns accepted
    reports (dicts, exactly as received, input order, duplicates removed), quarantine
    records with the spec's reasons, and the duplicate count.
    """
    result = ValidationResult()
    dedup = Deduplicator()
    with _progress(progress, "validating") as advance:
        for outcomes in checked_chunks(lines, registry, workers):
            accepted, quarantined, duplicates = dedup.classify(outcomes)
            result.accepted.extend(orjson.loads(a.entry) for a in accepted)
            result.quarantined.extend(quarantined)
            result.duplicates += duplicates
            advance(len(outcomes))
    return result


class _progress:
    """Rich progress (lines done, rate) when enabled; a no-op context otherwise."""

    def __init__(self, enabled: bool, label: str, total: int | None = None) -> None:
        self.enabled, self.label, self.total = enabled, label, total
        self._progress: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), transient=True)
        self._progress.__enter__()
        task = self._progress.add_task(self.label, total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
