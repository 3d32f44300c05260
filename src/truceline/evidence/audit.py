"""`truceline log audit`: recompute the whole log from the stored bytes and compare.

Checks, in log order, stopping at the first mismatch: leaf indices have no gaps; every
entry's stored bytes hash to its stored leaf hash; every stored subtree node equals the
node recomputed from the leaves (and none is stored beyond the tree); every signed head
has the recomputed root for its size and a valid signature by the log key; every row of
`reports` points at a `report` leaf with the same id, hash, sensor, seq, kind and time.
A database edited after logging (a report's bytes, a hash, a node, a head) fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from sqlalchemy import func, select

from truceline import formats
from truceline.evidence import merkle
from truceline.evidence.keys import log_public_key
from truceline.evidence.log import verify_head_signature
from truceline.store import Store
from truceline.store.log_tables import NODE_STRIDE, log_entries, log_heads, log_nodes
from truceline.store.reports import reports


@dataclass
class AuditResult:
    ok: bool
    entries: int = 0
    nodes: int = 0
    heads: int = 0
    reports: int = 0
    first_mismatch: str | None = None
    root_hash: str = ""
    details: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "nodes_checked": self.nodes, "heads_checked": self.heads,
                "reports_checked": self.reports, "root_hash": self.root_hash, "first_mismatch": self.first_mismatch}


class _Mismatch(Exception):
    pass


def audit(store: Store, batch: int = 20000, advance: Callable[[int], None] | None = None) -> AuditResult:
    """Recompute leaves, nodes, heads and report rows; report the first mismatch."""
    result = AuditResult(ok=True)
    try:
        _audit(store, batch, advance or (lambda n: None), result)
    except _Mismatch as exc:
        result.ok = False
        result.first_mismatch = str(exc)
    return result


def _audit(store: Store, batch: int, advance: Callable[[int], None], result: AuditResult) -> None:
    with store.engine.connect() as conn:
        public = log_public_key(conn)
        stored = {(int(lv), int(i)): bytes(h) for lv, i, h in conn.execute(
            select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash))}
        heads = [(int(s), r, j) for s, r, j in conn.execute(
            select(log_heads.c.tree_size, log_heads.c.root_hash, log_heads.c.json)
            .order_by(log_heads.c.tree_size, log_heads.c.head_id))]
        n_reports = conn.execute(select(func.count()).select_from(reports)).scalar_one()
        compact = merkle.CompactRange()
        head_pos = 0

        def check_heads() -> None:
            nonlocal head_pos
            while head_pos < len(heads) and heads[head_pos][0] == compact.size:
                size, root_b64, text = heads[head_pos]
                head = json.loads(text)
                if root_b64 != formats.b64encode(compact.root()) or head.get("root_hash") != root_b64:
                    raise _Mismatch(f"signed head for tree size {size}: root hash differs from the recomputed root")
                if public is None or not verify_head_signature(head, public):
                    raise _Mismatch(f"signed head for tree size {size}: signature does not verify with the log key")
                result.heads += 1
                head_pos += 1

        check_heads()
        report_entries = 0
        lo = 0
        while True:
            rows = conn.execute(
                select(log_entries.c.idx, log_entries.c.kind, log_entries.c.object_id, log_entries.c.entry,
                       log_entries.c.leaf_hash)
                .where(log_entries.c.idx >= lo).order_by(log_entries.c.idx).limit(batch)).all()
            if not rows:
                break
            report_rows = {int(li): r for li, *r in conn.execute(
                select(reports.c.leaf_index, reports.c.id, reports.c.sensor, reports.c.seq, reports.c.kind,
                       reports.c.time, reports.c.content_hash)
                .where(reports.c.leaf_index.between(int(rows[0][0]), int(rows[-1][0]))))}
            for idx, kind, oid, entry, leaf in rows:
                idx = int(idx)
                if idx != compact.size:
                    raise _Mismatch(f"leaf {compact.size} is missing (next stored leaf is {idx})")
                entry, leaf = bytes(entry), bytes(leaf)
                h = merkle.leaf_hash(entry)
                if h != leaf:
                    raise _Mismatch(f"leaf {idx} ({kind} {oid!r}): stored bytes do not hash to the stored leaf hash")
                for level, index, node in compact.append(h):
                    if level % NODE_STRIDE == 0:
                        if stored.pop((level, index), None) != node:
                            raise _Mismatch(f"stored node (level {level}, index {index}) is missing or wrong")
                        result.nodes += 1
                if kind == "report":
                    report_entries += 1
                    _check_report(idx, oid, entry, h, report_rows.get(idx))
                    result.reports += 1
                elif idx in report_rows:
                    raise _Mismatch(f"report row {report_rows[idx][0]!r} points at leaf {idx}, a {kind} entry")
                check_heads()
            result.entries = compact.size
            advance(len(rows))
            lo = compact.size
        if stored:
            level, index = min(stored)
            raise _Mismatch(f"stored node (level {level}, index {index}) lies beyond the tree of {compact.size} leaves")
        if head_pos < len(heads):
            raise _Mismatch(f"signed head for tree size {heads[head_pos][0]} but the log has {compact.size} leaves")
        if n_reports != report_entries:
            raise _Mismatch(f"{n_reports} report rows but {report_entries} report leaves")
        result.root_hash = formats.b64encode(compact.root())


def _check_report(idx: int, oid: str, entry: bytes, leaf: bytes, row: list | None) -> None:
    if row is None:
        raise _Mismatch(f"leaf {idx} (report {oid!r}) has no row in reports")
    rid, sensor, seq, kind, time_text, content_hash = row
    try:
        report = orjson.loads(entry)
    except orjson.JSONDecodeError:
        raise _Mismatch(f"leaf {idx} (report {oid!r}): stored bytes are not JSON") from None
    expected = (report.get("id"), report.get("sensor"), report.get("seq"), report.get("kind"), report.get("time"))
    if (rid, sensor, int(seq), kind, time_text) != expected or rid != oid:
        raise _Mismatch(f"leaf {idx} (report {oid!r}): reports row differs from the logged report")
    if bytes(content_hash) != leaf:
        raise _Mismatch(f"leaf {idx} (report {oid!r}): reports.content_hash differs from the leaf hash")
