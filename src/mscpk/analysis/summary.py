"""Per-site summary of a result: peak, time of peak, exposure and % of dose at chosen times;
the embolic-burden warning (per-bed limits in data/embolic.toml)."""

from __future__ import annotations

import math
import tomllib
import warnings
from importlib import resources
from typing import Mapping, Sequence

import numpy as np

from mscpk.engine.result import Result
from mscpk.errors import MscpkWarning

DEFAULT_TIMES_H = (1.0, 24.0, 72.0, 168.0, 672.0)
_EMBOLIC = tomllib.loads(resources.files("mscpk.data").joinpath("embolic.toml").read_text("utf-8"))
#: Per-bed peak occlusion limits [-]: bed -> {"warn": ..., "severe": ...} (data/embolic.toml, with
#: their sources); a bed not listed uses :data:`EMBOLIC_DEFAULT_BED`'s (an assumption).
EMBOLIC = {bed: {k: float(v["value"]) for k, v in levels.items() if isinstance(v, dict)}
           for bed, levels in _EMBOLIC["bed"].items()}
EMBOLIC_DEFAULT_BED: str = _EMBOLIC["default"]["bed"]
#: The tables of data/embolic.toml as written, bed -> {"cite", "basis", "warn": {...}, ...}: every
#: limit with its source and finding (``EMBOLIC_DEFAULT_SOURCE``: why other beds use the default's).
EMBOLIC_SOURCES: Mapping[str, Mapping] = _EMBOLIC["bed"]
EMBOLIC_DEFAULT_SOURCE: str = _EMBOLIC["default"]["source"]


def embolic_limits(site: str) -> tuple[str, dict[str, float]]:
    """The bed whose limits apply to ``site`` (itself, or the lung by assumption) and its limits [-].

    >>> embolic_limits("kidney")
    ('lung', {'warn': 0.0465, 'severe': 0.1395})
    """
    bed = site if site in EMBOLIC else EMBOLIC_DEFAULT_BED
    return bed, EMBOLIC[bed]


def embolic_level(occlusion: float, limits: Mapping[str, float]) -> str:
    """"below", "warn" (above the warning limit) or "severe" (at or above the severe limit, when
    the bed has one) for a peak occlusion fraction [-] against a bed's ``limits``.

    >>> embolic_level(0.05, embolic_limits("lung")[1]), embolic_level(0.2, embolic_limits("lung")[1])
    ('warn', 'severe')
    """
    if occlusion <= limits["warn"]:
        return "below"
    return "severe" if occlusion >= limits.get("severe", math.inf) else "warn"


def embolic_cite(bed: str) -> str:
    """The source of ``bed``'s limits as "cite (basis)" (data/embolic.toml)."""
    return f"{EMBOLIC_SOURCES[bed]['cite']} ({EMBOLIC_SOURCES[bed]['basis']})"


def peak_occlusions(result: Result) -> dict[str, float]:
    """Peak occlusion fraction [-] of each capillary bed of ``result``, by site."""
    return {s: float(result.quantity(s, "occlusion_fraction").max()) for s, c in result.capacities.items() if c}


def embolic_warnings(peaks: Mapping[str, float]) -> list[str]:
    """One message per bed whose peak occlusion (site -> fraction) exceeds its warning limit, naming
    the bed, the limit it passed and the limit's source (:func:`embolic_limits`).

    >>> embolic_warnings({"lung": 0.02})
    []
    >>> embolic_warnings({"heart": 0.001})[0][:82]
    'embolic burden: heart capillary bed peaks at 0.1 % occluded, at or above 0.0641 %,'
    """
    out = []
    for site, occ in peaks.items():
        bed, limits = embolic_limits(site)
        level = embolic_level(occ, limits)
        if level == "below":
            continue
        rows = EMBOLIC_SOURCES[bed]
        tail = f"{rows['cite']}; {rows['basis']} in data/embolic.toml"
        if bed != site:
            tail += f"; the {bed}'s limits, assumed for the {site} (no tolerance data)"
        severe = rows.get("severe")
        if level == "severe":
            level = f"at or above {100 * severe['value']:.4g} %, {severe['finding']} ({tail})"
        else:
            upper = f"{severe['short']}, {100 * severe['value']:.4g} %; " if severe else ""
            level = f"above {100 * limits['warn']:.4g} %, {rows['warn']['finding']} ({upper}{tail})"
        out.append(f"embolic burden: {site} capillary bed peaks at {100 * occ:.3g} % occluded, {level}")
    return out


def exposure(times_h: np.ndarray, values: np.ndarray):
    """Area under a cell-number curve [cell*h], linear-up / log-down trapezoids, along the last
    axis of ``values`` (a float for one curve, an array for many)."""
    t, y = np.asarray(times_h, float), np.asarray(values, float)
    dt = np.diff(t)
    y0, y1 = y[..., :-1], y[..., 1:]
    lin = dt * (y0 + y1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        log = dt * (y0 - y1) / np.log(y0 / y1)
    use_log = (y1 < y0) & (y1 > 0) & (y0 > 0)
    area = np.sum(np.where(use_log, log, lin), axis=-1)
    return float(area) if y.ndim == 1 else area


def summarize(result: Result, times_h: Sequence[float] = DEFAULT_TIMES_H):
    """DataFrame, one row per site: ``peak_live_cells``, ``t_peak_h``, ``exposure_cell_days``
    (area under the live-cell curve / 24), ``peak_occlusion`` (largest fraction of the site's
    capillary bed occupied by arrested cells; NaN for sites without a bed), and ``pct_dose_live_<t>h`` / ``pct_dose_dead_<t>h``
    (percent of the cells administered by then) at each of ``times_h`` within the run
    (values at the nearest output time at or before ``t``). ``attrs["warnings"]``: the
    :func:`embolic_warnings` of the result, each also issued as a :class:`MscpkWarning`.

    Examples
    --------
    >>> import mscpk
    >>> res = mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml"))
    >>> bool(mscpk.summarize(res).set_index("site").loc["lung", "t_peak_h"] < 1)
    True
    """
    import pandas as pd

    t = result.times_h
    chosen = [x for x in times_h if t[0] <= x <= t[-1]]
    peaks = peak_occlusions(result)
    rows = []
    for site in result.sites:
        live = result.quantity(site, "live_cells")
        dead = result.quantity(site, "dead_cells")
        k = int(np.argmax(live))
        row = {"site": site, "peak_live_cells": float(live[k]), "t_peak_h": float(t[k]),
               "exposure_cell_days": exposure(t, live) / 24.0, "peak_occlusion": peaks.get(site, np.nan)}
        for x in chosen:
            i = int(np.searchsorted(t, x, side="right") - 1)
            given = result.administered[i]
            scale = 100.0 / given if given > 0 else np.nan
            row[f"pct_dose_live_{x:g}h"] = float(live[i] * scale)
            row[f"pct_dose_dead_{x:g}h"] = float(dead[i] * scale)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["warnings"] = embolic_warnings(peaks)
    for text in table.attrs["warnings"]:
        warnings.warn(MscpkWarning(text), stacklevel=2)
    return table
