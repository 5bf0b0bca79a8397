"""The :class:`StudyData` type and the final shape of its normalised frame
(format: docs/studydata.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mscpk.inputs.studydata.units import NORMALISED_TO, factor

#: At most this many problem lines in one DataError message (then "... and N more").
MAX_PROBLEM_LINES = 20
#: Columns of ``StudyData.excluded``.
EXCLUDED_COLUMNS = ("ROW", "COLUMN", "VALUE", "REASON")
#: Columns of ``StudyData.dosing``.
DOSING_FRAME_COLUMNS = ("ROW", "GROUP", "ID", "TIME", "ROUTE", "SITE", "AMT", "INFUSION_MIN",
                        "II", "ADDL")


def capped(lines: list[str], more: str = "") -> list[str]:
    """``lines`` cut to :data:`MAX_PROBLEM_LINES`, then ``"... and N more<more>"``."""
    extra = len(lines) - MAX_PROBLEM_LINES
    return lines[:MAX_PROBLEM_LINES] + ([f"... and {extra} more{more}"] if extra > 0 else [])


@dataclass(frozen=True, eq=False)
class StudyData:
    """Validated study data.

    ``frame``: the normalised observations (see docs/studydata.md).
    ``excluded``: rows left out for a documented reason, columns ``ROW, COLUMN, VALUE,
    REASON`` (ROW as in the file: header = row 1).
    ``is_summary``: the file holds summary (literature) data: means with ``N`` (and ``SD``).
    ``source``: where the data came from (file path or a label).
    ``dosing``: the dosing records (EVID 1), columns :data:`DOSING_FRAME_COLUMNS`
    (``TIME`` [h], ``AMT`` cells, ``INFUSION_MIN`` [min], ``II`` [h], ``ADDL``); see
    :func:`~mscpk.inputs.studydata.dosing.doses_from_records`.
    """

    frame: pd.DataFrame
    excluded: pd.DataFrame
    is_summary: bool
    source: str = ""
    dosing: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DOSING_FRAME_COLUMNS)))

    def __len__(self) -> int:
        return len(self.frame)


def finish(rows: list[dict[str, Any]], excluded: list[dict[str, Any]], extras: list[str], *,
           normalise: bool, is_summary: bool, source: str,
           dosing: list[dict[str, Any]] = ()) -> StudyData:
    """The :class:`StudyData` of validated rows: units normalised within a dimension
    (``cells/mg`` -> ``cells/g``, ``cells/uL`` -> ``cells/mL``) when ``normalise``, columns
    in their fixed order and types."""
    frame = pd.DataFrame(rows)
    scaled = [col for col in ("DV", "LLOQ", "SD") if col in frame]
    for src, dst in NORMALISED_TO.items() if normalise else ():
        mask = frame["DVU"] == src
        if mask.any():
            frame.loc[mask, scaled] = frame.loc[mask, scaled] * factor(src, dst)
            frame.loc[mask, "DVU"] = dst

    order = ["ROW", "GROUP", "ID", "TIME", "SITE", "DV", "DVU", "CENS", "LLOQ"]
    order += [c for c in ("ASSAY", "ROUTE", "DOSE", "N", "SD") if c in frame]
    order += ["DVU_REPORTED"] + [c for c in extras if c in frame]
    frame = frame[order].reset_index(drop=True).astype(
        {"ROW": int, "CENS": int} | {c: float for c in ("TIME", "DV", "LLOQ", "DOSE", "N", "SD")
                                     if c in frame})
    excl = pd.DataFrame(excluded, columns=list(EXCLUDED_COLUMNS))
    excl["ROW"] = excl["ROW"].astype(int)
    doses = pd.DataFrame(list(dosing), columns=list(DOSING_FRAME_COLUMNS))
    return StudyData(frame=frame, excluded=excl, is_summary=is_summary, source=source,
                     dosing=doses)
