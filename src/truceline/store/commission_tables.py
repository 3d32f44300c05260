"""Tables of the special commission: cases, their events, history, motions, votes and
the decisions appended to the evidence log.

JSON payloads are stored as text (RFC 8785 canonical bytes for logged decisions), so both
SQLite and PostgreSQL hold byte-identical content. The Alembic revision
``commission_0001`` in ``store/migrations/versions`` creates these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from truceline.store.base import metadata

_SERIAL = BigInteger().with_variant(Integer, "sqlite")

commission_cases = Table(
    "commission_cases",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("origin", String(16), nullable=False),  # "auto" (from events) or "manual"
    Column("group_key", Text, nullable=True),
    Column("rule", String(64), nullable=False),
    Column("rules", Text, nullable=False),  # JSON list of every rule code in the case
    Column("party", String(64), nullable=False),  # grouping party or "undetermined"
    Column("sector", String(128), nullable=False),
    Column("day", String(10), nullable=False),
    Column("severe", Boolean, nullable=False),
    Column("title", Text, nullable=False),
    Column("time_s", Float, nullable=False),  # earliest event time (recurrence windows)
    Column("casualties", Integer, nullable=True),
    Column("damage", String(32), nullable=True),
    Column("responsible", String(64), nullable=True),  # set by an adopted finding
    Column("finding_id", String(128), nullable=True),
    Column("remedy_id", String(128), nullable=True),
    Column("publication_id", String(128), nullable=True),
    Column("opened_by", String(64), nullable=False),
    Column("opened_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_commission_cases_state", "state"),
    Index("ix_commission_cases_day", "day"),
    Index("ix_commission_cases_responsible", "responsible"),
    Index("ix_commission_cases_group_key", "group_key"),
)

commission_case_events = Table(
    "commission_case_events",
    metadata,
    Column("case_id", String(64), ForeignKey("commission_cases.case_id"), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("time", String(32), nullable=False),
    Column("time_s", Float, nullable=False),
    Column("type", String(32), nullable=False),
    Column("responsible", String(64), nullable=True),
    Column("attribution", Text, nullable=False),  # JSON object party -> probability
    Column("violations", Text, nullable=False),  # JSON list
    Column("reports", Text, nullable=False),  # JSON list of report ids
    Column("feature", Text, nullable=False),  # the GeoJSON feature as analysed
    UniqueConstraint("event_id", name="uq_commission_case_events_event_id"),
)

commission_history = Table(
    "commission_history",
    metadata,
    Column("seq", _SERIAL, primary_key=True, autoincrement=True),
    Column("case_id", String(64), ForeignKey("commission_cases.case_id"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("to_state", String(32), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),  # JSON object
    Index("ix_commission_history_case_id", "case_id"),
)

commission_motions = Table(
    "commission_motions",
    metadata,
    Column("case_id", String(64), ForeignKey("commission_cases.case_id"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),  # "finding" | "dismissal"
    Column("responsible", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # open | adopted | superseded
)

commission_votes = Table(
    "commission_votes",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("motion", Integer, primary_key=True, autoincrement=False),
    Column("member", String(64), primary_key=True),
    Column("choice", String(8), nullable=False),
    Column("reason", Text, nullable=False),
    Column("time", String(32), nullable=False),
    Column("decision_id", String(128), nullable=False),
)

commission_decisions = Table(
    "commission_decisions",
    metadata,
    Column("decision_id", String(128), primary_key=True),
    Column("case_id", String(64), ForeignKey("commission_cases.case_id"), nullable=False),
    Column("kind", String(16), nullable=False),  # vote | finding | dismissal | remedy | publication
    Column("actor", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("leaf_index", BigInteger, nullable=True),  # position in the evidence log
    Column("json", Text, nullable=False),  # RFC 8785 bytes of the logged object (UTF-8)
    Index("ix_commission_decisions_case_id", "case_id"),
)
