"""Reading, validating and converting study data (biodistribution measurements).

The file format is fixed in ``INTERFACE.md`` ("Study data"): CSV or XLSX, one row per
observation, column names case-insensitive.

* Required columns: ``ID`` (animal or subject), ``TIME`` (hours after the first dose),
  ``DV`` (the measured value) and ``SITE``.
* Optional columns: ``GROUP``, ``ROUTE``, ``DOSE`` (cells administered), ``DVU`` (unit of
  ``DV`` and ``LLOQ``), ``LLOQ``, ``CENS`` (1 = below the LLOQ), ``ASSAY`` and, for summary
  (literature) data, ``N`` (animals behind the mean in ``DV``) and ``SD``.
  Any other column is carried along unchanged (as text).

:func:`read_study` returns a :class:`StudyData` whose ``frame`` is normalised:

* column names upper case; one row per kept observation; a ``ROW`` column gives the row
  number in the file (header = row 1, first data row = row 2, as a spreadsheet shows it);
* ``ID``, ``GROUP`` (``"all"`` when the file has no GROUP column), ``SITE`` (lower-case
  snake_case, e.g. ``"Bone marrow"`` -> ``"bone_marrow"``), ``ASSAY`` and ``ROUTE`` (lower
  case) as text; ``TIME``, ``DV``, ``LLOQ``, ``DOSE``, ``N``, ``SD`` as floats;
  ``CENS`` as int 0/1;
* ``DVU`` a canonical unit (see :data:`ALLOWED_UNITS`). With ``UnitOptions.normalise``
  (default) ``cells/mg`` is converted to ``cells/g`` and ``cells/uL`` to ``cells/mL`` (``DV``,
  ``LLOQ`` and ``SD`` scaled by the pint-derived factor 1000); the unit as written in the
  file stays in ``DVU_REPORTED``;
* censoring (BLQ): a row with ``CENS = 1``, or with ``DV`` below ``LLOQ`` (above it for
  ``Ct``, where larger means less), is censored: ``CENS = 1``, ``DV`` is NaN and the limit is
  in the ``LLOQ`` column. When ``CENS = 1`` and no ``LLOQ`` is given, the reported ``DV`` is
  taken to be the limit (the NONMEM M3 convention), so it moves to ``LLOQ``. A row with
  ``CENS = 1`` and no ``DV`` is kept as censored (``LLOQ`` NaN if not given).

Nothing is dropped silently. Rows that cannot be used for a documented reason go to
``StudyData.excluded`` (``ROW, COLUMN, VALUE, REASON``):

* ``DV`` missing and the row not censored;
* completely empty rows.

Everything else that is wrong is an error: all problems are collected and raised together in
one :class:`~mscpk.errors.DataError`, each line naming the row and the column (the list is
capped at :data:`MAX_PROBLEM_LINES` lines plus a count of the rest).

Missing-value spellings (case-insensitive): empty cell, ``NA``, ``N/A``, ``NaN``, ``.``,
``NULL``. Any other text in a numeric column is an error (write values below the limit as
``CENS = 1`` with ``LLOQ``, not as ``"BLQ"`` or ``"<10"``).

Duplicated observations (same ``GROUP`` (when present), ``ID``, ``TIME``, ``SITE`` and
``ASSAY`` (when present)) are an error that names every row involved. ``GROUP`` is part of
the key because animal numbers are often restarted in each group.

:func:`to_cells` converts every row to absolute cell numbers in the sampled site, refusing
(with a :class:`~mscpk.errors.DataError` that names what is missing) when the information a
conversion needs was not given.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time as dtime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pint

from mscpk.errors import DataError

__all__ = [
    "ALLOWED_UNITS",
    "MAX_PROBLEM_LINES",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "StudyData",
    "UnitOptions",
    "read_study",
    "study_from_frame",
    "to_cells",
    "normalise_unit",
    "unit_ratio",
    "ureg",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "TIME", "DV", "SITE")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "GROUP", "ROUTE", "DOSE", "DVU", "LLOQ", "CENS", "ASSAY", "N", "SD",
)
#: Units accepted in ``DVU`` (canonical spelling). ``copies/ug`` is copies of the assay
#: target per microgram of total (host + donor) DNA; ``Ct`` is a qPCR cycle threshold;
#: ``photons/s`` is the (background-subtracted) flux of an optical image region (BLI,
#: fluorescence), convertible to cells only with a per-cell calibration (not done here).
ALLOWED_UNITS: tuple[str, ...] = (
    "cells", "cells/g", "cells/mg", "cells/mL", "cells/uL",
    "%ID", "%ID/g", "copies/ug", "Ct", "photons/s",
)
#: At most this many problem lines in one DataError message (then "... and N more").
MAX_PROBLEM_LINES = 20

_MISSING_TOKENS = frozenset({"", "NA", "N/A", "NAN", ".", "NULL"})
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

# ---------------------------------------------------------------------------------------
# Units (pint)
# ---------------------------------------------------------------------------------------

#: The unit registry used for study-data units: SI plus counting units for cells, target
#: copies and the injected dose.
ureg = pint.UnitRegistry()
ureg.define("cell = [cell_count] = _ = cells")
ureg.define("target_copy = [target_copy_count] = _ = copies")
ureg.define("injected_dose = [injected_dose] = ID")
ureg.define("photon = [photon_count] = _ = photons")

# canonical unit -> pint expression (None: not a linear unit)
_PINT_EXPR: dict[str, str | None] = {
    "cells": "cell",
    "cells/g": "cell / gram",
    "cells/mg": "cell / milligram",
    "cells/mL": "cell / milliliter",
    "cells/uL": "cell / microliter",
    "%ID": "percent * injected_dose",
    "%ID/g": "percent * injected_dose / gram",
    "copies/ug": "target_copy / microgram",
    "Ct": None,  # cycle threshold: logarithmic, converted with a standard curve only
    "photons/s": "photon / second",
}
# unit -> canonical unit it is normalised to (same dimension, different scale)
_NORMALISED_TO: dict[str, str] = {"cells/mg": "cells/g", "cells/uL": "cells/mL"}

# spellings accepted (after lower-casing, removing blanks, mu -> u) -> canonical unit
_UNIT_ALIASES: dict[str, str] = {}
for _canon, _spellings in {
    "cells": ["cells", "cell", "cellequivalents", "cellequivalent"],
    "cells/g": ["cells/g", "cell/g", "cells/gtissue", "cells/g_tissue", "cells.g-1"],
    "cells/mg": ["cells/mg", "cell/mg", "cells/mgtissue", "cells/mg_tissue", "cells.mg-1"],
    "cells/mL": ["cells/ml", "cell/ml", "cells.ml-1"],
    "cells/uL": ["cells/ul", "cell/ul", "cells.ul-1"],
    "%ID": ["%id", "%injecteddose", "percentid", "%dose", "%injectedactivity", "%ia"],
    "%ID/g": ["%id/g", "%injecteddose/g", "percentid/g", "%dose/g", "%injectedactivity/g"],
    "copies/ug": ["copies/ug", "copy/ug", "copies/ugdna", "copy/ugdna", "copies/ug_dna"],
    "Ct": ["ct", "cq"],
    "photons/s": ["photons/s", "photon/s", "p/s", "photons/sec", "photons_per_s", "photons.s-1"],
}.items():
    for _s in _spellings:
        _UNIT_ALIASES[_s] = _canon


def _unit_key(text: str) -> str:
    return re.sub(r"\s+", "", text.strip().lower()).replace("µ", "u").replace("μ", "u")


def normalise_unit(text: str, extra_aliases: Mapping[str, str] | None = None) -> str | None:
    """Canonical spelling of a ``DVU`` unit, or None when it is not one of
    :data:`ALLOWED_UNITS` (or ``extra_aliases``, which map a spelling to an allowed unit)."""
    key = _unit_key(text)
    if extra_aliases:
        for spelling, canon in extra_aliases.items():
            if _unit_key(spelling) == key:
                return canon
    return _UNIT_ALIASES.get(key)


def _factor(unit_from: str, unit_to: str) -> float:
    """Scale factor between two linear canonical units of the same dimension (pint)."""
    expr_from, expr_to = _PINT_EXPR[unit_from], _PINT_EXPR[unit_to]
    assert expr_from is not None and expr_to is not None
    return float(ureg.Quantity(1.0, expr_from).to(expr_to).magnitude)


_SHORT = {"cell": "cells", "target_copy": "copies", "injected_dose": "ID", "percent": "%",
          "photon": "photons", "second": "s",
          "gram": "g", "milliliter": "mL", "microgram": "ug", "milligram": "mg",
          "microliter": "uL"}


def unit_ratio(unit_a: str, unit_b: str) -> str:
    """Unit of a ratio of values in ``unit_a`` and ``unit_b`` (e.g. ``cells/g`` over
    ``cells/mL`` gives ``mL/g``; identical units give ``""``, i.e. dimensionless)."""
    if unit_a == unit_b:
        return ""
    ea, eb = _PINT_EXPR.get(unit_a), _PINT_EXPR.get(unit_b)
    if ea is None or eb is None:
        return f"({unit_a})/({unit_b})"
    q = (ureg.Quantity(1.0, ea) / ureg.Quantity(1.0, eb))
    num = [(_SHORT.get(n, n), p) for n, p in q.unit_items() if p > 0]
    den = [(_SHORT.get(n, n), -p) for n, p in q.unit_items() if p < 0]
    if not math.isclose(q.magnitude, 1.0) or not (num or den):
        return f"({unit_a})/({unit_b})"

    def part(items: list[tuple[str, float]]) -> str:
        return "*".join(n if p == 1 else f"{n}^{p:g}" for n, p in items)

    if not den:
        return part(num)
    return f"{part(num) or '1'}/{part(den)}"


@dataclass(frozen=True)
class UnitOptions:
    """How ``DVU`` is interpreted by :func:`read_study`.

    ``default_unit``: unit assumed for every row when the file has no ``DVU`` column (a
    blank ``DVU`` cell in a file that has the column is an error, never a guess).
    ``normalise``: convert ``cells/mg`` -> ``cells/g`` and ``cells/uL`` -> ``cells/mL``.
    ``aliases``: extra spellings, each mapped to one of :data:`ALLOWED_UNITS`.
    """

    default_unit: str = "cells"
    normalise: bool = True
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        canon = normalise_unit(self.default_unit)
        if canon is None:
            raise DataError(
                f"unit_options.default_unit {self.default_unit!r} is not a known unit; "
                f"allowed: {', '.join(ALLOWED_UNITS)}"
            )
        object.__setattr__(self, "default_unit", canon)
        for spelling, target in dict(self.aliases).items():
            if target not in ALLOWED_UNITS:
                raise DataError(
                    f"unit_options.aliases[{spelling!r}] = {target!r} is not one of "
                    f"{', '.join(ALLOWED_UNITS)}"
                )


def _coerce_unit_options(value: UnitOptions | Mapping[str, Any] | None) -> UnitOptions:
    if value is None:
        return UnitOptions()
    if isinstance(value, UnitOptions):
        return value
    if isinstance(value, Mapping):
        known = {"default_unit", "normalise", "aliases"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise DataError(
                f"unknown unit_options key(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        return UnitOptions(**dict(value))
    raise DataError(f"unit_options must be UnitOptions or a mapping, not {type(value).__name__}")


# ---------------------------------------------------------------------------------------
# StudyData
# ---------------------------------------------------------------------------------------

EXCLUDED_COLUMNS = ("ROW", "COLUMN", "VALUE", "REASON")


@dataclass(frozen=True, eq=False)
class StudyData:
    """Validated study data.

    ``frame``: the normalised observations (see the module docstring).
    ``excluded``: rows left out for a documented reason, columns ``ROW, COLUMN, VALUE,
    REASON`` (ROW as in the file: header = row 1).
    ``is_summary``: the file holds summary (literature) data: means with ``N`` (and ``SD``).
    ``source``: where the data came from (file path or a label).
    """

    frame: pd.DataFrame
    excluded: pd.DataFrame
    is_summary: bool
    source: str = ""

    @property
    def units(self) -> list[str]:
        """The distinct ``DVU`` values present."""
        return sorted(self.frame["DVU"].unique().tolist())

    def __len__(self) -> int:
        return len(self.frame)


# ---------------------------------------------------------------------------------------
# Problem collection
# ---------------------------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[float, str, str]] = []  # (row for sorting, column, text)

    def add(self, row: int | None, column: str | None, text: str) -> None:
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}")
        prefix = ", ".join(where)
        line = f"{prefix}: {text}" if prefix else text
        self.items.append((-1 if row is None else row, column or "", line))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = sorted(self.items, key=lambda it: (it[0], it[1]))
        n = len(items)
        lines = [it[2] for it in items[:MAX_PROBLEM_LINES]]
        if n > MAX_PROBLEM_LINES:
            lines.append(f"... and {n - MAX_PROBLEM_LINES} more problem(s)")
        head = f"invalid study data in {self.source}: {n} problem{'s' if n != 1 else ''}"
        raise DataError(head + "\n  " + "\n  ".join(lines))


# ---------------------------------------------------------------------------------------
# Low-level parsing of cells
# ---------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().upper() in _MISSING_TOKENS:
        return True
    return False


def _text(value: Any) -> str:
    """A cell as text ('' for missing). Integral floats from spreadsheets lose the '.0'."""
    if _is_missing(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(value) if isinstance(value, float) else str(value)
    return str(value).strip()


_NOT_A_NUMBER = object()


def _number(value: Any) -> float | None | object:
    """float, None (missing) or _NOT_A_NUMBER."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (datetime, date, dtime)):
        return _NOT_A_NUMBER
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    if _NUMBER_RE.match(text):
        return float(text)
    return _NOT_A_NUMBER


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else repr(_text(value))


