"""The evidence log on a store: append, signed tree heads, proofs, audit (spec section 5).

Layout (tables in `truceline.store.log_tables`): one `log_entries` row per leaf (the
logged object's RFC 8785 bytes and its leaf hash), `log_nodes` holding the roots of
complete aligned subtrees at levels 4, 8, 12, ..., and `log_heads` with every signed
tree head. Appends hash O(1) amortized per leaf and write ~1/15 node row per leaf;
proofs read O(log n) hashes in two queries (`fetch_blocks`), never rebuild the tree.

All writes go through `Store.write()` (the writer lock), so entries, nodes and the
rows that reference them commit together or not at all: a killed process leaves the
log exactly at its last committed batch, and every signed head stays provable.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, or_, select

from truceline import formats
from truceline.errors import TrucelineError
from truceline.evidence import merkle
from truceline.evidence.keys import log_public_key, log_signer
from truceline.store import Store
from truceline.store.bulk import bulk_insert
from truceline.store.log_tables import NODE_STRIDE, log_entries, log_heads, log_nodes

Block = merkle.Block


# ---------------------------------------------------------------------------- reading hashes


def tree_size(conn: Connection) -> int:
    value = conn.execute(select(func.max(log_entries.c.idx))).scalar_one_or_none()
    return 0 if value is None else int(value) + 1


def _base_items(block: Block) -> tuple[int, range]:
    """The stored level and index range a complete block is computed from."""
    level, index = block
    if level == 0 or level % NODE_STRIDE == 0:
        return level, range(index, index + 1)
    r = level % NODE_STRIDE
    return level - r, range(index << r, (index + 1) << r)


def fetch_blocks(conn: Connection, blocks: Iterable[Block]) -> dict[Block, bytes]:
    """Hashes of complete blocks, read in at most two queries (leaves, stored nodes)."""
    blocks = list(dict.fromkeys(blocks))
    need: dict[int, set[int]] = {}
    for block in blocks:
        level, items = _base_items(block)
        need.setdefault(level, set()).update(items)
    have: dict[tuple[int, int], bytes] = {}
    if 0 in need:
        idxs = sorted(need.pop(0))
        for i in range(0, len(idxs), 500):
            part = idxs[i:i + 500]
            rows = conn.execute(select(log_entries.c.idx, log_entries.c.leaf_hash).where(log_entries.c.idx.in_(part)))
            have.update(((0, int(i_)), bytes(h)) for i_, h in rows)
    if need:
        conds = [(log_nodes.c.level == level) & log_nodes.c.idx.in_(sorted(idxs)) for level, idxs in need.items()]
        rows = conn.execute(select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash).where(or_(*conds)))
        have.update(((int(lv), int(i_)), bytes(h)) for lv, i_, h in rows)
    out: dict[Block, bytes] = {}
    for block in blocks:
        level, items = _base_items(block)
        try:
            hashes = [have[(level, i)] for i in items]
        except KeyError as exc:
            raise TrucelineError(f"evidence log is damaged: hash {exc.args[0]} is missing (run `truceline log audit`)") \
                from None
        out[block] = hashes[0] if len(hashes) == 1 else merkle.perfect_root(hashes)
    return out


def _paths(conn: Connection, ranges: Sequence[merkle.Range]) -> list[bytes]:
    per_range = [merkle.complete_blocks(s, e) for s, e in ranges]
    hashes = fetch_blocks(conn, (b for blocks in per_range for b in blocks))
    return [merkle.fold_blocks([hashes[b] for b in blocks]) for blocks in per_range]


def root_at(conn: Connection, size: int) -> bytes:
    """MTH of the first `size` leaves (any size up to the current one)."""
    if size == 0:
        return merkle.EMPTY_ROOT
    return _paths(conn, [(0, size)])[0]


def load_compact(conn: Connection) -> merkle.CompactRange:
    size = tree_size(conn)
    blocks = merkle.CompactRange.blocks_for(size)
    hashes = fetch_blocks(conn, blocks)
    return merkle.CompactRange(size, [hashes[b] for b in blocks])


# ---------------------------------------------------------------------------- appending


@dataclass(frozen=True, slots=True)
class LogRow:
    kind: str
    object_id: str
    entry: bytes
    leaf_hash: bytes


class Appender:
    """Appends leaves inside a caller's write transaction and keeps the right edge in
    memory between transactions (re-read whenever another writer moved the log)."""

    def __init__(self) -> None:
        self.compact: merkle.CompactRange | None = None

    def sync(self, conn: Connection) -> bool:
        """Bring the in-memory right edge up to date; True when it had to be (re)loaded."""
        if self.compact is not None and tree_size(conn) == self.compact.size:
            return False
        self.compact = load_compact(conn)
        return True

    def append(self, conn: Connection, rows: Sequence[LogRow]) -> int:
        """Insert `rows` as the next leaves; returns the index of the first one."""
        return self.append_columns(conn, [r.kind for r in rows], [r.object_id for r in rows],
                                   [r.entry for r in rows], [r.leaf_hash for r in rows])

    def append_columns(self, conn: Connection, kinds: Sequence[str] | str, object_ids: Sequence[str],
                       entries: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> int:
        """`append` given as columns (`kinds` may be one kind for all): what the ingest
        hot path has at hand, with no per-row object. Returns the first leaf's index."""
        assert self.compact is not None, "call sync() in the same transaction first"
        compact = self.compact
        saved = (compact.size, list(compact.stack))
        first = compact.size
        n = len(leaf_hashes)
        if isinstance(kinds, str):
            kinds = [kinds] * n
        if not len(kinds) == len(object_ids) == len(entries) == n:
            raise ValueError("append_columns: columns of different lengths")
        try:
            nodes = compact.extend(leaf_hashes, keep=NODE_STRIDE)
            bulk_insert(conn, log_entries, ("idx", "kind", "object_id", "entry", "leaf_hash"),
                        list(zip(range(first, first + n), kinds, object_ids, entries, leaf_hashes, strict=True)))
            bulk_insert(conn, log_nodes, ("level", "idx", "hash"), nodes)
        except BaseException:
            compact.size, compact.stack = saved
            self.compact = None  # force a reload: the transaction will roll back
            raise
        return first


