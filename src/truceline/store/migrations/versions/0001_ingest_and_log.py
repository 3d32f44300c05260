"""Ingest and evidence log tables: truceline_meta, reports, quarantine, ingest_runs,
log_entries, log_nodes, log_heads (spelled out here, so later edits of the table
modules need their own revision).

Revision ID: 0001_ingest_and_log
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ingest_and_log"
down_revision = None
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "truceline_meta",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("sensor", sa.String, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("leaf_index", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.UniqueConstraint("sensor", "seq", name="uq_reports_sensor_seq"),
        sa.UniqueConstraint("leaf_index", name="uq_reports_leaf_index"),
    )
    op.create_index("ix_reports_time_s", "reports", ["time_s"])
    op.create_table(
        "quarantine",
        sa.Column("qid", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("report_id", sa.String, nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.UniqueConstraint("source", "line", name="uq_quarantine_source_line"),
    )
    op.create_index("ix_quarantine_reason", "quarantine", ["reason"])
    op.create_table(
        "ingest_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("started", sa.String(32), nullable=False),
        sa.Column("finished", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lines", sa.BigInteger, nullable=False),
        sa.Column("accepted", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("quarantined", sa.BigInteger, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "log_entries",
        sa.Column("idx", _SERIAL, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String, nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_log_entries_kind_object", "log_entries", ["kind", "object_id"], unique=True)
    op.create_index("ix_log_entries_object_id", "log_entries", ["object_id"])
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "log_heads",
        sa.Column("head_id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("json", sa.Text, nullable=False),
    )
    op.create_index("ix_log_heads_tree_size", "log_heads", ["tree_size"])


def downgrade() -> None:
    for name in ("log_heads", "log_nodes", "log_entries", "ingest_runs", "quarantine", "reports", "truceline_meta"):
        op.drop_table(name)
