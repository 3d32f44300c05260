"""Store: one SQLAlchemy schema on SQLite (embedded default, WAL) or PostgreSQL.

    store = open_store("sqlite:///truceline.sqlite")   # or postgresql://..., runs migrations
    with store.write() as conn: ...                    # one locked write transaction
"""

from __future__ import annotations

from truceline.store.engine import DEFAULT_DB, Store, default_db_url, normalize_url, open_store, upgrade

__all__ = ["DEFAULT_DB", "Store", "default_db_url", "normalize_url", "open_store", "upgrade"]
