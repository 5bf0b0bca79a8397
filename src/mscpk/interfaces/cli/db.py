"""``mscpk db ...`` (the project store: init, upgrade, runs, show, export, add-user) and the
``--db URL`` of the commands that store their run (:class:`StoredRun`); docs/store.md."""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from mscpk.interfaces.cli.common import user_errors

db_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                     help="The project store: every run with what produced it (SQLite or PostgreSQL).")

DB_HELP = ("project store URL: sqlite:///FILE.db or postgresql://USER@HOST:PORT/DB "
           "(default: $MSCPK_DB, else sqlite:///mscpk.db)")
Db = Annotated[Optional[str], typer.Option("--db", help=DB_HELP, show_default=False)]
#: the --db option of the commands that store their run (no default: nothing stored without it)
StoreDb = Annotated[Optional[str], typer.Option(
    "--db", help="also store this run (inputs, parameters in force, results) in the project store at "
                 "this URL (sqlite:///FILE.db or postgresql://...; initialised by `mscpk db init`)",
    show_default=False)]


class StoredRun:
    """A command's run on its way into the store: opened and checked before any work, the
    results added as they are made, committed by :meth:`write` between writing the output
    files to temporary files and renaming them (a command that fails stores nothing)."""

    def __init__(self, url: str, kind: str, inputs: dict) -> None:
        from mscpk.store import open_store

        self.store = open_store(url)
        try:
            self.store.check()  # a bad URL or a store not initialised fails before the work
        finally:
            self.store.close()  # no connection held while the command works
        self.kind, self.start, self.started_at = kind, time.perf_counter(), datetime.now(timezone.utc)
        self.scenario_toml: str | None = None
        self.inputs = {k: _jsonable(v) for k, v in inputs.items() if k != "db"}
        self.tables: dict = {}
        self.params = None
        self.studies: list = []
        self.run_id: int | None = None

    def add_scenario(self, path: Path) -> None:
        """The scenario file's text (read after the scenario has loaded)."""
        self.scenario_toml = Path(path).read_text(encoding="utf-8", errors="replace")

    def add_study(self, path: Path, study) -> None:
        """Study data read by the command: the file's hash, accepted and excluded rows."""
        self.studies.append((Path(path).name, Path(path).read_bytes(), study.frame, study.excluded))

    def write(self, items: list[tuple[Path, Callable[[Path], None]]], keep: tuple[Path, ...] = ()) -> list[Path]:
        """:func:`mscpk.utils.write_all_or_nothing` of ``items``; the files in ``keep`` are
        stored too (under their names), and the run is committed after the last temporary
        file is written, before any is renamed onto its target."""
        from mscpk.utils import write_all_or_nothing

        keep_names = {Path(p).resolve(): Path(p).name for p in keep}
        files: dict[str, bytes] = {}

        def capture(target: Path, writer: Callable[[Path], None]) -> Callable[[Path], None]:
            def run(tmp: Path) -> None:
                writer(tmp)
                if Path(target).resolve() in keep_names:
                    files[keep_names[Path(target).resolve()]] = Path(tmp).read_bytes()
            return run

        wrapped = [(t, capture(t, w)) for t, w in items]
        last_target, last_writer = wrapped[-1]

        def last(tmp: Path) -> None:
            last_writer(tmp)
            self.commit(files)

        return write_all_or_nothing(wrapped[:-1] + [(last_target, last)])

    def commit(self, files: dict[str, bytes] | None = None) -> None:
        """Store the run with its tables, parameters, studies and ``files`` (one transaction)."""
        with self.store, self.store.record(self.kind, scenario_toml=self.scenario_toml, inputs=self.inputs,
                                                 started_at=self.started_at) as rec:
            for name, df in self.tables.items():
                rec.add_table(name, df)
            for name, data in (files or {}).items():
                rec.add_file(name, data)
            if self.params is not None:
                rec.set_params(self.params)
            for study in self.studies:
                rec.add_study(*study)
            rec.time("total", time.perf_counter() - self.start)  # the whole command
        self.run_id = rec.run_id

    def note(self) -> str:
        """The line saying where the run was stored."""
        return f"stored run {self.run_id} in {self.store.url}"


def _jsonable(value):
    """A command-line value as JSON: paths as text, a number that is not finite as text."""
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value) if isinstance(value, Path) else value


def stored_run(url: str | None, kind: str, inputs: dict) -> StoredRun | None:
    """A :class:`StoredRun` when ``--db`` was given, else None; ``inputs``: the command's
    arguments (its ``locals()`` before anything else; ``db`` itself is left out)."""
    return None if url is None else StoredRun(url, kind, dict(inputs))


def write_outputs(run: StoredRun | None, items: list, keep: tuple = ()) -> list[Path]:
    """Write the command's files all or nothing, and store the run when there is one."""
    from mscpk.utils import write_all_or_nothing

    if run is None:
        return write_all_or_nothing(items)
    return run.write(items, tuple(p for p in keep if p is not None))


