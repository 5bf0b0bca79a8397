"""The calibration studies as likelihood terms: one :class:`CalibrationTerm` per quantitative
observation (a value compared on the log scale, or a reported bound).

>>> from mscpk.inputs.studies import load_study
>>> [t.kind for t in calibration_terms(load_study("toma2009"))]
['value', 'value']
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from mscpk.analysis.qualification import CONTINUOUS
from mscpk.inputs.studies import Study

__all__ = ["CalibrationTerm", "calibration_terms", "text_value_sdlog"]


@lru_cache(maxsize=1)
def text_value_sdlog() -> float:
    """Log-scale SD of a value a paper states without a spread (data/calibration.toml)."""
    raw = tomllib.loads(resources.files("mscpk.data").joinpath("calibration.toml").read_text("utf-8"))
    return float(raw["noise"]["text_value_sdlog"]["value"])


@dataclass(frozen=True)
class CalibrationTerm:
    """Observation ``index`` of a study in the likelihood: ``kind`` ``"value"`` (log-normal,
    log-scale SD ``sdlog``), ``"upper"`` or ``"lower"`` (a reported bound, censored with the
    same SD); ``value`` [``unit``] at ``site``, ``time_h`` [h]."""

    index: int
    kind: str
    value: float
    unit: str
    site: str
    time_h: float
    sdlog: float
    noise: str  # "reported SD" or "text value"


def calibration_terms(study: Study) -> list[CalibrationTerm]:
    """The quantitative observations of ``study`` (units compared by fold error, and bounds)
    as terms; shares of animals and yes/no detections are left out. A reported SD gives the
    log-scale SD of the mean, ``sqrt(log(1 + (SD/mean)^2) / n)``; a value without one gets
    :func:`text_value_sdlog`."""
    out = []
    for i, o in enumerate(study.observations):
        if o.unit not in CONTINUOUS or not o.value > 0:
            continue
        if o.spread is not None and o.bound is None:
            sd, noise = math.sqrt(math.log1p((o.spread / o.value) ** 2) / (o.n or 1)), "reported SD"
        else:
            sd, noise = text_value_sdlog(), "text value"
        out.append(CalibrationTerm(i, o.bound or "value", o.value, o.unit, o.site, o.time_h, sd, noise))
    return out
