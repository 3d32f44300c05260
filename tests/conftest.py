"""Shared test fixtures: spec paths, stores on both backends, signed-report helpers.

`store` is parametrized over SQLite (a temporary file) and PostgreSQL (a fresh schema in
the throwaway cluster that `scripts/test` starts and exports as TRUCELINE_PG_URL). A
missing TRUCELINE_PG_URL is an ERROR, not a skip: run the suite through `scripts/test`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common import FIXTURES, SHARED_DATA, SPEC, SensorNet  # noqa: F401  (re-exported for fixtures)


def pg_url() -> str:
    url = os.environ.get("TRUCELINE_PG_URL")
    if not url:
        raise RuntimeError("TRUCELINE_PG_URL is not set: run the tests through scripts/test, "
                           "which starts a throwaway PostgreSQL cluster for the store tests")
    return url


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema (dropped afterwards)."""
    import sqlalchemy as sa

    from truceline.store import normalize_url

    base = normalize_url(pg_url())
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for an empty store, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    from truceline.store import open_store

    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def net() -> SensorNet:
    return SensorNet({"ac-1": "acoustic", "ac-2": "acoustic", "wlr-1": "radar", "uav-1": "uav",
                      "sat-1": "satellite", "mon-1": "monitor"})
