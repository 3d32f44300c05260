"""The one SQLAlchemy `MetaData` every table module registers its tables on.

Each stage keeps its tables in its own module (`store.reports`, `store.log_tables`, the
commission's module later) and ships an Alembic revision for them in
`truceline/store/migrations/versions/`; `truceline.store.open_store` runs all revisions.
Importing `truceline.store.tables` imports every table module, so `metadata` is complete.
"""

from __future__ import annotations

from sqlalchemy import MetaData

# Deterministic constraint names, so Alembic revisions and both dialects agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
