"""Column checks of study data: the header, every row's values, censoring and duplicates,
with all problems collected into one error; dosing rows (EVID 1) go to
:mod:`~mscpk.inputs.studydata.dosing` (the rules are in docs/studydata.md).

>>> REQUIRED_COLUMNS
('ID', 'TIME', 'DV', 'SITE')
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mscpk.errors import DataError
from mscpk.inputs.scenario import MAX_TIME_H
from mscpk.inputs.studydata.cells import NOT_A_NUMBER, blank, number, show, site_name, text
from mscpk.inputs.studydata.dosing import DOSING_COLUMNS, EVIDS, dose_row
from mscpk.inputs.studydata.study import MAX_PROBLEM_LINES, StudyData, capped, finish
from mscpk.inputs.studydata.units import ALLOWED_UNITS, UnitOptions, normalise_unit

#: Largest DV, LLOQ, SD, DOSE and N (data/studydata.toml ``[limits] max_value``).
MAX_VALUE: float = float(tomllib.loads(resources.files("mscpk.data").joinpath(
    "studydata.toml").read_text("utf-8"))["limits"]["max_value"]["value"])


class Problems:
    """Problems found in study data, raised together as one :class:`DataError`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[float, str, str]] = []  # (row for sorting, column, text)

    def add(self, row: int | None, column: str | None, message: str) -> None:
        prefix = ", ".join(([] if row is None else [f"row {row}"])
                           + ([] if column is None else [f"column {column}"]))
        line = f"{prefix}: {message}" if prefix else message
        self.items.append((-1 if row is None else row, column or "", line))

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = sorted(self.items, key=lambda it: (it[0], it[1]))
        n = len(items)
        lines = capped([it[2] for it in items], " problem(s)")
        head = f"invalid study data in {self.source}: {n} problem{'s' if n != 1 else ''}"
        raise DataError(head + "\n  " + "\n  ".join(lines))


REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "TIME", "DV", "SITE")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "GROUP", "ROUTE", "DOSE", "DVU", "LLOQ", "CENS", "ASSAY", "N", "SD",
)
# columns of a normalised frame that are regenerated, so a re-read frame validates
_REGENERATED = ("ROW", "DVU_REPORTED")


@dataclass(frozen=True)
class _Layout:
    """The header: column name (upper case, None if blank) of each position, the names as
    written (upper -> original) and the extra columns carried along as text."""

    names: list[str | None]
    seen: dict[str, str]
    extras: list[str]


def _header(header_row: int, header: list[Any], problems: Problems) -> _Layout:
    names: list[str | None] = []
    seen: dict[str, str] = {}
    for raw_name in header:
        name = text(raw_name)
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
    dosing = "EVID" in seen
    orphans = [c for c in DOSING_COLUMNS if c in seen and c not in ("EVID", "CMT")]
    if orphans and not dosing:
        problems.add(header_row, orphans[0], f"dosing column{'s' if len(orphans) > 1 else ''} "
                     f"{', '.join(orphans)} need an EVID column (1 = dose, 0 = observation)")
    extras = [n for n in seen if n not in REQUIRED_COLUMNS and n not in OPTIONAL_COLUMNS
              and n not in _REGENERATED and not (dosing and n in DOSING_COLUMNS)]
    return _Layout(names, seen, extras)


