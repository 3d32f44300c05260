"""Alembic environment: always run programmatically with a live connection
(`truceline.store.engine.upgrade`), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from truceline.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("truceline migrations run through truceline.store.open_store(), not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
