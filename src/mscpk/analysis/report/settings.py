"""Settings of the report's wording (data/report.toml: each with its unit and reason)."""

from __future__ import annotations

import tomllib
from importlib import resources

_SETTINGS = tomllib.loads(resources.files("mscpk.data").joinpath("report.toml").read_text("utf-8"))
#: Share of the dose [%] a site's live cells must reach to be named in a sentence.
NAMED_SITE_PERCENT: float = float(_SETTINGS["named_site_percent"]["value"])
#: Most sites named per time in a sentence.
NAMED_SITES: int = int(_SETTINGS["named_sites"]["value"])
#: Fractions of the dose [-] whose crossing times describe persistence.
PERSISTENCE_FRACTIONS: tuple[float, ...] = tuple(float(v)
                                                 for v in _SETTINGS["persistence_fractions"]["value"])
#: Times [h] at which homing is compared with and without the injury.
HOMING_TIMES_H: tuple[float, ...] = tuple(float(v) for v in _SETTINGS["homing_times_h"]["value"])
#: Objective difference [-2 log L] within which an optimiser start counts as reaching the best.
START_TOLERANCE: float = float(_SETTINGS["start_objective_tolerance"]["value"])
#: Most data rows listed (excluded or left out) [rows].
LISTED_ROWS: int = int(_SETTINGS["listed_rows"]["value"])

#: Longest wait for headless Chromium to print a report to PDF [s].
PDF_TIMEOUT_S: float = float(_SETTINGS["pdf_timeout_s"]["value"])
#: Relative tolerance within which a rebuilt forward model must give the fit file's predictions [-].
FIT_REPRODUCTION_RTOL: float = float(_SETTINGS["fit_reproduction_rtol"]["value"])

__all__ = ["NAMED_SITE_PERCENT", "NAMED_SITES", "PERSISTENCE_FRACTIONS", "HOMING_TIMES_H", "START_TOLERANCE",
           "LISTED_ROWS", "PDF_TIMEOUT_S", "FIT_REPRODUCTION_RTOL"]
