"""Reading study data from CSV/XLSX files or a DataFrame (format: docs/studydata.md).

>>> import pandas as pd
>>> df = pd.DataFrame({"ID": ["m1", "m1"], "TIME": [1, 24], "DV": [5e4, 0],
...                    "SITE": ["Lung", "lung"], "CENS": [0, 1], "LLOQ": [100, 100]})
>>> study_from_frame(df).frame[["ID", "TIME", "SITE", "DV", "CENS", "LLOQ"]]
   ID  TIME  SITE       DV  CENS   LLOQ
0  m1   1.0  lung  50000.0     0  100.0
1  m1  24.0  lung      NaN     1  100.0
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mscpk.errors import DataError
from mscpk.inputs.studydata.columns import blank, build
from mscpk.inputs.studydata.study import StudyData
from mscpk.inputs.studydata.units import UnitOptions, coerce_unit_options

_TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


def _read_text_records(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read study data file {path}: {exc.strerror or exc}") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            content = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise DataError(f"study data file {path} is not UTF-8 text") from None
    first_line = next((ln for ln in content.splitlines() if ln.strip()), "")
    delimiter = max((",", ";", "\t"), key=first_line.count)  # most frequent; ties: first listed
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        return [(i + 1, list(rec)) for i, rec in enumerate(reader)]
    except csv.Error as exc:
        raise DataError(f"study data file {path} is not valid CSV: {exc}") from None


def _read_excel_records(path: Path, sheet: str | int | None) -> list[tuple[int, list[Any]]]:
    import openpyxl  # local import: only needed for spreadsheets

    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except FileNotFoundError:
        raise DataError(f"study data file {path} does not exist") from None
    except Exception as exc:  # openpyxl raises assorted exceptions for bad files
        raise DataError(f"cannot read {path} as an .xlsx workbook: {exc}") from None
    try:
        ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
    except (KeyError, IndexError):
        raise DataError(
            f"{path} has no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}"
        ) from None
    return [(row[0].row, [c.value for c in row]) for row in ws.iter_rows(min_row=1) if row]


def read_study(
    path: str | Path,
    *,
    unit_options: UnitOptions | Mapping[str, Any] | None = None,
    sheet: str | int | None = None,
) -> StudyData:
    """Read and validate a study-data file (CSV or XLSX; format in docs/studydata.md).

    ``sheet`` chooses the XLSX worksheet (name or 0-based index; default the first).
    CSV files may be comma-, semicolon- or tab-separated (guessed from the header line) and
    UTF-8 (with or without BOM) or Windows-1252. Raises :class:`DataError` for anything
    invalid, listing every problem with its row and column.
    """
    path = Path(path)
    opts = coerce_unit_options(unit_options)
    if not path.exists():
        raise DataError(f"study data file {path} does not exist")
    if path.is_dir():
        raise DataError(f"study data path {path} is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix in _EXCEL_SUFFIXES:
        records = _read_excel_records(path, sheet)
    elif suffix == ".xls":
        raise DataError(f"{path}: the old .xls format is not supported; save it as .xlsx or .csv")
    elif suffix in _TEXT_SUFFIXES or suffix == "":
        records = _read_text_records(path)
    else:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx")
    nonblank = [(r, v) for r, v in records if not blank(v)]
    if not nonblank:
        raise DataError(f"study data file {path} is empty (no header, no data rows)")
    header_row, header = nonblank[0]
    return build(header_row, header, records, source=str(path), unit_options=opts)


def study_from_frame(
    frame: pd.DataFrame,
    *,
    unit_options: UnitOptions | Mapping[str, Any] | None = None,
    source: str = "<DataFrame>",
) -> StudyData:
    """Validate a pandas DataFrame exactly as :func:`read_study` validates a file.

    Row numbers in messages count as if the frame were written to a file with its header in
    row 1 (the first data row is row 2). A frame that is already normalised (from
    ``StudyData.frame``) validates to the same content.
    """
    opts = coerce_unit_options(unit_options)
    header = [str(c) for c in frame.columns]
    records = [(i + 2, list(vals)) for i, vals in enumerate(frame.itertuples(index=False))]
    if not records:
        raise DataError(f"study data in {source} has a header but no data rows")
    return build(1, header, [(1, header), *records], source=source, unit_options=opts)
