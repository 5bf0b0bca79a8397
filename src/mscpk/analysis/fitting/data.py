"""Study data as the fit reads it: accepted units, each row's unit, row numbers in messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mscpk.errors import FitError
from mscpk.inputs.studydata import StudyData, UnitOptions, study_from_frame

#: spellings of the optical unit (photons per second) accepted in DVU for bli/fluorescence
_OPTICAL_SPELLINGS = ("photons/s", "photons_per_s", "photons per s", "p/s", "ph/s", "photons/sec")
#: spellings of percent injected activity accepted for spect/pet (besides %ID)
_PIA_SPELLINGS = ("percent_injected_activity", "%IA", "percent injected activity")
#: read_study options for fitting: accept the optical unit (stored in DVU as ``cells`` with
#: the spelling kept in ``DVU_REPORTED``, which the fit checks against the assay) and
#: ``percent_injected_activity`` (= %ID).
FIT_UNIT_OPTIONS = UnitOptions(aliases={**{s: "cells" for s in _OPTICAL_SPELLINGS},
                                        **{s: "%ID" for s in _PIA_SPELLINGS}})
_OPTICAL_KEYS = {s.replace(" ", "").lower() for s in _OPTICAL_SPELLINGS}

#: sigma key / assay label of rows without ASSAY
NO_ASSAY = "live_cells"


def as_frame(data: StudyData | pd.DataFrame) -> pd.DataFrame:
    """The normalised study frame of ``data`` (a raw DataFrame is read with
    :data:`FIT_UNIT_OPTIONS`)."""
    if isinstance(data, StudyData):
        return data.frame
    if isinstance(data, pd.DataFrame):
        if "ROW" in data.columns:  # already normalised (StudyData.frame or a combination)
            return data
        return study_from_frame(data, unit_options=FIT_UNIT_OPTIONS).frame
    raise FitError(f"data must be StudyData or a pandas DataFrame, not {type(data).__name__}")


def row_unit(dvu: Any, reported: Any) -> str | None:
    """Unit of DV for fitting (None: not stated, i.e. the assay's unit)."""
    rep = reported if isinstance(reported, str) else ""
    key = rep.replace(" ", "").lower()
    if key in _OPTICAL_KEYS:
        return "photons_per_s"
    dvu = dvu if isinstance(dvu, str) else "cells"
    if dvu == "%ID":
        return "percent_injected_activity"
    if dvu == "cells" and rep.strip() == "":
        return None
    return dvu


def row_numbers(frame: pd.DataFrame, mask) -> list[Any]:
    """File row numbers of the rows ``mask`` selects (``dataset:row`` across datasets)."""
    sub = frame[mask]
    if "ROW" in sub:
        if "DATASET" in sub and sub["DATASET"].nunique() > 1:
            return [f"{d}:{r}" for d, r in zip(sub["DATASET"], sub["ROW"])]
        return [int(r) for r in sub["ROW"]]
    return [int(i) + 2 for i in sub.index]


def rows_text(rows: Sequence[Any], limit: int = 6) -> str:
    """``"rows 2, 3, 5"`` (at most ``limit`` shown) for an error message."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def rows_of(frame: pd.DataFrame, mask) -> str:
    """:func:`rows_text` of the rows of ``frame`` that ``mask`` selects."""
    return rows_text(row_numbers(frame, mask))
