"""The ONE table of physiology fields: TOML key, attribute, parameter name, unit, allowed range.

The species file parser, :meth:`Species.parameter_rows` (the names ``mscpk params`` lists)
and the ``[parameters]`` overrides are all derived from :data:`BODY_FIELDS` and
:data:`ORGAN_FIELDS`. The file format is described in docs/physiology.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Organs every species file must define (snake_case; more may be added).
REQUIRED_ORGANS: tuple[str, ...] = (
    "lung", "heart", "brain", "liver", "spleen", "gut", "kidney", "muscle", "skin", "adipose",
    "bone_marrow", "rest",
)


@dataclass(frozen=True)
class Rule:
    """Allowed interval of a value: from ``low`` to ``high``, each end open or closed.

    >>> str(Rule(0.0, 1.0, low_open=False, high_open=False)), Rule(0.0, 1.0, low_open=False).allows(1.0)
    ('in [0, 1]', False)
    """

    low: float = 0.0
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    def allows(self, value: float) -> bool:
        """True when ``value`` is finite and inside the interval."""
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


POSITIVE = Rule()
NON_NEGATIVE = Rule(low_open=False)
FRACTION = Rule(0.0, 1.0, low_open=False, high_open=False)


@dataclass(frozen=True)
class Field:
    """One numeric physiology field.

    Attributes:
        key: field name in the species TOML file (``"capillary_gsd"``).
        attr: attribute of :class:`Species` or :class:`Organ` (``"capillary"``).
        sub: attribute of :class:`Capillary` when ``attr == "capillary"``, else ``None``.
        label: parameter name without unit; organ fields are prefixed with the organ label
            (``"Liver capillary geometric SD [-]"``).
        unit: canonical :mod:`pint` unit (``"dimensionless"`` is shown as ``-``).
        rule: allowed values.
    """

    key: str
    attr: str
    sub: str | None
    label: str
    unit: str
    rule: Rule

    @property
    def display_unit(self) -> str:
        """Unit as shown in parameter names (``-`` for dimensionless)."""
        return "-" if self.unit == "dimensionless" else self.unit

    def name(self, organ_label: str | None = None) -> str:
        """Parameter name as ``mscpk params`` lists it, e.g. ``"Liver volume [L]"``."""
        label = self.label if organ_label is None else f"{organ_label} {self.label}"
        return f"{label} [{self.display_unit}]"

    def get(self, obj: object) -> float:
        """The value of this field on a :class:`Species` or :class:`Organ`."""
        value = getattr(obj, self.attr)
        return float(getattr(value, self.sub) if self.sub else value)


BODY_FIELDS: tuple[Field, ...] = (
    Field("body_weight", "body_weight_kg", None, "Body weight", "kg", POSITIVE),
    Field("cardiac_output", "cardiac_output_L_per_h", None, "Cardiac output", "L/h", POSITIVE),
    Field("blood_volume", "blood_volume_L", None, "Blood volume", "L", POSITIVE),
    Field("venous_fraction", "venous_fraction", None, "Venous blood fraction", "dimensionless",
          Rule(0.0, 1.0)),
    Field("cells_per_gram_tissue", "cells_per_gram_tissue", None, "Cells per gram tissue", "1/g",
          POSITIVE),
)
ORGAN_FIELDS: tuple[Field, ...] = (
    Field("volume", "volume_L", None, "volume", "L", POSITIVE),
    Field("blood_flow", "flow_fraction", None, "blood flow fraction", "dimensionless",
          Rule(0.0, 1.0, high_open=False)),
    Field("residual_blood", "residual_blood_fraction", None, "residual blood fraction",
          "dimensionless", FRACTION),
    Field("depth", "depth_mm", None, "depth", "mm", NON_NEGATIVE),
    Field("capillary_median", "capillary", "median_um", "capillary median diameter", "um", POSITIVE),
    Field("capillary_gsd", "capillary", "gsd", "capillary geometric SD", "dimensionless", Rule(1.0)),
    Field("capillary_segments", "capillary", "segments", "capillary segments in series",
          "dimensionless", Rule(1.0, low_open=False)),
)

#: Non-lung organ flow fractions must sum to 1 within this [-] (rounding of tabulated data).
FLOW_SUM_TOLERANCE = 0.01
#: The lung flow fraction must be 1 within this [-] (it receives the whole cardiac output).
LUNG_FLOW_TOLERANCE = 1e-6
#: Relative slack [-] of "organ volumes + blood volume <= body weight" (float rounding).
VOLUME_SUM_SLACK = 1e-6

__all__ = ["Rule", "Field", "BODY_FIELDS", "ORGAN_FIELDS", "REQUIRED_ORGANS", "FLOW_SUM_TOLERANCE",
           "LUNG_FLOW_TOLERANCE", "VOLUME_SUM_SLACK"]
