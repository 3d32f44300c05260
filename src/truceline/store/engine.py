"""Opening a store: URL handling, engine set-up per dialect, migrations on open.

SQLite (the embedded default, a single file) runs in WAL mode with `synchronous=NORMAL`:
a committed transaction survives a killed process (SIGKILL), and readers do not block the
writer. The WAL is checkpointed every ~64 MB (fewer page copies during bulk ingest). PostgreSQL is the server option. Both get the same schema from the Alembic
revisions shipped in `truceline/store/migrations`, applied programmatically on open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from truceline.errors import TrucelineError

DEFAULT_DB = "sqlite:///./truceline.sqlite"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def default_db_url() -> str:
    """`$TRUCELINE_DB`, else a SQLite file `truceline.sqlite` in the working directory."""
    return os.environ.get("TRUCELINE_DB") or DEFAULT_DB


def normalize_url(url: str) -> str:
    """Accept `postgresql://`, `postgres://` and `postgresql+psycopg://`; a bare path means SQLite."""
    if "://" not in url:
        return f"sqlite:///{url}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return f"sqlite:///{rest[1:]}" if rest.startswith("/") else url
    raise TrucelineError(f"--db {url!r}: unsupported database (use sqlite:///FILE or postgresql://...)")


@dataclass
class Store:
    """An open store: the engine plus its dialect name (`sqlite` or `postgresql`)."""

    url: str
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction holding the store's writer lock until commit.

        SQLite: BEGIN IMMEDIATE (one writer per file). PostgreSQL: a transaction-scoped
        advisory lock, so concurrent writers append to the log one at a time.
        """
        with self.engine.connect() as conn:
            conn.execution_options(truceline_write=True)
            conn.begin()
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7305)"))
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL every ~64 MB rather than every 4 MB: index pages rewritten by
    # many transactions are copied to the database once per checkpoint, which cuts bulk
    # ingest's write volume; the WAL file is truncated back to 64 MB after a checkpoint.
    # (Crash safety is unchanged: committed transactions are in the WAL either way.)
    cur.execute("PRAGMA wal_autocheckpoint=16384")
    cur.execute("PRAGMA journal_size_limit=67108864")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def create_store_engine(url: str) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise TrucelineError(f"--db {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            parent = Path(parsed.database).expanduser().resolve().parent
            if not parent.is_dir():
                raise TrucelineError(f"--db {url!r}: directory {parent} does not exist")
        engine = create_engine(url)
        # Issue BEGIN ourselves (pysqlite's implicit transactions get in the way); write
        # transactions take the file's write lock up front (BEGIN IMMEDIATE).

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None
            _sqlite_pragmas(dbapi_conn, record)

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            immediate = conn.get_execution_options().get("truceline_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def open_store(url: str | None = None, migrate: bool = True) -> Store:
    """Open (and create or upgrade) the store at `url` (default: `default_db_url()`)."""
    url = url or default_db_url()
    engine = create_store_engine(url)
    store = Store(normalize_url(url), engine)
    if migrate:
        try:
            upgrade(store)
        except OperationalError as exc:
            engine.dispose()
            raise TrucelineError(f"cannot open database {_safe(url)}: {exc.orig}") from None
    return store


def _safe(url: str) -> str:
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<database>"


def alembic_config(store: Store, conn: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(store: Store, revision: str = "heads") -> None:
    """Run the shipped Alembic migrations up to `revision` (all heads by default)."""
    from alembic import command

    with store.engine.connect() as conn:
        conn.execution_options(truceline_write=True)
        conn.begin()
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7306)"))
        command.upgrade(alembic_config(store, conn), revision)
        conn.commit()
