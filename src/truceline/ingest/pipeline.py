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
from truceline.ingest.validate import BOM, CONFLICT, REASONS, REPLAY, check_chunk, raw_text

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
    lines: int = 0  # number of the last line read
    n_accepted: int = 0  # accepted reports (also those handed to a `sink`, not kept here)

    def reason_counts(self) -> dict[str, int]:
        counts = Counter(q.reason for q in self.quarantined)
        return {reason: counts.get(reason, 0) for reason in REASONS}


# An accepted report is the stateless check's "ok" outcome tuple, kept as is (no per-row
# object on the hot path; `zip(*accepted)` turns a chunk into columns in C):
#   ("ok", line, id, sensor, seq, kind, time_text, time_s, entry, leaf_hash)
# `entry` is the RFC 8785 bytes of the report as received, sig included (the log entry).
Accepted = tuple
A_LINE, A_ID, A_SENSOR, A_SEQ, A_KIND, A_TIME, A_TIME_S, A_ENTRY, A_LEAF = range(1, 10)


def normalize_line(number: int, raw: bytes) -> bytes | None:
    """A line as checked: without its `\\r` (the `\\n` is already gone), without a UTF-8
    byte-order mark if it is line 1; None when blank (blank lines are skipped)."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if number == 1 and raw.startswith(BOM):
        raw = raw[3:]
    if not raw.strip(b" \t\r\n"):
        return None
    return raw


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
        line = normalize_line(number, raw)
        if line is not None:
            yield number, line


READ_BYTES = 1 << 20


def _file_blocks(fh: Any, chunk_lines: int) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, raw lines without `\\n`) of a binary file, `chunk_lines`
    lines at a time (blank ones included), split in C from 1 MiB reads: the reading
    process does no per-line Python work. Same lines as iterating the file."""
    first = 1
    pending: list[bytes] = []
    tail: list[bytes] = []  # pieces of a line not finished yet (kept apart: no quadratic joins)
    while True:
        data = fh.read(READ_BYTES)
        if not data:
            break
        if b"\n" not in data:
            tail.append(data)
            continue
        if tail:
            tail.append(data)
            data = b"".join(tail)
            tail = []
        lines = data.split(b"\n")
        last = lines.pop()
        if last:
            tail.append(last)
        pending.extend(lines)
        while len(pending) >= chunk_lines:
            part = pending[:chunk_lines]
            del pending[:chunk_lines]
            yield first, part
            first += len(part)
    if tail:
        pending.append(b"".join(tail))
    for i in range(0, len(pending), chunk_lines):
        yield first + i, pending[i:i + chunk_lines]


def _numbered_block(first: int, lines: list[bytes]) -> list[tuple[int, bytes]]:
    out = []
    for number, raw in enumerate(lines, first):
        line = normalize_line(number, raw)
        if line is not None:
            out.append((number, line))
    return out


def _pair_chunks(items: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class LineChunk:
    """Consecutive input lines checked together: either numbered pairs (any iterable
    input) or a block of raw lines from `first` on (binary file input). `raw(n)` gives
    line n as checked, for the rare quarantine row the main process writes itself."""

    __slots__ = ("pairs", "first", "lines", "_index")

    def __init__(self, pairs: list[tuple[int, bytes]] | None = None, first: int = 0,
                 lines: list[bytes] | None = None) -> None:
        self.pairs, self.first, self.lines = pairs, first, lines
        self._index: dict[int, bytes] | None = None

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.lines or ())

    def numbered(self) -> list[tuple[int, bytes]]:
        return self.pairs if self.pairs is not None else _numbered_block(self.first, self.lines or [])

    @property
    def last_line(self) -> int:
        """Number of the chunk's last line (0 when empty)."""
        if self.pairs is not None:
            return self.pairs[-1][0] if self.pairs else 0
        return self.first + len(self.lines) - 1 if self.lines else 0

    def payload(self) -> tuple:
        """What a worker process gets: the lines joined (one bytes object pickles in
        one copy) or the pairs."""
        if self.pairs is not None:
            return (0, self.pairs)
        return (self.first, b"\n".join(self.lines or ()))

    def raw(self, number: int) -> bytes:
        if self.pairs is None:
            line = normalize_line(number, (self.lines or [])[number - self.first])
            return b"" if line is None else line
        if self._index is None:
            self._index = dict(self.pairs)
        return self._index[number]


_WORKER_KEYS: dict[str, tuple[str, bytes]] = {}


def _init_worker(keys: dict[str, tuple[str, bytes]]) -> None:
    global _WORKER_KEYS
    _WORKER_KEYS = keys


def _worker_check(payload: tuple) -> list[tuple]:
    first, data = payload
    if isinstance(data, bytes):
        return check_chunk(_numbered_block(first, data.split(b"\n")), _WORKER_KEYS)
    return check_chunk(data, _WORKER_KEYS)


def registry_keys(registry: dict[str, Sensor]) -> dict[str, tuple[str, bytes]]:
    return {sid: (s.kind, s.public_key) for sid, s in registry.items()}


def _line_chunks(lines: Any, chunk_lines: int) -> Iterator[LineChunk]:
    read = getattr(lines, "read", None)
    if read is not None and isinstance(read(0), bytes):
        for first, part in _file_blocks(lines, chunk_lines):
            yield LineChunk(first=first, lines=part)
        return
    for pairs in _pair_chunks(numbered_lines(lines), chunk_lines):
        yield LineChunk(pairs=pairs)