def append_entries(
    store: Store,
    objects: Sequence[dict[str, Any]],
    kinds: str | Sequence[str],
    ids: Sequence[str],
) -> list[int]:
    """Append objects to the log (entry = their RFC 8785 bytes); returns leaf indices.

    Idempotent per (kind, id): an object already logged with the same bytes returns its
    existing index; the same (kind, id) with different bytes raises TrucelineError.
    Commits one transaction. Sign a new head afterwards with `sign_head` if wanted.
    """
    if isinstance(kinds, str):
        kinds = [kinds] * len(objects)
    if not len(objects) == len(kinds) == len(ids):
        raise ValueError("objects, kinds and ids must have the same length")
    rows = []
    for obj, kind, oid in zip(objects, kinds, ids, strict=True):
        entry = formats.canonical_bytes(obj)
        rows.append(LogRow(kind, oid, entry, merkle.leaf_hash(entry)))
    result: list[int] = [-1] * len(rows)
    with store.write() as conn:
        existing: dict[tuple[str, str], tuple[int, bytes]] = {}
        keys = list({(r.kind, r.object_id) for r in rows})
        for i in range(0, len(keys), 200):
            part = keys[i:i + 200]
            cond = or_(*[(log_entries.c.kind == k) & (log_entries.c.object_id == o) for k, o in part])
            for idx, kind, oid, leaf in conn.execute(
                    select(log_entries.c.idx, log_entries.c.kind, log_entries.c.object_id, log_entries.c.leaf_hash)
                    .where(cond)):
                existing[(kind, oid)] = (int(idx), bytes(leaf))
        new_rows: list[LogRow] = []
        pending: dict[tuple[str, str], int] = {}
        fix: list[tuple[int, int]] = []
        for pos, row in enumerate(rows):
            key = (row.kind, row.object_id)
            if key in existing:
                idx, leaf = existing[key]
                if leaf != row.leaf_hash:
                    raise TrucelineError(f"{row.kind} {row.object_id!r} is already logged with different content")
                result[pos] = idx
            elif key in pending:
                if new_rows[pending[key]].leaf_hash != row.leaf_hash:
                    raise TrucelineError(f"{row.kind} {row.object_id!r} given twice with different content")
                fix.append((pos, pending[key]))
            else:
                pending[key] = len(new_rows)
                fix.append((pos, len(new_rows)))
                new_rows.append(row)
        appender = Appender()
        appender.sync(conn)
        first = appender.append(conn, new_rows)
        for pos, n in fix:
            result[pos] = first + n
    return result


# ---------------------------------------------------------------------------- heads


def _head_message(head: dict[str, Any]) -> bytes:
    return formats.canonical_bytes({k: v for k, v in head.items() if k != "signature"})


def sign_head(store: Store, key_file: str | Path | None = None) -> dict[str, Any]:
    """Sign and record a tree head for the current size (spec section 5 JSON form)."""
    with store.write() as conn:
        return sign_head_in(conn, key_file)


