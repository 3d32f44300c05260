"""Commission tables: commission_cases, commission_case_events, commission_history,
commission_motions, commission_votes, commission_decisions (spelled out here, so later
edits of `truceline.store.commission_tables` need their own revision).

Revision ID: commission_0001
Revises: 0001_ingest_and_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "commission_0001"
down_revision = "0001_ingest_and_log"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "commission_cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("group_key", sa.Text, nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("sector", sa.String(128), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("severe", sa.Boolean, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("casualties", sa.Integer, nullable=True),
        sa.Column("damage", sa.String(32), nullable=True),
        sa.Column("responsible", sa.String(64), nullable=True),
        sa.Column("finding_id", sa.String(128), nullable=True),
        sa.Column("remedy_id", sa.String(128), nullable=True),
        sa.Column("publication_id", sa.String(128), nullable=True),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_commission_cases_state", "commission_cases", ["state"])
    op.create_index("ix_commission_cases_day", "commission_cases", ["day"])
    op.create_index("ix_commission_cases_responsible", "commission_cases", ["responsible"])
    op.create_index("ix_commission_cases_group_key", "commission_cases", ["group_key"])
    op.create_table(
        "commission_case_events",
        sa.Column("case_id", sa.String(64), sa.ForeignKey("commission_cases.case_id"), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("responsible", sa.String(64), nullable=True),
        sa.Column("attribution", sa.Text, nullable=False),
        sa.Column("violations", sa.Text, nullable=False),
        sa.Column("reports", sa.Text, nullable=False),
        sa.Column("feature", sa.Text, nullable=False),
        sa.UniqueConstraint("event_id", name="uq_commission_case_events_event_id"),
    )
    op.create_table(
        "commission_history",
        sa.Column("seq", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("commission_cases.case_id"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_commission_history_case_id", "commission_history", ["case_id"])
    op.create_table(
        "commission_motions",
        sa.Column("case_id", sa.String(64), sa.ForeignKey("commission_cases.case_id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("responsible", sa.String(64), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "commission_votes",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("motion", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("member", sa.String(64), primary_key=True),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
    )
    op.create_table(
        "commission_decisions",
        sa.Column("decision_id", sa.String(128), primary_key=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("commission_cases.case_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("leaf_index", sa.BigInteger, nullable=True),
        sa.Column("json", sa.Text, nullable=False),
    )
    op.create_index("ix_commission_decisions_case_id", "commission_decisions", ["case_id"])


def downgrade() -> None:
    for name in (
        "commission_decisions", "commission_votes", "commission_motions", "commission_history",
        "commission_case_events", "commission_cases",
    ):
        op.drop_table(name)
