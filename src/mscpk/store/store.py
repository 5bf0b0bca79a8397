"""The project store: :func:`open_store` and :class:`Store` (users, projects, runs and their
results). Every write is one transaction; docs/store.md describes the schema and concurrency.

>>> import tempfile, pandas as pd
>>> folder = tempfile.TemporaryDirectory()
>>> store = open_store(f"sqlite:///{folder.name}/lab.db")
>>> store.init()
>>> with store.record("simulate", inputs={"scenario": "a.toml"}) as rec:
...     rec.add_table("result", pd.DataFrame({"time_h": [0.0, 1.0], "value": [5.0, 4.0]}))
>>> run = store.run(rec.run_id)
>>> run.kind, run.status, store.table_names(run.id)
('simulate', 'done', ['result'])
>>> store.close()
>>> folder.cleanup()
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import argon2
from sqlalchemy import delete, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mscpk._version import __version__
from mscpk.errors import StoreError
from mscpk.store.connect import display_url, guarded, make_engine, parse_url, resolve_url, settings, sqlite_path
from mscpk.store.export import export_run
from mscpk.store.info import (ProjectInfo, RunInfo, StudyImport, User, check_fraction, check_kind, encode_results,
                              scenario_names, sha256)
from mscpk.store.migrate import current, head, upgrade as migrate_to
from mscpk.store.models import (MemberRow, ProjectRow, RunFileRow, RunRow, RunTableRow, ScenarioRow,
                                SettingRow, StudyRow, UserRow, utcnow)
from mscpk.store.reading import RunReader
from mscpk.store.recording import Recorder

if TYPE_CHECKING:
    import pandas as pd

_HASHER = argon2.PasswordHasher()
#: compared with when a user name is unknown, so that a wrong name costs as long as a wrong password
_DUMMY_HASH = _HASHER.hash("mscpk: no such user")


def open_store(url: str | None = None) -> Store:
    """The store at ``url`` (None: the environment variable MSCPK_DB, else
    ``sqlite:///mscpk.db`` in the current folder). Nothing is created until :meth:`Store.init`."""
    return Store(resolve_url(url))


class Store(RunReader):
    """A project store (SQLite file or PostgreSQL database); see the module docstring."""

    def __init__(self, url: str) -> None:
        self._sa_url = parse_url(url)
        #: the URL as given, password hidden (in messages)
        self.url = display_url(url)
        self.backend = self._sa_url.get_backend_name()
        path = sqlite_path(self._sa_url)
        if path is not None and not path.parent.is_dir():
            raise StoreError(f"--db {self.url!r}: folder {str(path.parent)!r} does not exist")
        if path is not None and path.is_dir():
            raise StoreError(f"--db {self.url!r}: {str(path)!r} is a folder; give a file name")
        self._engine = None
        self._ready = False

    # ---- connection, migrations ---------------------------------------------------------

    @property
    def engine(self):
        """The SQLAlchemy engine (made on first use)."""
        if self._engine is None:
            self._engine = make_engine(self._sa_url)
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self._ready = False

    @guarded
    def init(self) -> None:
        """Create the store, or migrate it to the newest revision (idempotent), and make its
        secret."""
        migrate_to(self.engine, "head")
        try:
            with self._write() as s:
                if s.get(SettingRow, "secret") is None:
                    s.add(SettingRow(key="secret", value=secrets.token_bytes(32)))
        except IntegrityError:  # another process's init made it at the same moment
            pass
        self._ready = True

    upgrade = init

    @guarded
    def upgrade_to(self, revision: str) -> None:
        """Migrate to an older-or-equal named revision (tests of migrations; users call init)."""
        migrate_to(self.engine, revision)

    @guarded
    def revision(self) -> str | None:
        """The store's migration revision (None: empty, never initialised)."""
        path = sqlite_path(self._sa_url)
        if path is not None and not path.exists():
            return None
        with self.engine.connect() as conn:
            return current(conn)

    def check(self) -> None:
        """Refuse (:class:`StoreError`) a store that is missing or older than this mscpk, before
        any work is done. A refused store keeps no pooled connection open."""
        if self._ready:
            return
        try:
            rev = self.revision()
            if rev is None:
                raise StoreError(f"store {self.url}: not initialised; run `mscpk db init --db {self.url}`")
            if rev != head():
                raise StoreError(f"store {self.url}: at revision {rev}, this mscpk needs {head()}; "
                                 f"run `mscpk db upgrade --db {self.url}`")
        except StoreError:
            self.close()
            raise
        self._ready = True

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A session in one write transaction (SQLite: BEGIN IMMEDIATE), committed on exit."""
        with Session(self.engine.execution_options(mscpk_write=True), expire_on_commit=False) as s, s.begin():
            yield s

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        self.check()
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    def tables(self) -> list[str]:
        """The names of the tables in the database (for checks of migrations)."""
        with self.engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())

    # ---- users and projects -------------------------------------------------------------

    @guarded
    def add_user(self, name: str, password: str) -> int:
        """A new user (password stored as an argon2id hash); returns the user's id."""
        self.check()
        name = (name or "").strip() if isinstance(name, str) else ""
        if not name or len(name) > 200:
            raise StoreError(f"user name {name!r}: give 1 to 200 characters")
        if not isinstance(password, str) or len(password) < settings()["passwords"]["min_length"]:
            raise StoreError(f"user {name!r}: the password is empty; give one")
        try:
            with self._write() as s:
                if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                    raise StoreError(f"user {name!r}: already exists; choose another name")
                row = UserRow(name=name, password_hash=_HASHER.hash(password))
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:  # a concurrent add of the same name
            raise StoreError(f"user {name!r}: already exists; choose another name") from None

    @guarded
    def authenticate(self, name: str, password: str) -> User | None:
        """The user with this name and password, else None."""
        with self._read() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
        try:
            _HASHER.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return None
        return User(row.id, row.name) if row else None

    @guarded
    def user(self, user_id: int) -> User | None:
        """The user with this id, else None."""
        with self._read() as s:
            row = s.get(UserRow, user_id)
        return User(row.id, row.name) if row else None

    @guarded
    def user_named(self, name: str) -> User | None:
        """The user with this name, else None."""
        with self._read() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
        return User(row.id, row.name) if row else None

    @guarded
    def secret(self) -> bytes:
        """The store's random secret (made by init), to sign cookies and tokens."""
        with self._read() as s:
            row = s.get(SettingRow, "secret")
        if row is None:
            raise StoreError(f"store {self.url}: no secret; run `mscpk db init --db {self.url}`")
        return bytes(row.value)

    @guarded
    def add_project(self, name: str, owner_id: int) -> int:
        """A new project owned (and joined) by ``owner_id``; returns its id."""
        self.check()
        if not isinstance(name, str) or not name.strip():
            raise StoreError(f"project name {name!r}: give a name")
        with self._write() as s:
            if s.get(UserRow, owner_id) is None:
                raise StoreError(f"user {owner_id!r}: does not exist")
            row = ProjectRow(name=name.strip(), owner_id=owner_id)
            s.add(row)
            s.flush()
            s.add(MemberRow(project_id=row.id, user_id=owner_id))
            return row.id

    @guarded
    def add_member(self, project_id: int, user_id: int) -> None:
        """Let ``user_id`` see the runs of ``project_id`` (idempotent)."""
        self.check()
        with self._write() as s:
            if s.get(ProjectRow, project_id) is None:
                raise StoreError(f"project {project_id!r}: does not exist")
            if s.get(UserRow, user_id) is None:
                raise StoreError(f"user {user_id!r}: does not exist")
            if s.get(MemberRow, (project_id, user_id)) is None:
                s.add(MemberRow(project_id=project_id, user_id=user_id))

    @guarded
    def projects(self, user_id: int) -> list[ProjectInfo]:
        """The projects ``user_id`` belongs to, oldest first, with their members' names."""
        with self._read() as s:
            mine = select(MemberRow.project_id).where(MemberRow.user_id == user_id)
            rows = s.scalars(select(ProjectRow).where(ProjectRow.id.in_(mine)).order_by(ProjectRow.id)).all()
            out = []
            for p in rows:
                names = s.execute(select(UserRow.id, UserRow.name).join(MemberRow, MemberRow.user_id == UserRow.id)
                                  .where(MemberRow.project_id == p.id).order_by(UserRow.name)).all()
                members = sorted(names, key=lambda r: (r.id != p.owner_id, r.name))
                out.append(ProjectInfo(p.id, p.name, p.owner_id, tuple(r.name for r in members)))
            return out

    # ---- runs: writing --------------------------------------------------------------------

    @guarded
    def create_run(self, kind: str, *, scenario_toml: str | None = None, inputs: dict | None = None,
                   user_id: int | None = None, project_id: int | None = None, status: str = "queued") -> int:
        """A new run (``status`` "queued" for a worker, or "running"); returns its id."""
        self.check()
        if status not in ("queued", "running"):
            raise StoreError(f"status {status!r}: a new run is 'queued' or 'running'")
        with self._write() as s:
            row = self._new_run(s, kind, scenario_toml, inputs, user_id, project_id, status)
            return row.id

    def _new_run(self, s: Session, kind, scenario_toml, inputs, user_id, project_id, status) -> RunRow:
        check_kind(kind)
        try:
            json.dumps(inputs or {}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"inputs of the {kind} run: not storable as JSON ({exc})") from None
        if project_id is not None and s.get(ProjectRow, project_id) is None:
            raise StoreError(f"project {project_id!r}: does not exist")
        if user_id is not None and s.get(UserRow, user_id) is None:
            raise StoreError(f"user {user_id!r}: does not exist")
        if project_id is not None and user_id is not None and s.get(MemberRow, (project_id, user_id)) is None:
            raise StoreError(f"project {project_id!r}: user {user_id!r} is not a member; only members add runs to it")
        now = utcnow()
        row = RunRow(kind=kind, status=status, inputs=dict(inputs or {}), mscpk_version=__version__,
                     user_id=user_id, project_id=project_id, created_at=now, progress=0.0,
                     started_at=now if status != "queued" else None,
                     scenario_id=self._scenario_id(s, scenario_toml))
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def _scenario_id(s: Session, toml_text: str | None) -> int | None:
        """The id of the stored scenario with this text, stored once per distinct text."""
        if toml_text is None:
            return None
        if not isinstance(toml_text, str):
            raise StoreError(f"scenario_toml: a text is needed, not {type(toml_text).__name__}")
        digest = sha256(toml_text)
        found = s.scalar(select(ScenarioRow.id).where(ScenarioRow.sha256 == digest))
        if found is not None:
            return found
        name, product = scenario_names(toml_text)
        try:
            with s.begin_nested():  # another process may store the same text at this moment
                row = ScenarioRow(sha256=digest, name=name, product=product, toml_text=toml_text)
                s.add(row)
            return row.id
        except IntegrityError:
            return s.scalar(select(ScenarioRow.id).where(ScenarioRow.sha256 == digest))

    @guarded
    def claim_run(self, kinds: list[str] | tuple[str, ...] | None = None, *,
                  lease_s: float | None = None) -> RunInfo | None:
        """The oldest queued run (of ``kinds``), atomically marked running; None if none waits.
        Safe with several worker processes: a run is handed to one of them only.

        First, in the same transaction, every running run whose worker's heartbeat is older
        than ``lease_s`` (default: data/store.toml ``workers.lease``) is re-queued, or failed
        once it was claimed ``workers.max_attempts`` times (docs/store.md, "Leases")."""
        lease = self._lease(lease_s)
        self.check()
        with self._write() as s:
            self._expire_leases(s, lease)
            q = select(RunRow).where(RunRow.status == "queued")
            if kinds is not None:
                q = q.where(RunRow.kind.in_(list(kinds)))
            row = s.scalar(q.order_by(RunRow.id).limit(1).with_for_update(skip_locked=True))
            if row is None:
                return None
            now = utcnow()
            row.status, row.started_at, row.heartbeat_at = "running", now, now
            row.attempts = int(row.attempts or 0) + 1
            s.flush()
            return self._info(s, row)

    @staticmethod
    def _lease(lease_s: float | None) -> float:
        lease = settings()["workers"]["lease"] if lease_s is None else lease_s
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise StoreError(f"lease_s: {lease_s!r} is not allowed; give a number of seconds > 0")
        return float(lease)

    @staticmethod
    def _expire_leases(s: Session, lease: float) -> None:
        cutoff = utcnow() - timedelta(seconds=lease)
        tries = int(settings()["workers"]["max_attempts"])
        q = (select(RunRow).where(RunRow.status == "running", RunRow.heartbeat_at.is_not(None),
                                  RunRow.heartbeat_at < cutoff).with_for_update(skip_locked=True))
        for row in s.scalars(q):
            if row.attempts >= tries:
                row.status, row.finished_at = "failed", utcnow()
                row.error = (f"its worker stopped (no heartbeat for {lease:g} s) {row.attempts} times; "
                             f"not retried again; the server log may say why")
            else:
                row.status, row.heartbeat_at, row.progress = "queued", None, 0.0
                row.message = f"re-queued: its worker stopped (no heartbeat for {lease:g} s)"

    @guarded
    def heartbeat(self, run_id: int, attempt: int | None = None) -> bool:
        """Renew the lease of a running run (its worker is alive); False when the run is no
        longer running, or no longer in claim number ``attempt`` (re-queued after its lease
        expired, perhaps claimed again by another worker)."""
        self.check()
        q = update(RunRow).where(RunRow.id == run_id, RunRow.status == "running")
        if attempt is not None:
            q = q.where(RunRow.attempts == attempt)
        with self._write() as s:
            n = s.execute(q.values(heartbeat_at=utcnow())).rowcount
        return bool(n)

    @guarded
    def set_progress(self, run_id: int, fraction: float, message: str | None = None) -> None:
        """Record how far a queued or running run is (``fraction`` 0-1)."""
        fraction = check_fraction(fraction)
        self.check()
        with self._write() as s:
            row = self._open_run(s, run_id, "report progress")
            row.progress, row.message = fraction, message
            if row.status == "running" and row.heartbeat_at is not None:
                row.heartbeat_at = utcnow()  # progress is a sign of life too

    @guarded
    def finish_run(self, run_id: int, *, tables: dict | None = None, files: dict | None = None,
                   params: pd.DataFrame | None = None, timings: dict | None = None,
                   studies: list[StudyImport] | None = None, attempt: int | None = None) -> None:
        """Store a run's results and mark it done, in one transaction. With ``attempt`` (a
        worker's claim number) only while the run is still in that claim."""
        blobs = encode_results(tables, files, params, studies)
        self.check()
        with self._write() as s:
            row = self._open_run(s, run_id, "finish", attempt)
            self._add_results(s, row, blobs)
            row.status, row.finished_at, row.progress = "done", utcnow(), 1.0
            row.timings = dict(timings) if timings is not None else row.timings

    @guarded
    def fail_run(self, run_id: int, error: str, attempt: int | None = None) -> None:
        """Mark a queued or running run failed with ``error`` (one line for the user); with
        ``attempt``, only while the run is still in that claim."""
        self.check()
        with self._write() as s:
            row = self._open_run(s, run_id, "fail", attempt)
            row.status, row.finished_at, row.error = "failed", utcnow(), str(error)

    @contextlib.contextmanager
    def record(self, kind: str, *, scenario_toml: str | None = None, inputs: dict | None = None,
               user_id: int | None = None, project_id: int | None = None,
               started_at: datetime | None = None) -> Iterator[Recorder]:
        """Collect a command's results and store them as one done run when the block ends
        (one transaction); an exception inside stores nothing. ``rec.run_id`` is set after
        the block. ``started_at`` (default: the block's start, UTC) is the run's start."""
        check_kind(kind)
        self.check()
        rec = Recorder()
        start, started_at = time.perf_counter(), started_at or utcnow()
        yield rec
        timings = {"total_s": time.perf_counter() - start, **rec.timings}
        rec.run_id = self._store_recorded(kind, scenario_toml, inputs, user_id, project_id, rec, timings, started_at)

    @guarded
    def _store_recorded(self, kind, scenario_toml, inputs, user_id, project_id, rec: Recorder, timings,
                        started_at: datetime) -> int:
        blobs = encode_results(rec.tables, rec.files, rec.params, rec.studies)
        with self._write() as s:
            row = self._new_run(s, kind, scenario_toml, inputs, user_id, project_id, "running")
            row.created_at = row.started_at = started_at
            self._add_results(s, row, blobs)
            row.status, row.finished_at, row.progress, row.timings = "done", utcnow(), 1.0, timings
            row.message = rec.message
            return row.id

    def _open_run(self, s: Session, run_id: int, action: str, attempt: int | None = None) -> RunRow:
        row = s.get(RunRow, run_id, with_for_update=True)
        if row is None:
            raise StoreError(f"run {run_id!r}: does not exist")
        if row.status not in ("queued", "running"):
            raise StoreError(f"run {run_id}: is {row.status}; only a queued or running run can {action}")
        if attempt is not None and (row.status, row.attempts) != ("running", attempt):
            raise StoreError(f"run {run_id}: its claim {attempt} expired (now {row.status}, claim {row.attempts}); "
                             f"this worker cannot {action} it")
        return row

    @staticmethod
    def _add_results(s: Session, row: RunRow, blobs: dict) -> None:
        for name, (n, data) in blobs["tables"].items():
            s.add(RunTableRow(run_id=row.id, name=name, n_rows=n, parquet=data))
        for name, data in blobs["files"].items():
            s.add(RunFileRow(run_id=row.id, name=name, data=data))
        for st in blobs["studies"]:
            s.add(StudyRow(run_id=row.id, **st))
        if blobs["params"] is not None:
            row.params = blobs["params"]

    @guarded
    def delete_run(self, run_id: int) -> None:
        """Delete a run with its tables, files and studies."""
        self.check()
        with self._write() as s:
            row = self._must(s, run_id, None)
            for model in (RunTableRow, RunFileRow, StudyRow):
                s.execute(delete(model).where(model.run_id == row.id))
            s.delete(row)

    def export(self, run_id: int, out_dir: str | Path, user_id: int | None = None) -> list[Path]:
        """Write a run's files, tables (CSV), parameters in force, study rows, scenario and
        inputs into ``out_dir`` (created; its parent must exist), all or nothing."""
        return export_run(self, run_id, Path(out_dir), user_id)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


__all__ = ["Store", "open_store"]
