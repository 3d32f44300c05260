"""Tables of the ingest stage: accepted reports, quarantine, ingest runs, key-value meta.

A report's full content (the RFC 8785 bytes of the report as received, `sig`
included) lives once, in the evidence log's `log_entries.entry`; `reports` holds the
columns other stages query on plus `leaf_index`, the report's position in the log.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from truceline.store.base import metadata

reports = Table(
    "reports",
    metadata,
    Column("id", String, primary_key=True),
    Column("sensor", String, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time", String(32), nullable=False),
    Column("time_s", Float, nullable=False),
    Column("leaf_index", BigInteger, nullable=False),
    Column("content_hash", LargeBinary(32), nullable=False),  # = the log leaf hash
    Column("run_id", Integer, nullable=True),
    UniqueConstraint("sensor", "seq", name="uq_reports_sensor_seq"),
    UniqueConstraint("leaf_index", name="uq_reports_leaf_index"),
    Index("ix_reports_time_s", "time_s"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("qid", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=True),
    Column("source", String, nullable=False),  # SHA-256 of the input file, or a run label
    Column("line", Integer, nullable=False),
    Column("report_id", String, nullable=True),
    Column("reason", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("raw", Text, nullable=False),
    UniqueConstraint("source", "line", name="uq_quarantine_source_line"),
    Index("ix_quarantine_reason", "reason"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("source", String, nullable=False),
    Column("source_name", Text, nullable=False),
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=True),
    Column("status", String(16), nullable=False),  # running | done
    Column("lines", BigInteger, nullable=False, default=0),
    Column("accepted", BigInteger, nullable=False, default=0),
    Column("duplicates", BigInteger, nullable=False, default=0),
    Column("quarantined", BigInteger, nullable=False, default=0),
    Column("tree_size", BigInteger, nullable=True),
)

meta = Table(
    "truceline_meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)
