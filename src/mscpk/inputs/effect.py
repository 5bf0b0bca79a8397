"""The ``[effect]`` table of a scenario: an exposure-response model on a target-site exposure
(live cells at a site, or a factor they secrete), Emax or indirect response (docs/effect.md).

Its numbers are the user's (a study's fitted effect model); each table carries its ``unit`` and
``source`` like every number of mscpk.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

_CFG = ConfigDict(extra="forbid", frozen=True)
Positive = Annotated[float, Strict(), Field(gt=0.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Strict(), Field(ge=0.0, allow_inf_nan=False)]
Real = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class Effect(BaseModel):
    """An exposure-response model.

    ``driver``: "live_cells" (live administered cells at ``site``) or "factor" (a factor they
    secrete: ``secretion_per_cell_h`` per live cell per hour, removed with ``factor_half_life_h``).
    ``model``: "emax" (``e0 + emax D^hill / (ec50^hill + D^hill)`` on the driver D(t)) or
    "indirect" (``dR/dt = kin (1 + smax D / (sc50 + D)) - kout R``, R(0) = kin / kout: a
    stimulated production, e.g. of repair; ``smax < 0`` inhibits).
    """

    model_config = _CFG
    model: Literal["emax", "indirect"] = "emax"
    driver: Literal["live_cells", "factor"] = "live_cells"
    site: str
    secretion_per_cell_h: NonNegative | None = None
    factor_half_life_h: Positive | None = None
    e0: Real = 0.0
    emax: Real | None = None
    ec50: Positive | None = None
    hill: Positive = 1.0
    kin: Positive | None = None
    kout: Positive | None = None
    smax: Real | None = None
    sc50: Positive | None = None
    unit: str = "-"
    source: str

    @model_validator(mode="after")
    def _complete(self) -> "Effect":
        need = {"emax": ("emax", "ec50"), "indirect": ("kin", "kout", "smax", "sc50")}[self.model]
        if self.driver == "factor":
            need = need + ("secretion_per_cell_h", "factor_half_life_h")
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.model} model driven by {self.driver} needs {', '.join(missing)}")
        unused = {"emax": ("kin", "kout", "smax", "sc50"), "indirect": ("emax", "ec50")}[self.model]
        given = [k for k in unused if getattr(self, k) is not None]
        if self.driver == "live_cells":
            given += [k for k in ("secretion_per_cell_h", "factor_half_life_h") if getattr(self, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} not used by a {self.model} model driven by {self.driver}")
        if self.model == "indirect" and self.smax <= -1.0:
            raise ValueError(f"smax = {self.smax:g} would make production negative; give smax > -1")
        if not self.source.strip():
            raise ValueError("source: say where the effect model's numbers come from")
        return self


__all__ = ["Effect"]