def _site_name(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


# ---------------------------------------------------------------------------------------
# File readers: produce (header_row_number, header, [(row_number, values)])
# ---------------------------------------------------------------------------------------

_TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


def _read_text_records(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read study data file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise DataError(f"study data file {path} is not UTF-8 text") from None
    first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            ws = wb.worksheets[sheet]
        else:
            ws = wb[sheet]
    except (KeyError, IndexError):
        raise DataError(
            f"{path} has no sheet {sheet!r}; sheets: {', '.join(wb.sheetnames)}"
        ) from None
    records: list[tuple[int, list[Any]]] = []
    for row in ws.iter_rows(min_row=1):
        if not row:
            continue
        records.append((row[0].row, [c.value for c in row]))
    return records


def _records_blank(values: Sequence[Any]) -> bool:
    return all(_text(v) == "" for v in values)


# ---------------------------------------------------------------------------------------
# Validation of records into a StudyData
# ---------------------------------------------------------------------------------------


def _build(
    header_row: int,
    header: list[Any],
    records: list[tuple[int, list[Any]]],
    *,
    source: str,
    unit_options: UnitOptions,
) -> StudyData:
    problems = _Problems(source)

    # -- header ------------------------------------------------------------------------
    names: list[str | None] = []
    seen: dict[str, str] = {}
    for j, raw_name in enumerate(header):
        name = _text(raw_name)
        if name == "":
            names.append(None)
            continue
        upper = name.upper()
        if upper in seen:
            problems.add(header_row, upper, f"column name {name!r} appears twice "
                         f"(also as {seen[upper]!r}; names are case-insensitive)")
        seen[upper] = name
        names.append(upper)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        found = ", ".join(repr(seen[c]) for c in seen) or "none"
        problems.add(None, None, f"missing required column{'s' if len(missing) > 1 else ''} "
                     f"{', '.join(missing)}; found columns: {found} "
                     f"(required: {', '.join(REQUIRED_COLUMNS)})")
    problems.raise_if_any()

    data_records = [(r, v) for r, v in records if r > header_row]
    if all(_records_blank(v) for _, v in data_records):
        raise DataError(f"study data in {source} has a header but no data rows")

    is_summary = "N" in seen or "SD" in seen
    if "SD" in seen and "N" not in seen:
        problems.add(header_row, "N", "summary data (an SD column) need an N column "
                     "(the number of animals behind each mean)")
    has_dvu = "DVU" in seen
    has_group = "GROUP" in seen
    has_assay = "ASSAY" in seen
    extras = [n for n in seen if n not in REQUIRED_COLUMNS and n not in OPTIONAL_COLUMNS]
    if any(n in ("ROW", "DVU_REPORTED") for n in extras):
        for n in ("ROW", "DVU_REPORTED"):
            if n in extras:
                extras.remove(n)  # regenerated below; a re-read normalised frame is fine

    rows_out: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    keys: dict[tuple, list[int]] = {}

    for rownum, values in data_records:
        if len(values) > len(names) and any(_text(v) != "" for v in values[len(names):]):
            problems.add(rownum, None, f"{len(values)} fields but the header has "
                         f"{len(names)} columns")
            continue
        cells: dict[str, Any] = {}
        unnamed_with_value = False
        for j, name in enumerate(names):
            v = values[j] if j < len(values) else None
            if name is None:
                if _text(v) != "":
                    unnamed_with_value = True
                continue
            cells[name] = v
        if _records_blank(values):
            excluded.append({"ROW": rownum, "COLUMN": "", "VALUE": "",
                             "REASON": "empty row"})
            continue
        if unnamed_with_value:
            problems.add(rownum, None, "a value in a column that has no name in the header")

        ok = True
        out: dict[str, Any] = {"ROW": rownum}

        # identifiers
        for col in ("ID", "SITE"):
            t = _text(cells.get(col))
            if t == "":
                problems.add(rownum, col, f"{col} is missing")
                ok = False
            out[col] = _site_name(t) if col == "SITE" else t
        if has_group:
            t = _text(cells.get("GROUP"))
            if t == "":
                problems.add(rownum, "GROUP", "GROUP is missing (the file has a GROUP "
                             "column, so every row needs one)")
                ok = False
            out["GROUP"] = t
        else:
            out["GROUP"] = "all"
        if has_assay:
            out["ASSAY"] = _text(cells.get("ASSAY")).lower()
        if "ROUTE" in seen:
            out["ROUTE"] = _text(cells.get("ROUTE")).lower()

        # TIME
        raw_t = cells.get("TIME")
        t = _number(raw_t)
        if t is None:
            problems.add(rownum, "TIME", "TIME is missing")
            ok = False
        elif t is _NOT_A_NUMBER:
            problems.add(rownum, "TIME", f"TIME {_show(raw_t)} is not a number (hours)")
            ok = False
        elif not math.isfinite(t):  # type: ignore[arg-type]
            problems.add(rownum, "TIME", f"TIME {_show(raw_t)} is not finite")
            ok = False
        elif t < 0:  # type: ignore[operator]
            problems.add(rownum, "TIME", f"negative TIME {_text(raw_t)} (hours after the "
                         "first dose must be >= 0)")
            ok = False
        out["TIME"] = t if isinstance(t, float) else math.nan

        # DVU
        if has_dvu:
            raw_u = cells.get("DVU")
            tu = _text(raw_u)
            if tu == "":
                problems.add(rownum, "DVU", "DVU (unit) is missing; allowed: "
                             + ", ".join(ALLOWED_UNITS))
                ok = False
                unit = None
            else:
                unit = normalise_unit(tu, unit_options.aliases)
                if unit is None:
                    problems.add(rownum, "DVU", f"unknown unit {tu!r}; allowed: "
                                 + ", ".join(ALLOWED_UNITS))
                    ok = False
            out["DVU_REPORTED"] = tu
        else:
            unit = unit_options.default_unit
            out["DVU_REPORTED"] = ""

        # numeric optional columns
        def opt_number(col: str, *, positive: bool = False, nonneg: bool = False) -> float:
            nonlocal ok
            raw = cells.get(col)
            v = _number(raw)
            if v is None:
                return math.nan
            if v is _NOT_A_NUMBER or not math.isfinite(v):  # type: ignore[arg-type]
                problems.add(rownum, col, f"{col} {_show(raw)} is not a number")
                ok = False
                return math.nan
            if positive and v <= 0:  # type: ignore[operator]
                problems.add(rownum, col, f"{col} {_text(raw)} must be > 0")
                ok = False
            elif nonneg and v < 0:  # type: ignore[operator]
                problems.add(rownum, col, f"{col} {_text(raw)} must be >= 0")
                ok = False
            return float(v)  # type: ignore[arg-type]

        lloq = opt_number("LLOQ", nonneg=True) if "LLOQ" in seen else math.nan
        if "DOSE" in seen:
            out["DOSE"] = opt_number("DOSE", positive=True)

        # CENS
        cens = 0
        if "CENS" in seen:
            raw_c = cells.get("CENS")
            c = _number(raw_c)
            if c is None:
                cens = 0
            elif c is _NOT_A_NUMBER or c not in (0.0, 1.0):
                problems.add(rownum, "CENS", f"CENS {_show(raw_c)} must be 0 or 1 "
                             "(1 = below LLOQ)")
                ok = False
            else:
                cens = int(c)  # type: ignore[arg-type]

        # N / SD
        if "N" in seen:
            raw_n = cells.get("N")
            n = _number(raw_n)
            if n is None:
                problems.add(rownum, "N", "N is missing (summary data need the number of "
                             "animals behind each mean)")
                ok = False
                n = math.nan
            elif n is _NOT_A_NUMBER or not math.isfinite(n) or n < 1 \
                    or not float(n).is_integer():  # type: ignore[arg-type,operator]
                problems.add(rownum, "N", f"N {_show(raw_n)} must be a whole number >= 1")
                ok = False
                n = math.nan
            out["N"] = float(n)  # type: ignore[arg-type]
        if "SD" in seen:
            out["SD"] = opt_number("SD", nonneg=True)

        # DV
        raw_dv = cells.get("DV")
        dv = _number(raw_dv)
        if dv is _NOT_A_NUMBER:
            problems.add(rownum, "DV", f"DV {_show(raw_dv)} is text, not a number (for "
                         "values below the limit use CENS=1 and LLOQ)")
            ok = False
            dv = math.nan
        elif dv is not None and not math.isfinite(dv):  # type: ignore[arg-type]
            problems.add(rownum, "DV", f"DV {_show(raw_dv)} is not finite")
            ok = False
            dv = math.nan
        elif dv is not None and dv < 0:  # type: ignore[operator]
            problems.add(rownum, "DV", f"negative DV {_text(raw_dv)} (amounts of cells, "
                         "DNA or label cannot be negative)")
            ok = False

        # extra columns, carried along as text
        for name in extras:
            out[name] = _text(cells.get(name))

        # duplicate key (recorded even if the row has other problems, when keys parse)
        if out.get("ID") and out.get("SITE") and isinstance(t, float):
            key = (out["GROUP"] if has_group else "", out["ID"], t, out["SITE"],
                   out.get("ASSAY", ""))
            keys.setdefault(key, []).append(rownum)

        if not ok:
            continue

        # censoring and exclusion
        is_ct = unit == "Ct"
        if dv is None:
            if cens == 1:
                dv_val = math.nan
            else:
                excluded.append({"ROW": rownum, "COLUMN": "DV", "VALUE": _text(raw_dv),
                                 "REASON": "DV missing and the row is not censored "
                                           "(CENS is not 1)"})
                continue
        else:
            dv_val = float(dv)  # type: ignore[arg-type]
            if cens == 1:
                if math.isnan(lloq):
                    lloq = dv_val  # NONMEM M3 convention: a censored DV holds the LLOQ
                elif (dv_val < lloq) if is_ct else (dv_val > lloq):
                    problems.add(rownum, "DV", f"CENS=1 but DV {_text(raw_dv)} is "
                                 f"{'below' if is_ct else 'above'} LLOQ {lloq:g} "
                                 "(a censored value must be at or beyond the limit)")
                    continue
                dv_val = math.nan
            elif not math.isnan(lloq) and ((dv_val > lloq) if is_ct else (dv_val < lloq)):
                cens = 1  # measured value beyond the limit: censored
                dv_val = math.nan
        out["DV"] = dv_val
        out["CENS"] = cens
        out["LLOQ"] = lloq
        out["DVU"] = unit
        rows_out.append(out)

    # duplicates
    for key, rows in keys.items():
        if len(rows) > 1:
            group, ident, tm, site, assay = key
            what = f"ID {ident!r}, TIME {tm:g}, SITE {site!r}"
            if has_group:
                what = f"GROUP {group!r}, " + what
            if has_assay:
                what += f", ASSAY {assay!r}"
            listed = ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}"
            problems.add(rows[0], "ID", f"duplicated observation ({what}) in rows {listed}")

    problems.raise_if_any()
    if not rows_out:
        raise DataError(
            f"study data in {source} have no usable rows: "
            + "; ".join(f"row {e['ROW']}: {e['REASON']}" for e in excluded[:MAX_PROBLEM_LINES])
        )

    frame = pd.DataFrame(rows_out)
    # normalisation of units within a dimension (cells/mg -> cells/g, cells/uL -> cells/mL)
    if unit_options.normalise:
        for src, dst in _NORMALISED_TO.items():
            mask = frame["DVU"] == src
            if mask.any():
                f = _factor(src, dst)
                for col in ("DV", "LLOQ", "SD"):
                    if col in frame:
                        frame.loc[mask, col] = frame.loc[mask, col] * f
                frame.loc[mask, "DVU"] = dst

    order = ["ROW", "GROUP", "ID", "TIME", "SITE", "DV", "DVU", "CENS", "LLOQ"]
    order += [c for c in ("ASSAY", "ROUTE", "DOSE", "N", "SD") if c in frame]
    order += ["DVU_REPORTED"] + [c for c in extras if c in frame]
    frame = frame[order].reset_index(drop=True)
    frame["ROW"] = frame["ROW"].astype(int)
    frame["CENS"] = frame["CENS"].astype(int)
    for col in ("TIME", "DV", "LLOQ", "DOSE", "N", "SD"):
        if col in frame:
            frame[col] = frame[col].astype(float)
    excl = pd.DataFrame(excluded, columns=list(EXCLUDED_COLUMNS))
    excl["ROW"] = excl["ROW"].astype(int)
    return StudyData(frame=frame, excluded=excl, is_summary=is_summary, source=source)


def read_study(
    path: str | Path,
    *,
    unit_options: UnitOptions | Mapping[str, Any] | None = None,
    sheet: str | int | None = None,
) -> StudyData:
    """Read and validate a study-data file (CSV or XLSX; see the module docstring).

    ``sheet`` chooses the XLSX worksheet (name or 0-based index; default the first).
    CSV files may be comma-, semicolon- or tab-separated (guessed from the header line) and
    UTF-8 (with or without BOM) or Windows-1252. Raises :class:`DataError` for anything
    invalid, listing every problem with its row and column.
    """
    path = Path(path)
    opts = _coerce_unit_options(unit_options)
    source = str(path)
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
    nonblank = [(r, v) for r, v in records if not _records_blank(v)]
    if not nonblank:
        raise DataError(f"study data file {path} is empty (no header, no data rows)")
    header_row, header = nonblank[0]
    return _build(header_row, header, records, source=source, unit_options=opts)


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
    opts = _coerce_unit_options(unit_options)
    header = [str(c) for c in frame.columns]
    records = [(i + 2, list(vals)) for i, vals in enumerate(frame.itertuples(index=False))]
    if not records:
        raise DataError(f"study data in {source} has a header but no data rows")
    return _build(1, header, [(1, header), *records], source=source, unit_options=opts)


# ---------------------------------------------------------------------------------------
# Conversion to cells
# ---------------------------------------------------------------------------------------


def _lookup(table: Mapping[Any, float] | float | None, group: str, ident: str, site: str
            ) -> float | None:
    """Value for one sample: keys tried (GROUP, ID, SITE), (ID, SITE), SITE; a bare number
    applies to every sample."""
    if table is None:
        return None
    if isinstance(table, (int, float)) and not isinstance(table, bool):
        return float(table)
    for key in ((group, ident, site), (ident, site), site):
        if key in table:
            return float(table[key])
    return None


def to_cells(
    study: StudyData,
    *,
    tissue_mass_g: Mapping[Any, float] | None = None,
    fluid_volume_ml: Mapping[Any, float] | None = None,
    dose: float | Mapping[str, float] | None = None,
    standard_curve: tuple[float, float] | None = None,
    curve_quantity: str = "copies",
    copies_per_cell: float | None = None,
    dna_per_cell_pg: float = 6.6,
    dna_mass_ug: Mapping[Any, float] | float | None = None,
    dna_per_reaction_ug: float | None = None,
) -> StudyData:
    """Convert every observation to absolute cells in the sampled site (whole organ, whole
    fluid volume, or whole sample).

    Conversions (``DV`` and ``LLOQ`` alike; all via pint except the logarithmic Ct):

    * ``cells``: unchanged.
    * ``cells/g`` (and ``cells/mg``): times the site's mass in g from ``tissue_mass_g``.
    * ``cells/mL`` (and ``cells/uL``): times the fluid volume in mL from ``fluid_volume_ml``
      (e.g. total blood volume for ``blood``). No density is assumed to turn a mass into a
      volume or back.
    * ``%ID``: times dose/100, the dose in cells from ``dose`` (a number, or a mapping
      GROUP -> cells) or else from the row's ``DOSE`` column; ``%ID/g`` additionally times
      the site's mass. The injected dose is taken to be the number of cells administered
      (radioactivity decay-corrected to injection, label retained by the cells).
    * ``copies/ug`` (copies of the assay target per ug of total DNA): cells =
      DV * dna_mass_ug / copies_per_cell, where ``dna_mass_ug`` is the total DNA of the whole
      sampled site (extracted from the whole homogenised tissue) and ``copies_per_cell`` the
      target copies per donor cell (1 for standards in genome equivalents or a single
      integrated transgene; Alu-type targets must be calibrated to genome equivalents).
      There is no default for ``copies_per_cell``: it must be stated.
    * ``Ct``: quantity per reaction Q = 10 ** ((Ct - intercept) / slope) from
      ``standard_curve=(slope, intercept)`` (Ct = intercept + slope * log10(Q), slope
      negative, about -3.32 at 100 % efficiency). With ``curve_quantity="copies"`` Q is
      target copies and cells per reaction = Q / copies_per_cell; with
      ``curve_quantity="pg"`` Q is pg of donor genomic DNA and cells per reaction =
      Q / dna_per_cell_pg (default 6.6 pg, the diploid human genome). Cells in the site =
      cells per reaction * dna_mass_ug / dna_per_reaction_ug (``dna_per_reaction_ug``: ug
      of total DNA loaded per reaction). A censored Ct row has its LLOQ (a Ct) converted
      the same way.

    ``tissue_mass_g``, ``fluid_volume_ml`` and ``dna_mass_ug`` are looked up per sample with
    keys ``(GROUP, ID, SITE)``, then ``(ID, SITE)``, then ``SITE``; ``dna_mass_ug`` may also
    be a single number for every sample.

    Anything needed and not given is refused with one :class:`DataError` listing each missing
    item and the rows that need it. The result has ``DVU = "cells"``; the original values
    are kept in ``DV_ORIG``/``LLOQ_ORIG``/``DVU_ORIG`` and the factor used in ``CONVERSION``.
    ``SD`` (summary data) is scaled by the same factor for linear units; summary data in Ct
    cannot be converted (a mean of Ct is not a mean of cells) and are refused.
    """
    if not isinstance(study, StudyData):
        raise DataError("to_cells needs a StudyData (from read_study)")
    if curve_quantity not in ("copies", "pg"):
        raise DataError(f"curve_quantity must be 'copies' or 'pg', not {curve_quantity!r}")
    if standard_curve is not None:
        try:
            slope, intercept = (float(x) for x in standard_curve)
        except (TypeError, ValueError):
            raise DataError("standard_curve must be (slope, intercept), two numbers") from None
        if not (math.isfinite(slope) and math.isfinite(intercept)) or slope >= 0:
            raise DataError(f"standard curve slope must be negative (Ct falls as copies rise; "
                            f"about -3.32 at 100 % efficiency), got {slope:g}")
    for name, val in (("copies_per_cell", copies_per_cell), ("dna_per_cell_pg", dna_per_cell_pg),
                      ("dna_per_reaction_ug", dna_per_reaction_ug)):
        if val is not None and not (math.isfinite(float(val)) and float(val) > 0):
            raise DataError(f"{name} must be a positive number, got {val!r}")

    frame = study.frame.copy()
    missing: dict[str, list[int]] = {}

    def need(what: str, row: int) -> None:
        missing.setdefault(what, []).append(row)

    factors = np.full(len(frame), np.nan)
    notes: list[str] = [""] * len(frame)
    new_dv = frame["DV"].to_numpy(dtype=float).copy()
    new_lloq = frame["LLOQ"].to_numpy(dtype=float).copy()

    for i, rec in enumerate(frame.itertuples(index=False)):
        r = rec._asdict()
        unit, row = r["DVU"], int(r["ROW"])
        g, ident, site = r["GROUP"], r["ID"], r["SITE"]
        if unit == "cells":
            factors[i], notes[i] = 1.0, "cells"
            continue
        if unit == "photons/s":
            need("a photons/s-per-cell calibration at each site's depth (optical flux cannot be "
                 "converted to cells here; fit it with the bli/fluorescence observation model)", row)
            continue
        if unit in ("cells/g", "cells/mg", "%ID/g"):
            mass = _lookup(tissue_mass_g, g, ident, site)
            if mass is None or not mass > 0:
                need(f"tissue_mass_g for SITE {site!r} (to convert {unit})", row)
                continue
        if unit in ("cells/mL", "cells/uL"):
            vol = _lookup(fluid_volume_ml, g, ident, site)
            if vol is None or not vol > 0:
                need(f"fluid_volume_ml for SITE {site!r} (to convert {unit})", row)
                continue
        if unit in ("%ID", "%ID/g"):
            d = None
            if isinstance(dose, Mapping):
                d = dose.get(g)
            elif dose is not None:
                d = float(dose)
            if d is None and "DOSE" in frame and not math.isnan(r["DOSE"]):
                d = float(r["DOSE"])
            if d is None or not d > 0:
                need(f"the dose in cells for GROUP {g!r} (dose= or a DOSE column; to "
                     f"convert {unit})", row)
                continue
        if unit in ("copies/ug", "Ct"):
            dna = _lookup(dna_mass_ug, g, ident, site)
            if dna is None or not dna > 0:
                need(f"dna_mass_ug (total DNA of the whole site) for SITE {site!r} "
                     f"(to convert {unit})", row)
                continue
            if (unit == "copies/ug" or curve_quantity == "copies") and copies_per_cell is None:
                need(f"copies_per_cell (target copies per donor cell; to convert {unit})", row)
                continue
        if unit == "Ct":
            if study.is_summary:
                need("individual Ct values (summary means of Ct cannot be converted to cells)",
                     row)
                continue
            if standard_curve is None:
                need("standard_curve=(slope, intercept) (to convert Ct)", row)
                continue
            if dna_per_reaction_ug is None:
                need("dna_per_reaction_ug (ug of total DNA per qPCR reaction; to convert Ct)",
                     row)
                continue

        Q = ureg.Quantity
        if unit in ("cells/g", "cells/mg"):
            f = (Q(1.0, _PINT_EXPR[unit]) * Q(mass, "gram")).to("cell").magnitude
            notes[i] = f"{unit} x {mass:g} g ({site})"
        elif unit in ("cells/mL", "cells/uL"):
            f = (Q(1.0, _PINT_EXPR[unit]) * Q(vol, "milliliter")).to("cell").magnitude
            notes[i] = f"{unit} x {vol:g} mL ({site})"
        elif unit == "%ID":
            f = Q(1.0, "percent").to("dimensionless").magnitude * d
            notes[i] = f"%ID x {d:g} cells / 100"
        elif unit == "%ID/g":
            f = (Q(1.0, "percent / gram") * Q(mass, "gram")).to("dimensionless").magnitude * d
            notes[i] = f"%ID/g x {mass:g} g x {d:g} cells / 100"
        elif unit == "copies/ug":
            f = (Q(1.0, _PINT_EXPR[unit]) * Q(dna, "microgram")).to("target_copy").magnitude
            f /= copies_per_cell
            notes[i] = f"copies/ug x {dna:g} ug DNA / {copies_per_cell:g} copies per cell"
        elif unit == "Ct":
            per_cell = copies_per_cell if curve_quantity == "copies" else dna_per_cell_pg
            scale = dna / dna_per_reaction_ug / per_cell  # type: ignore[operator]

            def ct_to_cells(ct: float) -> float:
                return 10.0 ** ((ct - intercept) / slope) * scale

            new_dv[i] = ct_to_cells(new_dv[i]) if not math.isnan(new_dv[i]) else math.nan
            new_lloq[i] = ct_to_cells(new_lloq[i]) if not math.isnan(new_lloq[i]) else math.nan
            notes[i] = (f"10^((Ct - {intercept:g})/{slope:g}) {curve_quantity} per reaction"
                        f" / {per_cell:g} {'copies' if curve_quantity == 'copies' else 'pg'}"
                        f" per cell x {dna:g} ug / {dna_per_reaction_ug:g} ug per reaction")
            factors[i] = math.nan
            continue
        else:  # pragma: no cover - every allowed unit is handled above
            raise AssertionError(unit)
        factors[i] = float(f)
        new_dv[i] *= f
        new_lloq[i] *= f

    if missing:
        lines = []
        for what, rows in missing.items():
            shown = ", ".join(map(str, rows[:8])) + (f" and {len(rows) - 8} more" if len(rows) > 8
                                                     else "")
            lines.append(f"missing {what}: needed by row{'s' if len(rows) > 1 else ''} {shown}")
        n = len(lines)
        if n > MAX_PROBLEM_LINES:
            lines = lines[:MAX_PROBLEM_LINES] + [f"... and {n - MAX_PROBLEM_LINES} more"]
        raise DataError(f"cannot convert {study.source or 'study data'} to cells:\n  "
                        + "\n  ".join(lines))

    frame["DV_ORIG"] = frame["DV"]
    frame["LLOQ_ORIG"] = frame["LLOQ"]
    frame["DVU_ORIG"] = frame["DVU"]
    frame["DV"] = new_dv
    frame["LLOQ"] = new_lloq
    if "SD" in frame:
        frame["SD"] = frame["SD"].to_numpy(dtype=float) * factors
    frame["DVU"] = "cells"
    frame["CONVERSION"] = notes
    return replace(study, frame=frame)
