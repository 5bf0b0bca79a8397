"""Store URLs to SQLAlchemy engines: SQLite in WAL mode with a busy timeout, PostgreSQL through
psycopg 3 (docs/store.md, "URLs")."""

from __future__ import annotations

import functools
import os
import tomllib
from importlib import resources
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from mscpk.errors import StoreError

#: The store used when neither a URL nor the environment variable MSCPK_DB gives one.
DEFAULT_URL = "sqlite:///mscpk.db"
ENV_VAR = "MSCPK_DB"
ALLOWED = "sqlite:///PATH.db or postgresql://USER@HOST:PORT/DATABASE"


def guarded(method):
    """Database failures (server unreachable, file locked past the busy timeout, tables
    missing) become one-line :class:`StoreError` naming the store."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except (DBAPIError, SQLAlchemyError) as exc:
            orig = getattr(exc, "orig", None) or exc
            first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
            raise StoreError(f"store {self.url}: {first}") from None

    return wrapper


@functools.cache
def settings() -> dict[str, dict[str, float]]:
    """The numbers of data/store.toml, ``{table: {key: value}}`` (read once per process; callers
    only read it)."""
    doc = tomllib.loads(resources.files("mscpk.data").joinpath("store.toml").read_text("utf-8"))
    return {t: {k: float(v["value"]) for k, v in d.items()} for t, d in doc.items()}


def resolve_url(url: str | None) -> str:
    """``url``, else the environment variable MSCPK_DB, else :data:`DEFAULT_URL`.

    >>> resolve_url("sqlite:///runs.db")
    'sqlite:///runs.db'
    """
    return url if url is not None else os.environ.get(ENV_VAR) or DEFAULT_URL


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a store URL: ``postgresql://`` (or ``postgres://``) goes through
    psycopg 3; anything but SQLite and PostgreSQL is refused (:class:`StoreError`).

    >>> parse_url("postgresql://mscpk@db:5432/lab").drivername
    'postgresql+psycopg'
    """
    text = str(url).strip()
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        raise StoreError(f"--db {text!r}: not a database URL; allowed: {ALLOWED}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if parsed.database in (None, ""):
            raise StoreError(f"--db {text!r}: no file name; allowed: {ALLOWED}")
        return parsed.set(drivername="sqlite+pysqlite")
    raise StoreError(f"--db {text!r}: database {parsed.drivername!r} is not supported; allowed: {ALLOWED}")


def display_url(url: str) -> str:
    """A store URL as given, its password (if any) replaced by ``***``.

    >>> display_url("postgresql://ann:secret@db/lab")
    'postgresql://ann:***@db/lab'
    """
    text = str(url).strip()
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        return text
    return parsed.render_as_string(hide_password=True) if parsed.password else text


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database or another backend)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def make_engine(url: URL) -> Engine:
    """An engine for ``url``. SQLite: WAL journal, ``busy_timeout``, foreign keys on, and
    transactions begun by SQLAlchemy (``BEGIN IMMEDIATE`` for a write, so that two writers
    queue on the busy timeout instead of failing on a lock upgrade)."""
    numbers = settings()
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True,
                             connect_args={"connect_timeout": int(numbers["postgresql"]["connect_timeout"])})
    path = sqlite_path(url)
    engine = create_engine(url, connect_args={"timeout": numbers["sqlite"]["busy_timeout"]})
    busy_ms = int(1000 * numbers["sqlite"]["busy_timeout"])

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record) -> None:  # noqa: ARG001 -- event signature
        dbapi_conn.isolation_level = None  # pysqlite must not begin transactions itself
        cur = dbapi_conn.cursor()
        if path is not None:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("mscpk_write") else "BEGIN")

    return engine