def _row(rownum: int, cells: dict[str, Any], lay: _Layout, opts: UnitOptions,
         problems: Problems, excluded: list[dict[str, Any]], keys: dict[tuple, list[int]]
         ) -> dict[str, Any] | None:
    """The normalised row, or None (problems recorded, or the row excluded)."""
    seen = lay.seen
    has_group = "GROUP" in seen
    n_problems = len(problems)  # the row is usable only when it adds no problem
    out: dict[str, Any] = {"ROW": rownum}

    # identifiers
    for col in ("ID", "SITE"):
        t = text(cells.get(col))
        if t == "":
            problems.add(rownum, col, f"{col} is missing")
        out[col] = site_name(t) if col == "SITE" else t
    if has_group:
        t = text(cells.get("GROUP"))
        if t == "":
            problems.add(rownum, "GROUP", "GROUP is missing (the file has a GROUP "
                         "column, so every row needs one)")
        out["GROUP"] = t
    else:
        out["GROUP"] = "all"
    if "ASSAY" in seen:
        out["ASSAY"] = text(cells.get("ASSAY")).lower()
    if "ROUTE" in seen:
        out["ROUTE"] = text(cells.get("ROUTE")).lower()

    # TIME
    raw_t = cells.get("TIME")
    t = number(raw_t)
    if t is None:
        problems.add(rownum, "TIME", "TIME is missing")
    elif t is NOT_A_NUMBER:
        problems.add(rownum, "TIME", f"TIME {show(raw_t)} is not a number (hours)")
    elif not 0 <= t <= MAX_TIME_H:  # type: ignore[operator]
        problems.add(rownum, "TIME", f"{'negative ' if t < 0 else ''}TIME {text(raw_t)} is "
                     f"outside [0, {MAX_TIME_H:g}] h (hours after the first dose, at most the "
                     "longest scenario time)")
    out["TIME"] = t if isinstance(t, float) else math.nan

    # DVU
    if "DVU" in seen:
        tu = text(cells.get("DVU"))
        unit = normalise_unit(tu, opts.aliases) if tu else None
        if tu == "":
            problems.add(rownum, "DVU", "DVU (unit) is missing; allowed: "
                         + ", ".join(ALLOWED_UNITS))
        elif unit is None:
            problems.add(rownum, "DVU", f"unknown unit {tu!r}; allowed: "
                         + ", ".join(ALLOWED_UNITS))
        out["DVU_REPORTED"] = tu
    else:
        unit = opts.default_unit
        out["DVU_REPORTED"] = ""

    # numeric optional columns
    def opt_number(col: str, *, positive: bool = False, nonneg: bool = False) -> float:
        raw = cells.get(col)
        v = number(raw)
        if v is None:
            return math.nan
        if v is NOT_A_NUMBER:
            problems.add(rownum, col, f"{col} {show(raw)} is not a number")
            return math.nan
        if not abs(v) <= MAX_VALUE:  # type: ignore[arg-type]
            problems.add(rownum, col, f"{col} {text(raw)} is not a finite number up to "
                         f"{MAX_VALUE:g}")
            return math.nan
        if positive and v <= 0:  # type: ignore[operator]
            problems.add(rownum, col, f"{col} {text(raw)} must be > 0")
        elif nonneg and v < 0:  # type: ignore[operator]
            problems.add(rownum, col, f"{col} {text(raw)} must be >= 0")
        return float(v)  # type: ignore[arg-type]

    lloq = opt_number("LLOQ", nonneg=True) if "LLOQ" in seen else math.nan
    if "DOSE" in seen:
        out["DOSE"] = opt_number("DOSE", positive=True)

    # CENS
    cens = 0
    if "CENS" in seen:
        raw_c = cells.get("CENS")
        c = number(raw_c)
        if c is NOT_A_NUMBER or (c is not None and c not in (0.0, 1.0)):
            problems.add(rownum, "CENS", f"CENS {show(raw_c)} must be 0 or 1 "
                         "(1 = below LLOQ)")
        elif c is not None:
            cens = int(c)  # type: ignore[arg-type]

    # N / SD
    if "N" in seen:
        raw_n = cells.get("N")
        n = number(raw_n)
        if n is None:
            problems.add(rownum, "N", "N is missing (summary data need the number of "
                         "animals behind each mean)")
        elif n is NOT_A_NUMBER or not 1 <= n <= MAX_VALUE \
                or not float(n).is_integer():  # type: ignore[arg-type,operator]
            problems.add(rownum, "N", f"N {show(raw_n)} must be a whole number in [1, "
                         f"{MAX_VALUE:g}]")
        else:
            out["N"] = float(n)  # type: ignore[arg-type]
    if "SD" in seen:
        out["SD"] = opt_number("SD", nonneg=True)

    # DV
    raw_dv = cells.get("DV")
    dv = number(raw_dv)
    if dv is NOT_A_NUMBER:
        problems.add(rownum, "DV", f"DV {show(raw_dv)} is text, not a number (for "
                     "values below the limit use CENS=1 and LLOQ)")
    elif dv is not None and not abs(dv) <= MAX_VALUE:  # type: ignore[arg-type]
        problems.add(rownum, "DV", f"DV {text(raw_dv)} is not a finite number up to "
                     f"{MAX_VALUE:g} (larger values are not measurements in any unit)")
    elif dv is not None and dv < 0:  # type: ignore[operator]
        problems.add(rownum, "DV", f"negative DV {text(raw_dv)} (amounts of cells, "
                     "DNA or label cannot be negative)")

    # extra columns, carried along as text
    for name in lay.extras:
        out[name] = text(cells.get(name))

    # duplicate key (recorded even if the row has other problems, when keys parse)
    if out.get("ID") and out.get("SITE") and isinstance(t, float):
        key = (out["GROUP"] if has_group else "", out["ID"], t, out["SITE"],
               out.get("ASSAY", ""))
        keys.setdefault(key, []).append(rownum)

    if len(problems) > n_problems:
        return None

    # censoring and exclusion
    is_ct = unit == "Ct"
    if dv is None:
        if cens != 1:
            excluded.append({"ROW": rownum, "COLUMN": "DV", "VALUE": text(raw_dv),
                             "REASON": "DV missing and the row is not censored "
                                       "(CENS is not 1)"})
            return None
        dv_val = math.nan
    else:
        dv_val = float(dv)  # type: ignore[arg-type]
        if cens == 1:
            if math.isnan(lloq):
                lloq = dv_val  # NONMEM M3 convention: a censored DV holds the LLOQ
            elif (dv_val < lloq) if is_ct else (dv_val > lloq):
                problems.add(rownum, "DV", f"CENS=1 but DV {text(raw_dv)} is "
                             f"{'below' if is_ct else 'above'} LLOQ {lloq:g} "
                             "(a censored value must be at or beyond the limit)")
                return None
            dv_val = math.nan
        elif not math.isnan(lloq) and ((dv_val > lloq) if is_ct else (dv_val < lloq)):
            cens = 1  # measured value beyond the limit: censored
            dv_val = math.nan
    out.update(DV=dv_val, CENS=cens, LLOQ=lloq, DVU=unit)
    return out


