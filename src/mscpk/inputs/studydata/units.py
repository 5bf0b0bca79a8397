"""Units of study data (``DVU``): the accepted units, their spellings and pint conversions.

>>> normalise_unit("Cells / mg")
'cells/mg'
>>> unit_ratio("cells/g", "cells/mL")
'mL/g'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pint

from mscpk.errors import DataError

#: Units accepted in ``DVU`` (canonical spelling). ``copies/ug`` is copies of the assay
#: target per microgram of total (host + donor) DNA; ``Ct`` is a qPCR cycle threshold;
#: ``photons/s`` is the (background-subtracted) flux of an optical image region (BLI,
#: fluorescence), convertible to cells only with a per-cell calibration (not done here).
ALLOWED_UNITS: tuple[str, ...] = (
    "cells", "cells/g", "cells/mg", "cells/mL", "cells/uL",
    "%ID", "%ID/g", "copies/ug", "Ct", "photons/s",
)

#: The unit registry used for study-data units: SI plus counting units for cells, target
#: copies and the injected dose.
ureg = pint.UnitRegistry()
ureg.define("cell = [cell_count] = _ = cells")
ureg.define("target_copy = [target_copy_count] = _ = copies")
ureg.define("injected_dose = [injected_dose] = ID")
ureg.define("photon = [photon_count] = _ = photons")

#: canonical unit -> pint expression (None: not a linear unit)
PINT_EXPR: dict[str, str | None] = {
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
#: unit -> canonical unit it is normalised to (same dimension, different scale)
NORMALISED_TO: dict[str, str] = {"cells/mg": "cells/g", "cells/uL": "cells/mL"}

# spellings accepted (after lower-casing, removing blanks, mu -> u) -> canonical unit
_UNIT_ALIASES: dict[str, str] = {
    spelling: canon
    for canon, spellings in {
        "cells": ["cells", "cell", "cellequivalents", "cellequivalent"],
        "cells/g": ["cells/g", "cell/g", "cells/gtissue", "cells/g_tissue", "cells.g-1"],
        "cells/mg": ["cells/mg", "cell/mg", "cells/mgtissue", "cells/mg_tissue", "cells.mg-1"],
        "cells/mL": ["cells/ml", "cell/ml", "cells.ml-1"],
        "cells/uL": ["cells/ul", "cell/ul", "cells.ul-1"],
        "%ID": ["%id", "%injecteddose", "percentid", "%dose", "%injectedactivity", "%ia"],
        "%ID/g": ["%id/g", "%injecteddose/g", "percentid/g", "%dose/g", "%injectedactivity/g"],
        "copies/ug": ["copies/ug", "copy/ug", "copies/ugdna", "copy/ugdna", "copies/ug_dna"],
        "Ct": ["ct", "cq"],
        "photons/s": ["photons/s", "photon/s", "p/s", "photons/sec", "photons_per_s",
                      "photons.s-1"],
    }.items()
    for spelling in spellings
}

_SHORT = {"cell": "cells", "target_copy": "copies", "injected_dose": "ID", "percent": "%",
          "photon": "photons", "second": "s",
          "gram": "g", "milliliter": "mL", "microgram": "ug", "milligram": "mg",
          "microliter": "uL"}


def _unit_key(text: str) -> str:
    return re.sub(r"\s+", "", text.strip().lower()).replace("µ", "u").replace("μ", "u")


def normalise_unit(text: str, extra_aliases: Mapping[str, str] | None = None) -> str | None:
    """Canonical spelling of a ``DVU`` unit, or None when it is not one of
    :data:`ALLOWED_UNITS` (or ``extra_aliases``, which map a spelling to an allowed unit)."""
    key = _unit_key(text)
    return next((canon for spelling, canon in (extra_aliases or {}).items()
                 if _unit_key(spelling) == key), _UNIT_ALIASES.get(key))


def factor(unit_from: str, unit_to: str) -> float:
    """Scale factor between two linear canonical units of the same dimension (pint)."""
    expr_from, expr_to = PINT_EXPR[unit_from], PINT_EXPR[unit_to]
    assert expr_from is not None and expr_to is not None
    return float(ureg.Quantity(1.0, expr_from).to(expr_to).magnitude)


def unit_ratio(unit_a: str, unit_b: str) -> str:
    """Unit of a ratio of values in ``unit_a`` and ``unit_b`` (e.g. ``cells/g`` over
    ``cells/mL`` gives ``mL/g``; identical units give ``""``, i.e. dimensionless)."""
    if unit_a == unit_b:
        return ""
    ea, eb = PINT_EXPR.get(unit_a), PINT_EXPR.get(unit_b)
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
    """How ``DVU`` is interpreted by :func:`~mscpk.inputs.studydata.read_study`.

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


def coerce_unit_options(value: UnitOptions | Mapping[str, Any] | None) -> UnitOptions:
    """``value`` as :class:`UnitOptions` (None: the defaults; a mapping: its fields)."""
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
