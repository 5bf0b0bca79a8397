"""Single cells of study data: missing values, numbers, text and site names.

>>> number("1e3"), number("NA"), number("<10") is NOT_A_NUMBER
(1000.0, None, True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time as dtime
from typing import Any

import numpy as np
import pandas as pd

#: Missing-value spellings (compared upper case, blanks stripped).
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NAN", ".", "NULL"})
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: Returned by :func:`number` for a value that is present but not a number.
NOT_A_NUMBER = object()


def is_missing(value: Any) -> bool:
    """Is ``value`` an empty cell or one of the :data:`MISSING_TOKENS`?"""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().upper() in MISSING_TOKENS


def text(value: Any) -> str:
    """A cell as text ('' for missing). Integral floats from spreadsheets lose the '.0'."""
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(value) if isinstance(value, float) else str(value)
    return str(value).strip()


def number(value: Any) -> float | None | object:
    """float, None (missing) or :data:`NOT_A_NUMBER`."""
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (datetime, date, dtime)):
        return NOT_A_NUMBER
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    s = str(value).strip()
    if _NUMBER_RE.match(s):
        return float(s)
    return NOT_A_NUMBER


def show(value: Any) -> str:
    """``value`` quoted for a message."""
    return repr(value) if isinstance(value, str) else repr(text(value))


def site_name(name: str) -> str:
    """Lower-case snake_case site name (``"Bone marrow"`` -> ``"bone_marrow"``)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def blank(values: Sequence[Any]) -> bool:
    """Is every value of a record missing?"""
    return all(text(v) == "" for v in values)