def _duplicates(keys: dict[tuple, list[int]], lay: _Layout, problems: Problems) -> None:
    for (group, ident, tm, site, assay), rows in keys.items():
        if len(rows) > 1:
            what = f"ID {ident!r}, TIME {tm:g}, SITE {site!r}"
            if "GROUP" in lay.seen:
                what = f"GROUP {group!r}, " + what
            if "ASSAY" in lay.seen:
                what += f", ASSAY {assay!r}"
            listed = ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}"
            problems.add(rows[0], "ID", f"duplicated observation ({what}) in rows {listed}")


def _is_dose(rownum: int, cells: dict[str, Any], problems: Problems) -> bool | None:
    """Is the row a dosing record (EVID 1)? None: neither (a wrong EVID, recorded). An
    observation row (EVID 0 or empty) must leave AMT, RATE, DUR, II and ADDL empty or 0
    (CMT is not read on observation rows)."""
    raw = cells.get("EVID")
    evid = number(raw)
    if evid is not None and evid not in EVIDS:
        problems.add(rownum, "EVID", f"EVID {show(raw)} is not allowed; allowed: "
                     + ", ".join(f"{k} ({v})" for k, v in EVIDS.items()))
        return None
    if evid == 1:
        return True
    for col in ("AMT", "RATE", "DUR", "II", "ADDL"):
        v = number(cells.get(col))
        if v is not None and v != 0:
            problems.add(rownum, col, f"{col} {show(cells.get(col))} on an observation row "
                         "(EVID 0 or empty); a dose needs EVID 1")
    return False


def build(header_row: int, header: list[Any], records: list[tuple[int, list[Any]]], *,
          source: str, unit_options: UnitOptions) -> StudyData:
    """Validate records ``(row number, values)`` under ``header`` (in row ``header_row``)
    into a :class:`StudyData`; every problem is raised together in one DataError."""
    problems = Problems(source)
    lay = _header(header_row, header, problems)
    problems.raise_if_any()

    data_records = [(r, v) for r, v in records if r > header_row]
    if all(blank(v) for _, v in data_records):
        raise DataError(f"study data in {source} has a header but no data rows")

    seen, names = lay.seen, lay.names
    is_summary = "N" in seen or "SD" in seen
    if "SD" in seen and "N" not in seen:
        problems.add(header_row, "N", "summary data (an SD column) need an N column "
                     "(the number of animals behind each mean)")

    rows_out: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    keys: dict[tuple, list[int]] = {}
    dosing: list[dict[str, Any]] = []
    for rownum, values in data_records:
        if len(values) > len(names) and any(text(v) != "" for v in values[len(names):]):
            problems.add(rownum, None, f"{len(values)} fields but the header has "
                         f"{len(names)} columns")
            continue
        if blank(values):
            excluded.append({"ROW": rownum, "COLUMN": "", "VALUE": "", "REASON": "empty row"})
            continue
        cells = {name: (values[j] if j < len(values) else None)
                 for j, name in enumerate(names) if name is not None}
        if any(name is None and j < len(values) and text(values[j]) != ""
               for j, name in enumerate(names)):
            problems.add(rownum, None, "a value in a column that has no name in the header")
        kind = _is_dose(rownum, cells, problems) if "EVID" in seen else False
        if kind is None:
            continue
        if kind:
            dose = dose_row(rownum, cells, seen, problems)
            if dose is not None:
                dosing.append(dose)
            continue
        out = _row(rownum, cells, lay, unit_options, problems, excluded, keys)
        if out is not None:
            rows_out.append(out)

    _duplicates(keys, lay, problems)
    problems.raise_if_any()
    if not rows_out:
        raise DataError(
            f"study data in {source} have no usable rows: "
            + "; ".join(f"row {e['ROW']}: {e['REASON']}" for e in excluded[:MAX_PROBLEM_LINES])
        )
    return finish(rows_out, excluded, lay.extras, normalise=unit_options.normalise,
                  is_summary=is_summary, source=source, dosing=dosing)
