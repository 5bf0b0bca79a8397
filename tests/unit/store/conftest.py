"""The store tests run against SQLite and PostgreSQL: ``store_url`` is a fresh SQLite file, or
a fresh schema of the server in MSCPK_TEST_POSTGRES_URL (skipped with a reason when unset)."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest

from mscpk.store import open_store

PG_ENV = "MSCPK_TEST_POSTGRES_URL"


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def pg_schema(prefix: str):
    """A fresh schema of the server in MSCPK_TEST_POSTGRES_URL (the test is skipped with a reason
    when the variable is unset): yields the URL whose connections use it; dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (a PostgreSQL server for the store tests; .ci/run sets it)")
    import sqlalchemy as sa

    from mscpk.store.connect import parse_url

    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(parse_url(base))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The URL of an empty store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with pg_schema("t") as url:
        yield url


@pytest.fixture
def empty_store(store_url):
    """A store on each backend, not initialised."""
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def store(empty_store):
    """An initialised store on each backend."""
    empty_store.init()
    return empty_store