def checked_chunks(
    lines: Iterable[bytes | str | dict[str, Any]], registry: dict[str, Sensor], workers: int | None = None,
    chunk_lines: int = CHUNK_LINES,
) -> Iterator[tuple[LineChunk, list[tuple]]]:
    """(chunk of input lines, the stateless outcomes of its non-blank lines) chunk by
    chunk, in input order. A binary file object is read in large blocks and split in
    C (its lines are then numbered by the workers); any other iterable goes through
    `numbered_lines`.

    `workers=None` uses every core when the input is large (more than
    PARALLEL_MIN_LINES lines) and runs inline otherwise; `workers<=1` is always inline.
    """
    keys = registry_keys(registry)
    chunks = _line_chunks(lines, chunk_lines)
    head: list[LineChunk] = []
    for chunk in chunks:
        head.append(chunk)
        if sum(map(len, head)) >= PARALLEL_MIN_LINES:
            break
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    if n_workers <= 1 or sum(map(len, head)) < PARALLEL_MIN_LINES:
        for chunk in head:
            yield chunk, check_chunk(chunk.numbered(), keys)
        for chunk in chunks:
            yield chunk, check_chunk(chunk.numbered(), keys)
        return

    def all_chunks() -> Iterator[LineChunk]:
        yield from head
        yield from chunks

    # Bounded in-flight work (Pool.imap would read the whole input ahead into memory).
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(n_workers, initializer=_init_worker, initargs=(keys,)) as pool:
        pending: deque = deque()
        for chunk in all_chunks():
            pending.append((chunk, pool.apply_async(_worker_check, (chunk.payload(),))))
            if len(pending) > 2 * n_workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()


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
        # sensor -> seq -> id: one small dict per sensor (no (sensor, seq) tuple per
        # report: ~60 bytes less each, a few % of a million-report run's CPU)
        self.seqs: dict[str, dict[int, str]] = {}
        self.lookup = lookup
        self.max_keys = MAX_MEMORY_KEYS

    def classify(self, outcomes: list[tuple], chunk: LineChunk) -> tuple[list[Accepted], list[Quarantine], int]:
        """Accepted reports, quarantined lines and the duplicate count of one chunk;
        `chunk` holds the raw lines the outcomes are about, whose text a `conflict` or
        `replay` quarantine row keeps (the line as read, like every other reason's)."""
        if self.lookup is not None and len(self.ids) > self.max_keys:
            # Bounded memory: everything accepted is in the store, which `lookup` asks.
            self.ids.clear()
            self.seqs.clear()
        if self.lookup is not None:
            ids = [o[2] for o in outcomes if o[0] == "ok" and o[2] not in self.ids]
            pairs = [(o[3], o[4]) for o in outcomes if o[0] == "ok" and o[4] not in self.seqs.get(o[3], ())]
            if ids or pairs:
                found_ids, found_pairs = self.lookup(ids, pairs)
                self.ids.update(found_ids)
                for (sensor, seq), rid in found_pairs.items():
                    self.seqs.setdefault(sensor, {})[seq] = rid
        accepted: list[Accepted] = []
        quarantined: list[Quarantine] = []
        duplicates = 0
        ids, seqs = self.ids, self.seqs
        for o in outcomes:
            if o[0] != "ok":
                quarantined.append(Quarantine(o[1], o[2], o[3], o[4], o[5]))
                continue
            _, line, rid, sensor, seq, _kind, _time, _time_s, _entry, leaf = o
            known = ids.get(rid)
            if known is not None:
                if known == leaf:
                    duplicates += 1
                else:
                    quarantined.append(Quarantine(line, rid, CONFLICT,
                                                  f"id {rid!r} already accepted with different content",
                                                  raw_text(chunk.raw(line))))
                continue
            by_seq = seqs.get(sensor)
            if by_seq is None:
                by_seq = seqs[sensor] = {}
            other = by_seq.get(seq)
            if other is not None:
                quarantined.append(Quarantine(line, rid, REPLAY,
                                              f"({sensor}, seq {seq}) already accepted as id {other!r}",
                                              raw_text(chunk.raw(line))))
                continue
            ids[rid] = leaf
            by_seq[seq] = rid
            accepted.append(o)
        return accepted, quarantined, duplicates


def validate_lines(
    lines: Iterable[bytes | str | dict[str, Any]], registry: dict[str, Sensor], workers: int | None = None,
    progress: bool = False, sink: Callable[[list[dict[str, Any]], list[float]], None] | None = None,
) -> ValidationResult:
    """Validate report lines against the spec without a database (pure).

    `lines` are raw lines (bytes or str), already parsed report dicts, or a binary file
    object (read in 1 MiB blocks, the fastest way in). Returns accepted
    reports (dicts, exactly as received, input order, duplicates removed), quarantine
    records with the spec's reasons, and the duplicate count.

    With `sink`, accepted reports are not kept in the result: each chunk's are handed to
    `sink(reports, times)` (times: their `time` in epoch seconds), so a consumer that keeps
    them in a compact form (`truceline.analysis.reportset.ReportSet.extend`) never holds
    the whole input as dicts; `result.n_accepted` counts them.
    """
    result = ValidationResult()
    dedup = Deduplicator()
    with _progress(progress, "validating") as advance:
        for chunk, outcomes in checked_chunks(lines, registry, workers):
            accepted, quarantined, duplicates = dedup.classify(outcomes, chunk)
            result.n_accepted += len(accepted)
            if sink is None:
                result.accepted.extend(orjson.loads(a[A_ENTRY]) for a in accepted)
            elif accepted:
                sink([orjson.loads(a[A_ENTRY]) for a in accepted], [a[A_TIME_S] for a in accepted])
            result.quarantined.extend(quarantined)
            result.duplicates += duplicates
            result.lines = max(result.lines, chunk.last_line)
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
