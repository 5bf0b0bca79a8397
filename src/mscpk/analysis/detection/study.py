"""Study design for cell biodistribution, and virtual study datasets.

:func:`design_study` proposes, for each guidance item of the NMPA cell-therapy guidance
(dynamic distribution, migration, homing, persistence, death), the assays that can show it,
sampling times and animals per time point; :func:`simulate_study` draws a virtual dataset in
the Study data format. Rules and formulas: docs/detection.md ("Study design").

>>> animals_per_time(0.35, 0.3)
6
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Sequence

import numpy as np

from mscpk.analysis.detection.context import EX_VIVO, make_context
from mscpk.analysis.detection.labels import as_scenario
from mscpk.analysis.detection.noise import counted, lognormal_factor, rng_from_seed
from mscpk.analysis.detection.observation import dilutes, division_error, readout
from mscpk.analysis.detection.windows import window
from mscpk.engine.result import Result
from mscpk.errors import DetectionError
from mscpk.inputs.catalogue import (ASSAY_UNITS, ASSAYS, check_number, detection_constants, label_info, method_info,
                                    supported_assays)
from mscpk.inputs.scenario import check_times

GUIDANCE_ITEMS: tuple[str, ...] = ("dynamic distribution", "migration", "homing", "persistence", "death")
#: Standard sampling grid [h after the first dose] (``constants.toml``).
SAMPLING_GRID_H: tuple[float, ...] = detection_constants()["sampling_grid_h"]
#: Detected cells in the analysed sample at the lower limit of quantification of a virtual
#: ex vivo study (qpcr, flow, ihc; ``constants.toml``, MIQE): a site's LLOQ is
#: max(detection limit, this / sampled fraction).
LLOQ_MIN_SAMPLE_CELLS: float = detection_constants()["lloq_min_sample_cells"]
_STUDY_UNITS = {"cells": "cells", "percent_injected_activity": "%ID", "photons_per_s": "photons/s"}


def animals_per_time(cv: float, precision: float, confidence: float = 0.95, minimum: int | None = None) -> int:
    """Animals per time point so that the CI half-width of the mean is ``precision`` x mean.

    ``n = max(minimum, ceil((z * cv / precision)^2))``, z the two-sided normal quantile of
    ``confidence``; ``minimum`` default: ``min_animals_per_time`` of ``constants.toml`` (3).

    >>> animals_per_time(0.35, 0.3)
    6
    >>> animals_per_time(0.10, 0.3)
    3
    """
    precision = check_number("precision (relative CI half-width, e.g. 0.3)", precision, "pos")
    cv = check_number("cv", cv, "nonneg")
    if not check_number("confidence", confidence, "frac") < 1:
        raise DetectionError(f"confidence: {confidence!r} must be between 0 and 1")
    minimum = check_number("minimum", detection_constants()["min_animals_per_time"] if minimum is None else minimum,
                           "count")
    r = NormalDist().inv_cdf(0.5 + confidence / 2.0) * cv / precision
    n = r * r  # inf (no OverflowError) for an absurd precision
    if not math.isfinite(n):
        raise DetectionError(f"precision: {precision!r} with CV {cv:g} needs more animals than can be counted")
    return max(int(minimum), int(math.ceil(n - 1e-9)))


def _live_specific(assay: str, label: str) -> bool:
    """True when ``assay`` with ``label`` sees live cells only."""
    info = label_info(label)
    if assay in ("flow", "bli"):
        return True
    if assay == "ihc":
        return not (assay in info.assays and info.kind in ("particle", "dye"))
    return assay in ("fluorescence", "pet") and not info.direct


#: What each part of a signal is (:attr:`~mscpk.analysis.detection.observation.Readout.parts`).
_PART_TEXT = {"live": "live cells", "dead": "dead-cell material", "host": "label held by macrophages",
              "unbound": "free label in blood"}


def _signal(ro, j: int, i: int) -> str:
    """What the signal of site ``j`` at time ``i`` is: ``"24 h: 3 % live cells, 97 % ..."``."""
    total = float(ro.detected_cells[i, j])
    text = dict(_PART_TEXT, dead="DNA of dead cells") if ro.assay == "qpcr" else _PART_TEXT
    shares = [(100.0 * float(x[i, j]) / total, p) for p, x in ro.parts.items()] if total > 0 else []
    return f"{ro.times_h[i]:g} h: " + ", ".join(f"{v:.0f} % {text[p]}" for v, p in shares
                                                   if v >= 0.5 or p == "live")


def _sampling_times(first: float, last: float, end: float, until_end: bool, t0: float) -> list[float]:
    """Standard grid times (relative to the first dose) within the window, plus one after;
    geometric midpoints added up to ``min_sampling_times`` (``constants.toml``)."""
    c = detection_constants()
    res, early = c["time_resolution_h"], c["first_added_time_h"]
    digits = int(round(-math.log10(res)))  # proposed times are rounded to ``res``
    grid = [g for g in SAMPLING_GRID_H if g <= end - t0 + 1e-9]
    lo, hi = first - t0, last - t0
    inside = [g for g in grid if lo - 1e-9 <= g <= hi + 1e-9]
    after = [g for g in grid if g > hi + 1e-9]
    times = inside + ([after[0]] if after and not until_end else [])
    if not inside:
        mid = math.sqrt(max(lo, res) * max(hi, res))
        times = sorted({round(lo, digits), round(mid, digits), round(hi, digits)} | set(times))
    while len(times) < c["min_sampling_times"]:
        # add geometric midpoints of the widest gap (or points before the first)
        ext = sorted(set(times) | {max(lo, early)})
        if len(ext) < 2:
            ext = [max(lo, early), max(hi, 2 * early)]
        gaps = [(ext[k + 1] / max(ext[k], res), k) for k in range(len(ext) - 1)]
        _, k = max(gaps)
        new = round(math.sqrt(max(ext[k], res) * ext[k + 1]), digits)
        if new in ext:
            break
        times = sorted(set(ext) | {new})
    return sorted(set(float(x) for x in times))


def design_study(source, *, scenario=None, label: str | None = None, precision: float = 0.3,
                 confidence: float = 0.95, between_animal_cv: float = 0.0,
                 items: Sequence[str] = GUIDANCE_ITEMS, assays: Sequence[str] | None = None,
                 consider_other_labels: bool = True, times_h: Sequence[float] | None = None,
                 division_time_h: float = math.inf, params=None):
    """Propose methods, sampling times and group sizes for the guidance items.

    Parameters
    ----------
    source : scenario (object or TOML path) or Result (+ ``scenario=``).
    label : the product's label unless given.
    precision : relative half-width of the confidence interval of a time point's mean [-].
    confidence : confidence level of that interval [-].
    between_animal_cv : biological CV between animals [-], added to the method CV.
    items : guidance items (default all five of :data:`GUIDANCE_ITEMS`).
    assays : assays to consider (default all eight).
    consider_other_labels : evaluate assays the product's label cannot support with a
        standard label (``relabel`` = true); false: mark them as not possible.

    Returns
    -------
    pandas.DataFrame, one row per item x assay (and qpcr+X pairs for *death*): ``item, assay,
    label, relabel, can_show, caveat, sites, sampling_times_h`` (``;``-separated, hours after
    the first dose), ``animals_per_time, animals_total, sampling, cv, first_h, last_h``.

    Example
    -------
    >>> plan = design_study("examples/iv_mouse.toml", label="luciferase", assays=["qpcr", "bli"],
    ...                     items=["persistence"])
    >>> plan[["assay", "can_show", "animals_per_time"]].to_dict("records")
    [{'assay': 'qpcr', 'can_show': True, 'animals_per_time': 6},
     {'assay': 'bli', 'can_show': True, 'animals_per_time': 4}]
    """
    import pandas as pd

    for it in items:
        if it not in GUIDANCE_ITEMS:
            raise DetectionError(f"item {it!r}; allowed: {', '.join(GUIDANCE_ITEMS)}")
    between_animal_cv = check_number("between_animal_cv", between_animal_cv, "nonneg")
    animals_per_time(0.1, precision, confidence)  # validates precision / confidence
    base = make_context(source, scenario=scenario, label=label, times_h=times_h, params=params)
    sc, res = base.scenario, base.result
    c = detection_constants()
    n_sites = int(c["max_sites_listed"])
    origin = sc.product.origin
    t0 = min(d.time_h for d in sc.dose)
    end = float(np.max(res.times_h))
    assays = list(ASSAYS if assays is None else assays)
    for a in assays:
        method_info(a)
    dose_times = [d.time_h for d in sc.dose]
    evaluated: dict[str, dict[str, Any]] = {}
    for a in assays:
        if a in supported_assays(base.label.name, origin):  # qpcr of a xenogeneic product included
            lab = base.label.name
        elif consider_other_labels:
            lab = method_info(a).standard_label
        else:
            evaluated[a] = {"possible": False, "label": base.label.name}
            continue
        ctx = base if lab == base.label.name else base.with_label(lab)
        ro = readout(ctx, a, division_time_h=division_time_h if dilutes(a, ctx.label) else math.inf)
        margin, live = ro.margin(), ro.margin("live")
        win = {}
        for j, s in enumerate(ro.sites):
            if s == "whole_body":
                continue
            first, last, until_end = window(ro.times_h, margin[:, j], 1.0, dose_times)
            if not math.isnan(first):
                k = int(np.argmax(ro.detected_cells[:, j]))
                i_last = int(np.flatnonzero(margin[:, j] >= 1.0)[-1])
                win[s] = {"first": first, "last": last, "until_end": until_end,
                          "peak_h": float(ro.times_h[k]), "peak": float(ro.detected_cells[k, j]),
                          "live_last": window(ro.times_h, live[:, j], 1.0, dose_times)[1],
                          "at_peak": _signal(ro, j, k), "at_end": _signal(ro, j, i_last)}
        m = base.method(a)  # with the scenario's detection parameters
        cv = math.hypot(m.cv, between_animal_cv)
        evaluated[a] = {"possible": True, "label": lab, "relabel": lab != base.label.name, "windows": win,
                        "cv": cv, "n": animals_per_time(cv, precision, confidence),
                        "sampling": "destructive" if a in EX_VIVO else "serial",
                        "live_specific": _live_specific(a, lab), "direct": label_info(lab).direct}
    diluted = [a for a, ev in evaluated.items() if ev["possible"] and dilutes(a, label_info(ev["label"]))]
    if math.isfinite(division_time_h) and not diluted:
        raise division_error(division_time_h, f"none of the assays evaluated ({', '.join(evaluated)})")
    # ground truth from the engine: tissue sites live cells reach
    sites = [s for s in res.sites if s not in ("eliminated", "blood")]
    adm = float(np.max(res.administered)) or 1.0
    true_live_sites = {s for s in sites if np.max(res.quantity(s, "live_cells")) >= c["live_site_min_fraction"] * adm}
    injured = [i.site for i in sc.subject.injury if i.site in sites]

    rows: list[dict[str, Any]] = []

    def row(item: str, a: str, ev: dict, can: bool, caveat: str, use_sites: Sequence[str]) -> dict:
        r = {"item": item, "assay": a, "label": ev.get("label"), "relabel": bool(ev.get("relabel", False)),
             "can_show": bool(can), "caveat": caveat, "sites": ";".join(use_sites),
             "sampling_times_h": "", "animals_per_time": np.nan, "animals_total": np.nan,
             "sampling": ev.get("sampling", ""), "cv": ev.get("cv", np.nan),
             "first_h": np.nan, "last_h": np.nan}
        if can and use_sites:
            w = [ev["windows"][s] for s in use_sites if s in ev["windows"]]
            first = min(x["first"] for x in w)
            last = max(x["last"] for x in w)
            until_end = any(x["until_end"] for x in w)
            ts = _sampling_times(first, last, end, until_end, t0)
            n = ev["n"]
            r.update({"sampling_times_h": ";".join(f"{t:g}" for t in ts), "animals_per_time": n,
                      "animals_total": n * len(ts) if ev["sampling"] == "destructive" else n,
                      "first_h": first - t0, "last_h": last - t0})
        return r

    def not_live_caveat(a: str, ev: dict) -> str:
        if a == "qpcr":
            return "counts dead cells until their DNA is degraded"
        if ev.get("direct"):
            return "direct label: shows label, which stays in debris and macrophages after the cells die"
        return ""

    def assess(item: str, a: str, ev: dict) -> tuple[bool, str, list[str]]:
        """``(can_show, caveat, sites)`` of assay ``a`` for a guidance item."""
        if not ev["possible"]:
            return False, f"not possible with label {ev['label']!r}", []
        win = ev["windows"]
        tissue = [s for s in win if s != "blood"]
        caveat = not_live_caveat(a, ev)
        if item == "dynamic distribution":
            use = sorted(tissue, key=lambda s: -win[s]["peak"])[:n_sites]
            return len(use) >= 2, caveat if len(use) >= 2 else "detectable in fewer than two tissue sites", use
        if item == "migration":
            if len(tissue) < 2:
                return False, "detectable in fewer than two tissue sites", []
            src = min(tissue, key=lambda s: (win[s]["peak_h"], -win[s]["peak"]))
            later = [s for s in tissue if win[s]["peak_h"] > win[src]["peak_h"]]
            if not later:
                return False, "no site peaks later than the first one", []
            dst = max(later, key=lambda s: win[s]["peak"])
            cav = [caveat] if caveat else []
            if dst not in true_live_sites:
                cav.append(f"live cells never reach {dst} in the model (>= 1 % of dose): the signal moved, "
                           "not the cells")
            return True, "; ".join(cav), [src, dst]
        if item == "homing":
            if not injured:
                return False, "the scenario has no injured site; add [[subject.injury]]", []
            use = [s for s in injured if s in win]
            if not use:
                return False, f"not detectable at the injured site(s) {', '.join(injured)}", []
            if ev["live_specific"]:
                return True, caveat, use
            live = [s for s in use if not math.isnan(win[s]["live_last"])]
            what = "; ".join(f"{s} signal at its peak ({win[s]['at_peak']}), when last detectable "
                             f"({win[s]['at_end']})" for s in use)
            if not live:
                return False, (f"the signal is not live cells ({what}): live cells at {', '.join(use)} stay below "
                               "the detection limit"), []
            return True, f"{what}; live cells detectable until " + ", ".join(
                f"{win[s]['live_last']:.3g} h in {s}" for s in live), live
        if item == "persistence":
            if not tissue:
                return False, "not detectable in any tissue", []
            if ev["live_specific"]:
                return True, "", [max(tissue, key=lambda s: (win[s]["last"], win[s]["peak"]))]
            live = [s for s in tissue if not math.isnan(win[s]["live_last"])]
            if not live:
                s_last = max(tissue, key=lambda s: (win[s]["last"], win[s]["peak"]))
                return False, (f"the signal is not live cells: live cells stay below the detection limit at every "
                               f"site ({s_last} signal when last detectable, {win[s_last]['at_end']})"), []
            s_last = max(live, key=lambda s: (win[s]["live_last"], win[s]["peak"]))
            w = win[s_last]
            return True, (f"overestimates persistence: live cells in {s_last} are detectable until "
                          f"{w['live_last']:.3g} h, the signal until {w['last']:.3g} h (at {w['at_end']})"), [s_last]
        if ev["live_specific"]:  # death
            return (bool(tissue), "combine with qPCR (live + dead cells) to see death" if tissue
                    else "not detectable in any tissue", tissue[:n_sites])
        if a == "qpcr":
            return bool(tissue), "combine with a live-specific method (flow, BLI, reporter) to see death", tissue[:n_sites]
        return False, "cannot tell live from dead cells", []

    for item in items:
        for a in assays:
            rows.append(row(item, a, evaluated[a], *assess(item, a, evaluated[a])))
        if item == "death" and "qpcr" in evaluated and evaluated["qpcr"]["possible"]:
            q = evaluated["qpcr"]
            for a in assays:
                ev = evaluated[a]
                if a == "qpcr" or not ev["possible"] or not ev["live_specific"]:
                    continue
                both = [s for s in q["windows"] if s in ev["windows"] and s != "blood"]
                labels = sorted({q["label"], ev["label"]} - {"none"})
                pair = dict(ev, label="+".join(labels) or "none", relabel=q.get("relabel", False) or ev.get("relabel", False),
                            windows={s: {**ev["windows"][s]} for s in both}, cv=max(q["cv"], ev["cv"]),
                            n=max(q["n"], ev["n"]), sampling="destructive" if "destructive" in
                            (q["sampling"], ev["sampling"]) else "serial")
                cav = "needs both labels on the product" if len(labels) > 1 else ""
                rows.append(row(item, f"qpcr+{a}", pair, bool(both),
                                ("qPCR minus live signal = dead cells not yet degraded" + (f"; {cav}" if cav else ""))
                                if both else "no tissue site detectable by both", both[:n_sites]))
    cols = ["item", "assay", "label", "relabel", "can_show", "caveat", "sites", "sampling_times_h",
            "animals_per_time", "animals_total", "sampling", "cv", "first_h", "last_h"]
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["precision"] = precision
    df.attrs["confidence"] = confidence
    return df


def simulate_study(source, *, assay: str = "qpcr", scenario=None, label: str | None = None,
                   times_h: Sequence[float] | None = None, animals_per_time: int = 3,
                   sites: Sequence[str] | None = None, seed=0, between_animal_cv: float = 0.0,
                   group: str | None = None, decay_correct: bool = True,
                   detection_limit: float | None = None, serial: bool = False,
                   division_time_h: float = math.inf, params=None):
    """A virtual biodistribution dataset in the Study data format (INTERFACE "Study data").

    Destructive sampling (default): every animal is sampled at one time point and contributes
    one row per site; ``serial=True`` follows the same animals at every time (in vivo imaging).
    Each value is the noise-free readout of :func:`~mscpk.analysis.detection.observe` times counting
    noise, the method's log-normal CV and a per-animal log-normal factor
    (``between_animal_cv``), all with mean 1, so the mean over many animals reproduces the
    model curve (the median is lower by about ``exp(-s^2/2)``, s^2 the total log variance:
    fit such data with ``mscpk.fit(..., centre="mean")``). Values below the lower limit of
    quantification are flagged ``CENS = 1`` with an empty ``DV`` and the limit in ``LLOQ``.
    The LLOQ is the detection limit of the readout, and for ex vivo assays (qpcr, flow, ihc)
    at least :data:`LLOQ_MIN_SAMPLE_CELLS` detected cells in the analysed sample (3 /
    sampled fraction): the counting noise of fewer cells is far from log-normal (one human
    cell in a 3 ug DNA aliquot of the liver or muscle counts as 300-2000 cells).

    Parameters
    ----------
    times_h : sampling times [h after the first dose] (default: the standard grid up to the end
        of the run: 0.25, 1, 4, 8, 24, 48, 72, 168, 336, 504, 672 h).
    animals_per_time : animals per time point (>= 1).
    sites : sites to sample (default: every tissue site, depot and blood); imaging assays
        also offer ``whole_body`` (the sum of the animal's sites, as ``observe`` reports it).
    seed : int or ``numpy.random.Generator`` (required: the dataset is random).

    Returns
    -------
    pandas.DataFrame with columns ``ID, TIME, DV, SITE, GROUP, DOSE, DVU, LLOQ, CENS, ASSAY,
    ROUTE`` (DVU ``cells`` for qpcr, flow, ihc, mri; ``%ID`` for spect, pet; ``photons/s``
    for bli and fluorescence, background-subtracted, with the background-aware limit in
    ``LLOQ``; in vivo imaging is usually serial: pass ``serial=True``).

    Example
    -------
    >>> data = simulate_study("examples/iv_mouse.toml", assay="qpcr", label="luciferase", times_h=[1, 24],
    ...                       sites=["lung"], seed=1)
    >>> data[["ID", "TIME", "SITE", "CENS"]].values.tolist()
    [['A1', 1.0, 'lung', 0], ['A2', 1.0, 'lung', 0], ['A3', 1.0, 'lung', 0],
     ['A4', 24.0, 'lung', 0], ['A5', 24.0, 'lung', 0], ['A6', 24.0, 'lung', 0]]
    """
    import pandas as pd

    method_info(assay)
    unit = _STUDY_UNITS.get(ASSAY_UNITS[assay])
    if unit is None:
        raise DetectionError(f"assay {assay!r} reports {ASSAY_UNITS[assay]}, which the Study data format has no "
                             f"unit for (allowed: cells, %ID, ...); use qpcr, flow, ihc, mri, spect or pet")
    if not isinstance(animals_per_time, (int, np.integer)) or isinstance(animals_per_time, bool):
        raise DetectionError(f"animals_per_time: {animals_per_time!r} must be a whole number >= 1")
    check_number("animals_per_time", animals_per_time, "count")
    between_animal_cv = check_number("between_animal_cv", between_animal_cv, "nonneg")
    rng = rng_from_seed(seed)
    if rng is None:
        raise DetectionError("seed: a virtual study is random; give an int seed or a numpy Generator")
    sc = as_scenario(scenario if isinstance(source, Result) else source)
    t0 = min(d.time_h for d in sc.dose)
    end = sc.run.end_h
    if times_h is None:
        rel = [g for g in SAMPLING_GRID_H if t0 + g <= end + 1e-9]
    else:
        rel = check_times(times_h, "times_h").tolist()  # [h after the first dose]
    abs_times = [t0 + x for x in rel]
    if isinstance(source, Result):
        ctx = make_context(source, scenario=sc, label=label, params=params)
    else:
        ctx = make_context(sc, label=label, times_h=abs_times, params=params)
    tidx = [int(np.argmin(np.abs(ctx.times - x))) for x in abs_times]
    if isinstance(source, Result) and any(abs(ctx.times[i] - x) > 1e-9 for i, x in zip(tidx, abs_times)):
        raise DetectionError("the given Result lacks some sampling times; pass the scenario instead")
    ro = readout(ctx, assay, decay_correct=decay_correct, detection_limit=detection_limit,
                 division_time_h=division_time_h)
    use = [s for s in ro.sites if s != "whole_body"] if sites is None else list(sites)
    for s in use:
        if s not in ro.sites:
            raise DetectionError(f"site {s!r} is not observed in this scenario; sites: {', '.join(ro.sites)}")
    # lower limit of quantification: the readout's limit, and for ex vivo assays a few
    # detected cells in the analysed sample
    lloq_all = ro.limit.copy()
    if assay in EX_VIVO and ro.counts is not None:
        per_cell = np.divide(1.0, ro.sampled_fraction, out=np.full(len(ro.sites), np.inf),
                             where=ro.sampled_fraction > 0)
        lloq_all = np.maximum(lloq_all, LLOQ_MIN_SAMPLE_CELLS * per_cell[None, :])
    dose_total = float(sum(((d.cells if d.cells is not None else d.cells_per_kg * ctx.species.body_weight_kg)
                            for d in sc.dose)))
    # sites drawn: the whole body is the sum of every site of the same animal
    draw = ([j for j, s in enumerate(ro.sites) if s != "whole_body"] if "whole_body" in use
            else [ro.sites.index(s) for s in use])
    bgc = ro.background_counts
    n = int(animals_per_time)
    rows = []
    width = len(str(n * len(rel) if not serial else n))
    serial_factor = lognormal_factor(rng, between_animal_cv, n) if serial else None
    for k, (rt, i) in enumerate(zip(rel, tidx)):
        animal = serial_factor if serial else lognormal_factor(rng, between_animal_cv, n)
        v = np.broadcast_to(ro.expected[i, draw], (n, len(draw)))
        if ro.counts is not None:
            v = counted(rng, v, ro.counts[i, draw], None if bgc is None else bgc[None, draw])
        v = v * lognormal_factor(rng, ro.cv, v.shape) * animal[:, None]
        vals = dict(zip((ro.sites[j] for j in draw), v.T))
        vals["whole_body"] = v.sum(axis=1)
        for a in range(n):
            aid = f"A{(a if serial else k * n + a) + 1:0{width}d}"
            for s in use:
                x, lloq = float(vals[s][a]), float(lloq_all[i, ro.sites.index(s)])
                cens = int(not (x >= lloq and x > 0))
                rows.append({"ID": aid, "TIME": rt, "DV": np.nan if cens else x, "SITE": s, "GROUP": group or sc.name,
                             "DOSE": dose_total, "DVU": unit, "LLOQ": lloq, "CENS": cens,
                             "ASSAY": assay, "ROUTE": sc.dose[0].route})
    df = pd.DataFrame(rows, columns=["ID", "TIME", "DV", "SITE", "GROUP", "DOSE", "DVU", "LLOQ", "CENS",
                                     "ASSAY", "ROUTE"])
    df.attrs["label"] = ro.label
    return df


__all__ = ["GUIDANCE_ITEMS", "SAMPLING_GRID_H", "LLOQ_MIN_SAMPLE_CELLS", "animals_per_time",
           "design_study", "simulate_study"]
