"""NCA rule settings (:class:`NCAOptions`); numeric defaults from data/nca.toml, the rules in
docs/nca.md.

>>> NCAOptions(auc_method="Linear", blq_last="0.5").blq_last
0.5
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

AUC_METHODS = ("linear", "lin up/log down", "log")
_AUC_ALIASES = {
    "linear": "linear", "lin": "linear", "linuplogdown": "lin up/log down",
    "linearuplogdown": "lin up/log down", "log": "log", "logarithmic": "log",
}
_DEFAULTS = {k: v["value"] for k, v in tomllib.loads(
    resources.files("mscpk.data").joinpath("nca.toml").read_text("utf-8"))["options"].items()}


def _blq_rule(name: str, value: Any, allowed: tuple[str, ...]) -> str | float:
    if isinstance(value, str):
        v = value.strip().lower().replace("-", "_").replace(" ", "_")
        if v in allowed:
            return v
        try:
            value = float(v)
        except ValueError:
            raise ValueError(f"{name} must be one of {', '.join(allowed)} or a number >= 0, "
                             f"not {value!r}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError(f"{name} must be one of {', '.join(allowed)} or a number >= 0, "
                     f"not {value!r}")


@dataclass(frozen=True)
class NCAOptions:
    """All NCA rule settings (see docs/nca.md). Invalid settings raise ValueError."""

    auc_method: str = "lin up/log down"
    min_hl_points: int = _DEFAULTS["min_hl_points"]
    allow_tmax_in_half_life: bool = False
    adj_r2_factor: float = _DEFAULTS["adj_r2_factor"]
    first_tmax: bool = True
    blq_first: str | float = "keep"
    blq_middle: str | float = "drop"
    blq_last: str | float = "keep_first"
    assume_zero_at_time0: bool = False
    ci_level: float = _DEFAULTS["ci_level"]
    r2adj_min: float = _DEFAULTS["r2adj_min"]
    span_ratio_min: float = _DEFAULTS["span_ratio_min"]
    max_extrap_pct: float = _DEFAULTS["max_extrap_pct"]
    iv_routes: tuple[str, ...] = ("iv", "intravenous")

    def __post_init__(self) -> None:
        key = "".join(ch for ch in str(self.auc_method).lower() if ch.isalnum())
        if key not in _AUC_ALIASES:
            raise ValueError(f"auc_method must be one of {', '.join(AUC_METHODS)}, "
                             f"not {self.auc_method!r}")
        object.__setattr__(self, "auc_method", _AUC_ALIASES[key])
        if not isinstance(self.min_hl_points, (int, np.integer)) or self.min_hl_points < 3:
            raise ValueError(f"min_hl_points must be a whole number >= 3, not "
                             f"{self.min_hl_points!r}")
        if not (math.isfinite(self.adj_r2_factor) and self.adj_r2_factor >= 0):
            raise ValueError(f"adj_r2_factor must be >= 0, not {self.adj_r2_factor!r}")
        for position, allowed in (("first", ("keep", "drop")), ("middle", ("keep", "drop")),
                                  ("last", ("keep", "drop", "keep_first"))):
            name = f"blq_{position}"
            object.__setattr__(self, name, _blq_rule(name, getattr(self, name), allowed))
        if not (0 < self.ci_level < 1):
            raise ValueError(f"ci_level must be between 0 and 1, not {self.ci_level!r}")
        for name in ("r2adj_min", "span_ratio_min", "max_extrap_pct"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        object.__setattr__(self, "iv_routes", tuple(r.lower() for r in self.iv_routes))