def sign_head_in(conn: Connection, key_file: str | Path | None = None) -> dict[str, Any]:
    key = log_signer(conn, key_file)
    size = tree_size(conn)
    head: dict[str, Any] = {
        "tree_size": size,
        "root_hash": formats.b64encode(root_at(conn, size)),
        "timestamp": formats.format_time(time.time()),
    }
    head["signature"] = formats.b64encode(key.sign(_head_message(head)))
    conn.execute(log_heads.insert().values(
        tree_size=size, root_hash=head["root_hash"], timestamp=head["timestamp"], signature=head["signature"],
        public_key=formats.public_key_b64(key), json=formats.canonical_bytes(head).decode()))
    return head


def latest_head(store: Store) -> dict[str, Any] | None:
    import json

    with store.engine.connect() as conn:
        row = conn.execute(select(log_heads.c.json).order_by(log_heads.c.head_id.desc()).limit(1)).first()
    return None if row is None else json.loads(row[0])


def public_key_json(store: Store, key_file: str | Path | None = None) -> dict[str, str]:
    """`{"public_key": ...}` (spec section 5), creating the log key on first use."""
    with store.write() as conn:
        public = log_public_key(conn)
        if public is None:
            public = formats.public_key_b64(log_signer(conn, key_file))
    return {"public_key": public}


def verify_head_signature(head: dict[str, Any], public_key_b64: str) -> bool:
    try:
        key = formats.public_key_from_b64(public_key_b64)
        key.verify(formats.b64decode(head["signature"], 64), _head_message(head))
    except Exception:  # noqa: BLE001  (any malformed head is simply not valid)
        return False
    return True


# ---------------------------------------------------------------------------- proofs


def _locate(conn: Connection, object_id: str, kind: str | None, columns: tuple) -> tuple:
    q = select(*columns, log_entries.c.kind).where(log_entries.c.object_id == object_id)
    if kind:
        q = q.where(log_entries.c.kind == kind)
    rows = conn.execute(q.limit(10)).all()
    if not rows:
        raise TrucelineError(f"{object_id!r} is not in the evidence log" + (f" as a {kind}" if kind else ""))
    if len(rows) > 1:
        kinds = ", ".join(sorted(r[-1] for r in rows))
        raise TrucelineError(f"{object_id!r} names several log entries ({kinds}): pass --kind")
    return tuple(rows[0])


def find_entry(store: Store, object_id: str, kind: str | None = None) -> tuple[int, str, bytes]:
    """(leaf index, kind, entry bytes) of a logged object, by id (and kind if ambiguous)."""
    with store.engine.connect() as conn:
        idx, entry, found_kind = _locate(conn, object_id, kind, (log_entries.c.idx, log_entries.c.entry))
    return int(idx), found_kind, bytes(entry)


def inclusion_proof(store: Store, object_id: str, size: int | None = None, kind: str | None = None) -> dict[str, Any]:
    """Spec section 5 inclusion proof of a logged object against tree size `size`
    (default: the latest signed head's size, or the current size if none is signed or
    the object was logged after it). Five small queries on one connection."""
    with store.engine.connect() as conn:
        index, leaf, _ = _locate(conn, object_id, kind, (log_entries.c.idx, log_entries.c.leaf_hash))
        index = int(index)
        current = tree_size(conn)
        if size is None:
            latest = conn.execute(select(log_heads.c.tree_size).order_by(log_heads.c.head_id.desc()).limit(1))
            size = latest.scalar_one_or_none()
            size = current if size is None or size <= index else int(size)
        if not 0 < size <= current:
            raise TrucelineError(f"tree size {size} out of range (the log has {current} entries)")
        if index >= size:
            raise TrucelineError(f"{object_id!r} is leaf {index}, not in a tree of size {size}")
        path = _paths(conn, merkle.inclusion_ranges(index, size))
    return {"id": object_id, "leaf_index": index, "tree_size": size, "leaf_hash": formats.b64encode(bytes(leaf)),
            "inclusion_path": [formats.b64encode(h) for h in path]}


def inclusion_proof_by_index(conn: Connection, index: int, size: int) -> list[bytes]:
    return _paths(conn, merkle.inclusion_ranges(index, size))


def consistency_proof(store: Store, first: int, second: int) -> dict[str, Any]:
    """Spec section 5 consistency proof between two tree sizes (0 <= first <= second <= size)."""
    with store.engine.connect() as conn:
        current = tree_size(conn)
        if not 0 <= first <= second <= current:
            raise TrucelineError(f"no consistency proof from {first} to {second} (the log has {current} entries)")
        path = _paths(conn, merkle.consistency_ranges(first, second))
    return {"first": first, "second": second, "consistency_path": [formats.b64encode(h) for h in path]}
