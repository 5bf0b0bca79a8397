"""Exception classes of mscpk.

Every error a user can cause derives from :class:`MscpkError`; the CLI turns these into one
line on stderr and exit status 2. Anything else escaping is a bug.
"""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(value: object, allowed: Iterable[str], cutoff: float = 0.5) -> str:
    """``"did you mean 'x'? "`` for the closest allowed name, or ``""`` (message fragment)."""
    close = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=cutoff)
    return f"did you mean {close[0]!r}? " if close else ""


class MscpkError(Exception):
    """Base class for all user-facing mscpk errors."""


class ScenarioError(MscpkError, ValueError):
    """A scenario file or object is invalid (bad key, value out of range, unknown name)."""


class ParameterError(MscpkError, KeyError):
    """Unknown model parameter name or invalid parameter value."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class PhysiologyError(MscpkError, ValueError):
    """Species physiology data are missing or inconsistent."""


class DataError(MscpkError, ValueError):
    """Study data (CSV/XLSX) are invalid."""


class DetectionError(MscpkError, ValueError):
    """An assay, label or detection setting is invalid for the scenario."""


class FitError(MscpkError, RuntimeError):
    """Model fitting could not be set up or run."""


class SolverError(MscpkError, RuntimeError):
    """The numerical solver failed."""


class StoreError(MscpkError, RuntimeError):
    """The project store cannot be opened or used (bad URL, server unreachable, store not
    initialised), or a stored run, table or file asked for does not exist."""


class MscpkWarning(UserWarning):
    """An input or result that is allowed but needs a look (an input with no effect, an
    embolic burden above its threshold); the CLI prints each as one ``warning:`` line on stderr."""


def refuse_repeats(key: str, values: Iterable, what: str = "", error: type | None = None, same=None) -> None:
    """Raise ``error`` (default :class:`ScenarioError`) for the first of ``values`` listed
    more than once: ``"{key}: {what}{value!r} is listed N times; give it once"``. ``same``
    maps a value to what makes two entries equal (default: the value itself)."""
    values = list(values)
    ids = [same(v) for v in values] if same else values
    for v, i in zip(values, ids):
        if ids.count(i) > 1:
            raise (error or ScenarioError)(f"{key}: {what}{v!r} is listed {ids.count(i)} times; give it once")
