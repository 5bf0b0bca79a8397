"""What :meth:`mscpk.store.Store.record` hands to the block: results collected in memory and
written as one run when the block ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mscpk.errors import StoreError
from mscpk.store.info import StudyImport, check_name, sha256

if TYPE_CHECKING:
    import pandas as pd


class Recorder:
    """Tables, files, parameters in force and study data of one run being recorded."""

    def __init__(self) -> None:
        self.tables: dict[str, pd.DataFrame] = {}
        self.files: dict[str, bytes] = {}
        self.params: pd.DataFrame | None = None
        self.studies: list[StudyImport] = []
        self.timings: dict[str, float] = {}
        self.message: str | None = None
        #: the stored run's id, set when the block has ended and the run is stored
        self.run_id: int | None = None

    def add_table(self, name: str, df: pd.DataFrame) -> None:
        """A result table (stored as Parquet)."""
        self._fresh(check_name(name, "table"), self.tables, "table")
        self.tables[name] = df

    def add_file(self, name: str, data: bytes) -> None:
        """A result file (a figure, a report, JSON)."""
        self._fresh(check_name(name, "file"), self.files, "file")
        self.files[name] = bytes(data)

    def set_params(self, df: pd.DataFrame) -> None:
        """The parameters in force (name, value, unit, source)."""
        self.params = df

    def add_study(self, name: str, data: bytes, accepted: pd.DataFrame, excluded: pd.DataFrame) -> None:
        """Study data read by the run: the file's bytes (only their sha256 is kept), the rows
        accepted and the rows excluded with their reasons."""
        check_name(name, "study")
        if any(s.name == name for s in self.studies):
            raise StoreError(f"study {name!r}: given twice")
        self.studies.append(StudyImport(name, sha256(bytes(data)), accepted, excluded))

    def time(self, step: str, seconds: float) -> None:
        """The wall time [s] of a step of the run."""
        self.timings[f"{step}_s"] = float(seconds)

    @staticmethod
    def _fresh(name: str, where: dict, what: str) -> None:
        if name in where:
            raise StoreError(f"{what} {name!r}: given twice")
