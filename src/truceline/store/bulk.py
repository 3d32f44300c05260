"""Fast bulk inserts for the ingest hot path (one call per batch, inside the caller's
transaction): `executemany` on the raw sqlite3 cursor, `COPY ... FROM STDIN` on
PostgreSQL (psycopg 3). SQLAlchemy Core's per-row parameter processing costs more
than the insert itself at a million rows, so the hot path bypasses it; everything else
uses Core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` within `conn`'s transaction."""
    if not rows:
        return
    for name in columns:  # names come from our own Table objects; check anyway
        if name not in table.c:
            raise ValueError(f"{table.name} has no column {name!r}")
    cols = ", ".join(columns)
    dialect = conn.dialect.name
    dbapi = conn.connection.dbapi_connection
    if dialect == "sqlite":
        cur = dbapi.cursor()
        try:
            cur.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join('?' * len(columns))})", rows)
        finally:
            cur.close()
    elif dialect == "postgresql":
        with dbapi.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
