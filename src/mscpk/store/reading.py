"""The read side of the store: runs visible to a user, their tables, files, parameters and
studies (a base class of :class:`mscpk.store.Store`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mscpk.errors import StoreError
from mscpk.store.connect import guarded
from mscpk.store.info import RunInfo, StudyInfo, aware, from_parquet
from mscpk.store.models import MemberRow, RunFileRow, RunRow, RunTableRow, ScenarioRow, StudyRow

if TYPE_CHECKING:
    import pandas as pd


class RunReader:
    """Reading runs; needs ``self._read()`` (a read session) and ``self.url``."""

    def _info(self, s: Session, row: RunRow) -> RunInfo:
        sc = s.get(ScenarioRow, row.scenario_id) if row.scenario_id is not None else None
        return RunInfo(id=row.id, kind=row.kind, status=row.status, scenario_name=sc.name if sc else None,
                       scenario_hash=sc.sha256 if sc else None, created_at=aware(row.created_at),
                       started_at=aware(row.started_at), finished_at=aware(row.finished_at),
                       user_id=row.user_id, project_id=row.project_id, error=row.error,
                       progress=float(row.progress), message=row.message, mscpk_version=row.mscpk_version,
                       inputs=dict(row.inputs or {}), timings=dict(row.timings) if row.timings else None,
                       heartbeat_at=aware(row.heartbeat_at), attempts=int(row.attempts or 0))

    @staticmethod
    def _visible(q, user_id: int | None):
        if user_id is None:
            return q
        member = select(MemberRow.project_id).where(MemberRow.user_id == user_id)
        return q.where(or_(RunRow.user_id == user_id, RunRow.project_id.in_(member)))

    @guarded
    def runs(self, user_id: int | None = None, kind: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Stored runs, newest first: every run (``user_id`` None), or those of the user and of
        the projects the user belongs to."""
        with self._read() as s:
            q = self._visible(select(RunRow), user_id)
            if kind is not None:
                q = q.where(RunRow.kind == kind)
            q = q.order_by(RunRow.id.desc())
            if limit is not None:
                q = q.limit(int(limit))
            return [self._info(s, r) for r in s.scalars(q)]

    @guarded
    def run(self, run_id: int, user_id: int | None = None) -> RunInfo | None:
        """The run, or None if it does not exist or ``user_id`` may not see it."""
        with self._read() as s:
            row = self._get(s, run_id, user_id)
            return self._info(s, row) if row is not None else None

    def _get(self, s: Session, run_id, user_id) -> RunRow | None:
        try:
            rid = int(run_id)
        except (TypeError, ValueError):
            return None
        return s.scalar(self._visible(select(RunRow).where(RunRow.id == rid), user_id))

    def _must(self, s: Session, run_id, user_id) -> RunRow:
        row = self._get(s, run_id, user_id)
        if row is None:
            raise StoreError(f"run {run_id!r}: does not exist in {self.url}")
        return row

    @guarded
    def scenario_toml(self, run_id: int, user_id: int | None = None) -> str | None:
        """The TOML text of the run's scenario (None if it had none)."""
        with self._read() as s:
            row = self._must(s, run_id, user_id)
            sc = s.get(ScenarioRow, row.scenario_id) if row.scenario_id is not None else None
            return sc.toml_text if sc else None

    @guarded
    def table(self, run_id: int, name: str, user_id: int | None = None) -> pd.DataFrame:
        """A result table of a run (:class:`StoreError` if the run or the table is absent)."""
        return from_parquet(self._blob(RunTableRow, RunTableRow.parquet, "table", run_id, name, user_id))

    @guarded
    def file(self, run_id: int, name: str, user_id: int | None = None) -> bytes:
        """A file of a run (:class:`StoreError` if the run or the file is absent)."""
        return bytes(self._blob(RunFileRow, RunFileRow.data, "file", run_id, name, user_id))

    def _blob(self, model, column, what: str, run_id: int, name: str, user_id: int | None):
        """The bytes in ``column`` of the ``model`` row (a run's table or file) called ``name``."""
        with self._read() as s:
            row = self._must(s, run_id, user_id)
            data = s.scalar(select(column).where(model.run_id == row.id, model.name == name))
            if data is None:
                raise StoreError(f"run {row.id}: no {what} {name!r}; {what}s: "
                                 f"{', '.join(self._names(s, model, row.id)) or 'none'}")
        return data

    @staticmethod
    def _names(s: Session, model, run_id: int) -> list[str]:
        return list(s.scalars(select(model.name).where(model.run_id == run_id).order_by(model.name)))

    @guarded
    def table_names(self, run_id: int, user_id: int | None = None) -> list[str]:
        """The names of a run's tables, sorted."""
        with self._read() as s:
            return self._names(s, RunTableRow, self._must(s, run_id, user_id).id)

    @guarded
    def file_names(self, run_id: int, user_id: int | None = None) -> list[str]:
        """The names of a run's files, sorted."""
        with self._read() as s:
            return self._names(s, RunFileRow, self._must(s, run_id, user_id).id)

    @guarded
    def params(self, run_id: int, user_id: int | None = None) -> pd.DataFrame | None:
        """The parameters in force of a run (name, value, unit, source), None if not stored."""
        with self._read() as s:
            data = self._must(s, run_id, user_id).params
        return from_parquet(data) if data is not None else None

    @guarded
    def studies(self, run_id: int, user_id: int | None = None) -> list[StudyInfo]:
        """The study data imported by a run."""
        with self._read() as s:
            rid = self._must(s, run_id, user_id).id
            rows = s.scalars(select(StudyRow).where(StudyRow.run_id == rid).order_by(StudyRow.name))
            return [StudyInfo(r.name, r.sha256, r.n_accepted, r.n_excluded) for r in rows]

    @guarded
    def study_rows(self, run_id: int, name: str, which: str = "accepted", user_id: int | None = None) -> pd.DataFrame:
        """The ``accepted`` or ``excluded`` rows (with reasons) of a study imported by a run."""
        if which not in ("accepted", "excluded"):
            raise StoreError(f"which {which!r}: allowed: accepted, excluded")
        with self._read() as s:
            rid = self._must(s, run_id, user_id).id
            row = s.scalar(select(StudyRow).where(StudyRow.run_id == rid, StudyRow.name == name))
            if row is None:
                raise StoreError(f"run {rid}: no study {name!r}")
            data = getattr(row, which)
        return from_parquet(data)
