"""Tables of the evidence log (RFC 9162 Merkle tree, spec section 5).

* `log_entries`: one row per leaf, `idx` 0.., the logged object's RFC 8785 bytes and the
  leaf hash; `(kind, object_id)` is unique (kind `report`, `decision`, ...).
* `log_nodes`: roots of complete aligned subtrees `(level, idx)` covering leaves
  `[idx << level, (idx + 1) << level)`, kept for every level that is a positive multiple
  of `NODE_STRIDE` (4). Any other complete subtree is at most 2**3 = 8 stored hashes one
  stratum below, so a proof costs O(log n) small reads while the table holds only ~n/15
  rows (1/16 + 1/256 + ...), which keeps appends cheap. Level 0 is `log_entries.leaf_hash`.
* `log_heads`: every signed tree head the log has issued.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, SmallInteger, String, Table, Text

from truceline.store.base import metadata

NODE_STRIDE = 4

log_entries = Table(
    "log_entries",
    metadata,
    # INTEGER on SQLite so idx is the rowid (clustered: range reads and appends are cheap).
    Column("idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("object_id", String, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Index("ix_log_entries_kind_object", "kind", "object_id", unique=True),
    Index("ix_log_entries_object_id", "object_id"),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

log_heads = Table(
    "log_heads",
    metadata,
    Column("head_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("timestamp", String(32), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("json", Text, nullable=False),
    Index("ix_log_heads_tree_size", "tree_size"),
)