def _open(db: str | None, *, ready: bool = True):
    from mscpk.store import open_store

    store = open_store(db)
    if ready:
        store.check()
    return store


def _run_id(run: str) -> int:
    from mscpk.errors import StoreError

    try:
        return int(run)
    except ValueError:
        raise StoreError(f"run {run!r}: not a run id; give a number (see `mscpk db runs`)") from None


@db_app.command("init")
@user_errors
def init_command(db: Db = None) -> None:
    """Create the project store, or migrate it to this mscpk's revision (idempotent)."""
    with _open(db, ready=False) as store:
        before = store.revision()
        store.init()
        typer.echo(f"store {store.url}: revision {store.revision()}"
                   + (" (created)" if before is None else f" (was {before})" if before != store.revision() else ""))


@db_app.command("upgrade")
@user_errors
def upgrade_command(db: Db = None) -> None:
    """Migrate the project store to this mscpk's revision (the same as init)."""
    init_command(db)


@db_app.command("runs")
@user_errors
def runs_command(db: Db = None,
                 kind: Annotated[Optional[str], typer.Option("--kind", help="only runs of this kind (simulate, fit, ...)")] = None,
                 limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="only the newest N runs")] = None) -> None:
    """The stored runs, newest first, one per line: id, kind, scenario name, time (UTC), status."""
    with _open(db) as store:
        for r in store.runs(kind=kind, limit=limit):
            when = r.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            typer.echo(f"{r.id}\t{r.kind}\t{r.scenario_name or '-'}\t{when}\t{r.status}")


@db_app.command("show")
@user_errors
def show_command(run: Annotated[str, typer.Argument(help="run id (see `mscpk db runs`)")], db: Db = None) -> None:
    """What a run stored: kind, status, scenario, inputs, versions, tables, files, studies."""
    from mscpk.errors import StoreError

    with _open(db) as store:
        info = store.run(_run_id(run))
        if info is None:
            raise StoreError(f"run {run}: does not exist in {store.url}")
        lines = [f"run {info.id}: {info.kind}, {info.status}" + (f" ({info.progress:.0%})" if info.status == "running" else ""),
                 f"scenario: {info.scenario_name or '-'}" + (f" (sha256 {info.scenario_hash})" if info.scenario_hash else ""),
                 f"created {info.created_at.isoformat()}; started {info.started_at.isoformat() if info.started_at else '-'}; "
                 f"finished {info.finished_at.isoformat() if info.finished_at else '-'}",
                 f"mscpk {info.mscpk_version}; user {info.user_id if info.user_id is not None else '-'}; "
                 f"project {info.project_id if info.project_id is not None else '-'}",
                 f"inputs: {json.dumps(info.inputs, sort_keys=True)}"]
        if info.timings:
            lines.append("timings: " + ", ".join(f"{k} {v:.3g}" for k, v in info.timings.items()))
        if info.error:
            lines.append(f"error: {info.error}")
        params = store.params(info.id)
        lines.append(f"parameters in force: {len(params) if params is not None else 0}")
        for name in store.table_names(info.id):
            lines.append(f"table {name}: {len(store.table(info.id, name))} rows")
        for name in store.file_names(info.id):
            lines.append(f"file {name}: {len(store.file(info.id, name))} bytes")
        for st in store.studies(info.id):
            lines.append(f"study {st.name}: sha256 {st.sha256}, {st.n_accepted} rows accepted, {st.n_excluded} excluded")
    for line in lines:
        typer.echo(line)


@db_app.command("export")
@user_errors
def export_command(run: Annotated[str, typer.Argument(help="run id (see `mscpk db runs`)")],
                   out: Annotated[Path, typer.Option("-o", "--out", help="folder for the run's files (created; its parent must exist)")],
                   db: Db = None) -> None:
    """Write a run back as files: its files, tables (CSV), params.csv, study rows,
    scenario.toml and run.json."""
    with _open(db) as store:
        paths = store.export(_run_id(run), out)
    typer.echo(f"wrote {len(paths)} files to {out}: {', '.join(p.name for p in paths)}")


@db_app.command("add-user")
@user_errors
def add_user_command(name: Annotated[str, typer.Argument(help="user name (for the web app)")], db: Db = None) -> None:
    """Add a user of the web app; the password is read from standard input (its first line)."""
    from mscpk.errors import StoreError

    with _open(db) as store:
        if sys.stdin.isatty():
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise StoreError(f"user {name!r}: no password on standard input; give it as its first line")
        uid = store.add_user(name, password)
        typer.echo(f"added user {name!r} (id {uid}) to {store.url}")


__all__ = ["db_app", "StoredRun", "stored_run", "write_outputs", "StoreDb"]
