"""Alembic migrations run programmatically (no alembic.ini, no env.py): upgrade a store to a
revision, read its revision."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

#: PostgreSQL advisory lock key held while migrating (any fixed number unique to mscpk)
MIGRATION_LOCK = 726_1201
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def script_directory() -> ScriptDirectory:
    """The revisions shipped with the package."""
    return ScriptDirectory(str(MIGRATIONS), version_locations=[str(MIGRATIONS / "versions")])


def head() -> str:
    """The newest revision this mscpk knows.

    >>> head()
    '0003'
    """
    return script_directory().get_current_head()


def current(conn: Connection) -> str | None:
    """The revision of the store behind ``conn`` (None: no migration has run)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> None:
    """Migrate the store to ``target`` (a revision id or "head"), in one transaction."""
    script = script_directory()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def steps(rev, context):
        return script._upgrade_revs(target, rev)

    with engine.execution_options(mscpk_write=True).begin() as conn:
        if conn.dialect.name == "postgresql":  # two processes migrating at once: one waits
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        with EnvironmentContext(config, script, fn=steps, destination_rev=target) as env:
            env.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
            env.run_migrations()
