"""Detection windows: when each assay can see the product at each site (noise-free).

>>> format_intervals(intervals(np.array([0., 1, 2, 3, 4]), np.array([5., 5, 0.5, 5, 5]), 1.0))
'0-1.7;2.3-4'
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.analysis.detection.context import make_context
from mscpk.analysis.detection.observation import dilutes, division_error, readout
from mscpk.errors import DetectionError, refuse_repeats
from mscpk.inputs.catalogue import method_info, supported_assays


def _crossing(t0: float, t1: float, y0: float, y1: float, level: float) -> float:
    """Time in [t0, t1] where the line (log-linear when both > 0) through y0, y1 hits level."""
    if y0 > 0 and y1 > 0 and level > 0 and y0 != y1:
        f = (math.log(level) - math.log(y0)) / (math.log(y1) - math.log(y0))
    elif y1 != y0:
        f = (level - y0) / (y1 - y0)
    else:
        f = 0.0
    return t0 + min(max(f, 0.0), 1.0) * (t1 - t0)


def intervals(times: np.ndarray, det: np.ndarray, lod: float,
              dose_times_h: Sequence[float] = ()) -> list[tuple[float, float]]:
    """Every interval ``(start_h, end_h)`` where ``det >= lod`` (and > 0), crossings interpolated.

    A signal that drops below the limit and rises again (e.g. a second dose) gives several
    intervals; a single detectable grid time gives a zero-length interval; empty when never
    detectable. The last interval ends at the last grid time when still detectable there.
    ``dose_times_h``: when a dose starts between two grid times the signal rises from it
    (the rising crossing is interpolated from (dose time, 0), not from the earlier grid time).

    >>> format_intervals(intervals(np.array([0., 1, 2, 3, 4]), np.array([5., 5, 0.5, 5, 5]), 1.0))
    '0-1.7;2.3-4'
    """
    times = np.asarray(times, dtype=float)
    det = np.asarray(det, dtype=float)
    ok = (det >= lod) & (det > 0)
    out: list[tuple[float, float]] = []
    n = len(ok)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(int), [0]))))  # run starts, ends + 1
    for i, j in zip(edges[::2], edges[1::2] - 1):
        if i == 0:
            start = float(times[0])
        else:
            t_prev, y_prev = float(times[i - 1]), float(det[i - 1])
            doses = [d for d in dose_times_h if t_prev < d <= times[i]]
            if doses:
                t_prev, y_prev = max(doses), 0.0
            start = _crossing(t_prev, times[i], y_prev, det[i], lod)
        end = float(times[j]) if j == n - 1 else _crossing(times[j], times[j + 1], det[j], det[j + 1], lod)
        out.append((float(start), float(end)))
    return out


def format_intervals(spans: Sequence[tuple[float, float]], digits: int = 3) -> str:
    """``"0-17.8;48-72"``: intervals in h, ``digits`` significant digits (whole hours at
    least), ``;``-separated."""
    def f(x: float) -> str:
        x = float(x)
        whole = len(str(int(abs(round(x))))) if math.isfinite(x) else digits
        return np.format_float_positional(x, precision=max(digits, whole), unique=False,
                                          fractional=False, trim="-")
    return ";".join(f"{f(a)}-{f(b)}" for a, b in spans)


def window(times: np.ndarray, det: np.ndarray, lod: float,
           dose_times_h: Sequence[float] = ()) -> tuple[float, float, bool]:
    """``(first_h, last_h, until_end)`` of ``det >= lod`` on the grid, crossings interpolated.

    NaN, NaN when never detectable; ``until_end`` when still detectable at the last time.
    Gaps are not shown here; see :func:`intervals`.
    """
    spans = intervals(times, det, lod, dose_times_h)
    if not spans:
        return math.nan, math.nan, False
    ok = (det >= lod) & (det > 0)
    return spans[0][0], spans[-1][1], bool(ok[-1])


def detection_windows(source, *, scenario=None, assays: Sequence[str] | None = None,
                      label: str | None = None, times_h: Sequence[float] | None = None,
                      detection_limits: Mapping[str, float] | None = None,
                      division_time_h: float = math.inf, label_options: Mapping[str, Any] | None = None,
                      params=None):
    """First and last time each assay can detect the product at each site (noise-free).

    ``assays``: default every assay the label (and product origin) allows, see
    :func:`~mscpk.inputs.catalogue.supported_assays`; naming one it cannot support is a
    :class:`DetectionError`. ``detection_limits``: assay -> limit [cells] (default Table 2).
    Crossing times are interpolated between grid times (log-linear); ``first_h``/``last_h``
    are NaN (empty in CSV) when never detectable; ``until_end`` is true when the signal is
    still detectable at the last time of the grid. ``intervals`` lists every detectable
    interval, e.g. ``"0-17.8;48-72"`` (h, 3 significant digits; empty when never detectable):
    a signal can drop below the limit and rise again (a second dose), so ``first_h`` to
    ``last_h`` may span gaps. The detection limit of bli and fluorescence includes the
    optical background (see :func:`~mscpk.analysis.detection.observation.observe`). The
    ``whole_body`` region of an image holds every site, so its window holds theirs.
    ``division_time_h`` applies to the assays it changes (flow, ihc of a direct label; listed in
    ``attrs["notes"]``) and is an error when it changes none; no assay at all (an unlabelled,
    non-xenogeneic product) is an error. Scenario detection parameters apply
    (:mod:`mscpk.inputs.detection`).

    Returns a DataFrame with columns ``assay, site, first_h, last_h`` first, then ``label``,
    ``unit``, ``detection_limit_cells``, ``peak_h``, ``peak_value``, ``until_end``,
    ``intervals``.

    Example
    -------
    >>> win = detection_windows("examples/iv_mouse.toml", label="luciferase", assays=["bli"],
    ...                         times_h=[1, 24, 168, 672])
    >>> lung = win.set_index("site").loc["lung"]
    >>> float(lung.first_h), round(float(lung.last_h), 1), bool(lung.until_end)
    (1.0, 17.5, False)
    """
    import pandas as pd

    ctx = make_context(source, scenario=scenario, label=label, times_h=times_h, params=params,
                       label_options=label_options)
    origin = ctx.scenario.product.origin
    assays = list(supported_assays(ctx.label.name, origin) if assays is None else assays)
    refuse_repeats("assays", assays, error=DetectionError)  # each assay's rows would come twice
    if not assays:
        raise DetectionError(f"no assay can see a product labelled {ctx.label.name!r} (origin {origin!r}): "
                             "give a label (--label, label=...; e.g. luciferase, 111In-oxine) or a xenogeneic product")
    limits = dict(detection_limits or {})
    for a in limits:
        method_info(a)
        if a not in assays:
            raise DetectionError(f"detection limit for {a!r}: {a} is not among the assays evaluated "
                                 f"({', '.join(assays)})")
    notes = []
    if math.isfinite(division_time_h):
        diluted = [a for a in assays if dilutes(a, ctx.label)]
        if not diluted:
            raise division_error(division_time_h, f"none of the assays evaluated ({', '.join(assays)}) with label "
                                                  f"{ctx.label.name!r}")
        notes.append(f"division time {division_time_h:g} h: applies to {', '.join(diluted)} (label per cell); "
                     f"the other assays see the total label, which division does not change")
    dose_times = sorted({float(d.time_h) for d in ctx.scenario.dose})
    rows = []
    for a in assays:
        ro = readout(ctx, a, detection_limit=limits.get(a),
                     division_time_h=division_time_h if dilutes(a, ctx.label) else math.inf)
        margin = ro.margin()
        for j, site in enumerate(ro.sites):
            first, last, until_end = window(ro.times_h, margin[:, j], 1.0, dose_times)
            spans = format_intervals(intervals(ro.times_h, margin[:, j], 1.0, dose_times))
            k = int(np.argmax(ro.expected[:, j])) if len(ro.times_h) else 0
            rows.append({"assay": a, "site": site, "first_h": first, "last_h": last, "label": ro.label,
                         "unit": ro.unit, "detection_limit_cells": float(ro.limit_cells[0, j]),
                         "peak_h": float(ro.times_h[k]) if len(ro.times_h) else math.nan,
                         "peak_value": float(ro.expected[k, j]) if len(ro.times_h) else math.nan,
                         "until_end": bool(until_end), "intervals": spans})
    cols = ["assay", "site", "first_h", "last_h", "label", "unit", "detection_limit_cells",
            "peak_h", "peak_value", "until_end", "intervals"]
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["notes"] = notes
    return df


__all__ = ["detection_windows", "window", "intervals", "format_intervals"]
