"""The model's sections of a report: product and design, predicted biodistribution, one section
per guidance item (distribution, migration, homing, persistence, death), the detection plan and
embolic safety (docs/report.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mscpk.analysis.detection import GUIDANCE_ITEMS, detection_windows, supported_assays
from mscpk.analysis.report.content import Figure, Section, Table, fmt
from mscpk.analysis.report.settings import HOMING_TIMES_H, NAMED_SITE_PERCENT, NAMED_SITES, PERSISTENCE_FRACTIONS
from mscpk.analysis.summary import (DEFAULT_TIMES_H, EMBOLIC_DEFAULT_SOURCE, EMBOLIC_SOURCES, embolic_cite,
                                    embolic_level, embolic_limits, embolic_warnings, peak_occlusions)
from mscpk.engine.result import Result
from mscpk.engine.simulate import simulate
from mscpk.inputs.resolve import Inputs
from mscpk.inputs.routes import route
from mscpk.inputs.scenario import Scenario

#: What each guidance item asks (NMPA 2017 guidance, review section 2.1; SCIENCE.md 1).
ITEM_QUESTIONS = {
    "dynamic distribution": "Where are the cells, and how much of the dose, at each time?",
    "migration": "Do the cells move from where they were given to other tissues, and when?",
    "homing": "Do the cells reach and stay in the injured tissue (chemokine-driven arrest and "
              "transmigration)?",
    "persistence": "How long do live cells remain in the body and at the target?",
    "death": "When and where do the cells die, and where does the dead-cell material go?",
}
#: Section key of each guidance item.
ITEM_KEYS = {"dynamic distribution": "distribution", "migration": "migration", "homing": "homing",
             "persistence": "persistence", "death": "death"}


@dataclass(frozen=True)
class Model:
    """What the model sections are computed from: the scenario, its resolved inputs, the result,
    its summary table (:func:`~mscpk.analysis.summary.summarize`) and the study plan
    (:func:`~mscpk.analysis.detection.design_study`)."""

    scenario: Scenario
    inputs: Inputs
    result: Result
    summary: Any
    plan: Any

    @property
    def dose(self) -> float:
        """Cells administered by the end of the run [cells]."""
        return float(self.result.administered.max())

    def sites(self) -> list[str]:
        return [s for s in self.result.sites if s != "eliminated"]

    def percent_live(self, site: str, index: int) -> float:
        """Live cells at ``site`` at output ``index`` [% of the cells administered by then]."""
        given = float(self.result.administered[index])
        return 100.0 * float(self.result.quantity(site, "live_cells")[index]) / given if given > 0 else math.nan

    def index_at(self, t: float) -> int:
        """Output index at or before ``t`` [h]."""
        return int(np.searchsorted(self.result.times_h, t, side="right") - 1)

    def standard_times(self) -> list[float]:
        """The summary's standard times [h] within the run (its ``pct_dose_*_<t>h`` columns)."""
        t = self.result.times_h
        return [float(x) for x in DEFAULT_TIMES_H if t[0] <= x <= t[-1]]


def _hours(t: float) -> str:
    """``36 h (1.5 d)``."""
    if not math.isfinite(t):
        return "-"
    return f"{t:.3g} h" + (f" ({t / 24:.3g} d)" if t >= 48 else "")


def design_section(m: Model) -> Section:
    sc, sp = m.scenario, m.inputs.species
    p = sc.product
    injuries = "; ".join(f"{i.site} (severity {i.severity:g}" + "".join(
        f", {k} x{v:g}" for k, v in i.chemokines.items()) + ")" for i in sc.subject.injury) or "none"
    subject = (f"{sc.subject.species}, {sp.body_weight_kg:g} kg, {sc.subject.immune}; injury: {injuries}")
    product = (f"{p.name}: {p.origin} {p.source.replace('_', ' ')} MSC, diameter {p.diameter_um.mean:g} "
               f"+/- {p.diameter_um.sd:g} um, viability {p.viability:g}, passage {p.passage}, label {p.label}"
               + (f", preconditioning {', '.join(p.preconditioning)}" if p.preconditioning else "")
               + (f", receptors {', '.join(f'{k} x{v:g}' for k, v in p.receptors.items())}" if p.receptors else ""))
    rows = []
    for d in sc.dose:
        rows.append((d.route, dose_site(d), fmt(d.cells), fmt(d.cells_per_kg), fmt(d.time_h), fmt(d.infusion_min),
                     fmt(d.vasodilator), fmt(d.every_h), fmt(d.count)))
    doses = Table("Doses", ("route", "site", "cells", "cells/kg", "time [h]", "infusion [min]", "vasodilator",
                            "every [h]", "count"), tuple(rows))
    run = (f"Simulated to {_hours(float(m.result.times_h[-1]))} ({len(m.result.times_h)} output times, solver "
           f"{m.result.solver}, saturation {sc.run.saturation}); {fmt(m.dose)} cells administered in all.")
    return Section("design", "Product and study design", (f"Scenario: {sc.name}.", run),
                   bullets=(f"Subject: {subject}.", f"Product: {product}."), tables=(doses,))


def biodistribution_section(m: Model) -> Section:
    s = m.summary
    times = m.standard_times()
    live = Table.from_frame(s, "Live cells by site at standard times [% of the cells administered by then]",
                            ["site"] + [f"pct_dose_live_{t:g}h" for t in times],
                            ["site"] + [f"{t:g} h" for t in times])
    dead = Table.from_frame(s, "Dead-cell material by site at standard times [% of the cells administered by then]",
                            ["site"] + [f"pct_dose_dead_{t:g}h" for t in times],
                            ["site"] + [f"{t:g} h" for t in times])
    expo = Table.from_frame(s, "Peak, time of peak and exposure of live cells by site",
                            ["site", "peak_live_cells", "t_peak_h", "exposure_cell_days"],
                            ["site", "peak live [cells]", "time of peak [h]", "exposure [cell-days]"],
                            note="exposure: area under the live-cell curve over the run (linear-up / log-down "
                                 "trapezoids) / 24")
    total = float(s.loc[s.site != "eliminated", "exposure_cell_days"].sum())
    fig = Figure("result", "Live (solid) and dead (dashed) cells per site over time; heat map of live cells "
                           "[% of dose]; body maps of live cells at 1 h, 24 h, 168 h and the end.", m.result)
    return Section("biodistribution", "Predicted biodistribution",
                   (f"Whole-body exposure to live cells over the run: {fmt(total)} cell-days "
                    f"({fmt(total / m.dose if m.dose > 0 else math.nan)} cell-days per cell given).",),
                   figures=(fig,), tables=(live, dead, expo))


def _plan_table(m: Model, item: str) -> Table:
    plan = m.plan[m.plan["item"] == item]
    plan = plan.assign(**{c: plan[c].fillna("").astype(str).str.replace(";", ", ")
                          for c in ("sites", "sampling_times_h")})
    return Table.from_frame(
        plan, f"Assays that would show {item} (design_study: precision 0.3 at 95 % confidence, per time point)",
        ["assay", "label", "relabel", "can_show", "sites", "sampling_times_h", "animals_per_time",
         "animals_total", "sampling", "first_h", "last_h", "caveat"],
        ["assay", "label", "other label needed", "can show it", "sites", "sampling times [h]", "animals per time",
         "animals in all", "sampling", "first detectable [h]", "last detectable [h]", "caveat"],
        note="sites: where the assay detects the product (at most the plan's listed sites); 'other label needed': the "
             "assay needs a label the product does not carry (the plan uses the method's standard label)")


def _assay_sentence(m: Model, item: str) -> str:
    plan = m.plan[(m.plan["item"] == item) & m.plan["can_show"].astype(bool)]
    if not len(plan):
        return "No assay of the catalogue can show this for this design (see the caveats below)."
    best = plan.sort_values(["relabel", "animals_total"]).iloc[0]
    times = str(best["sampling_times_h"]).replace(";", ", ")
    return (f"{len(plan)} assay(s) can show it; the one needing fewest animals"
            + (" with the product's own label" if not bool(best["relabel"]) else "")
            + f" is {best['assay']} ({best['label']}, {best['sampling']} sampling, {fmt(best['animals_per_time'])} "
              f"animals per time, sampling at {times} h, sites {str(best['sites']).replace(';', ', ')}).")


def _distribution(m: Model) -> list[str]:
    out = []
    for t in m.standard_times():
        i = m.index_at(t)
        vals = sorted(((m.percent_live(s, i), s) for s in m.sites()), reverse=True)
        named = [f"{s} {v:.3g} %" for v, s in vals[:NAMED_SITES] if v >= NAMED_SITE_PERCENT]
        total = 100.0 * float(m.result.live_total()[i]) / max(float(m.result.administered[i]), 1.0)
        out.append(f"At {t:g} h: {total:.3g} % of the dose alive" + (f", most in {', '.join(named)}" if named else "")
                   + ".")
    return out


def dose_site(dose: Any) -> str:
    """Where a dose puts the cells: its depot or organ, or the blood it enters."""
    r = route(dose.route)
    return (r.depot_site(dose.site) or r.target_site(dose.site)
            or ("venous blood" if r.enters == "venous_blood" else "arterial blood"))


def _dose_sites(m: Model) -> list[str]:
    return list(dict.fromkeys(dose_site(d) for d in m.scenario.dose))


def _migration(m: Model) -> list[str]:
    s = m.summary.set_index("site")
    named = [x for x in m.sites() if s.loc[x, "peak_live_cells"] >= NAMED_SITE_PERCENT / 100 * m.dose]
    order = sorted(named, key=lambda x: s.loc[x, "t_peak_h"])
    first = _dose_sites(m)
    lines = [f"The cells are given into {', '.join(first)}"
             + (" (first organ reached: lung)." if "venous blood" in first else ".")]
    later = [x for x in order if x not in first and x != "blood"]
    if later:
        lines.append("Live cells then peak in " + ", ".join(
            f"{x} at {_hours(float(s.loc[x, 't_peak_h']))} ({100 * s.loc[x, 'peak_live_cells'] / m.dose:.3g} % of the "
            "dose)" for x in later) + ".")
    else:
        lines.append(f"No other site holds {NAMED_SITE_PERCENT:g} % of the dose as live cells at any time: "
                     "the model predicts little migration.")
    return lines


def _engrafted(res: Result, site: str, k: int) -> str:
    """`` (N engrafted)`` for a site with engrafted cells (a depot such as a joint has none)."""
    try:
        return f" ({fmt(float(res.quantity(site, 'engrafted_cells')[k]))} engrafted)"
    except KeyError:
        return ""


def _homing(m: Model) -> list[str]:
    injured = [i.site for i in m.scenario.subject.injury]
    if not injured:
        return ["The scenario has no injury: the model's homing is the baseline arrest and extravasation of "
                "healthy tissue only (give [[subject.injury]] to see homing)."]
    sub = m.scenario.subject.model_copy(update={"injury": ()})
    times = [t for t in HOMING_TIMES_H if t <= m.result.times_h[-1]]
    ref = simulate(m.scenario.model_copy(update={"subject": sub}), times_h=times)
    res = simulate(m.scenario, times_h=times)
    lines = []
    for site in dict.fromkeys(injured):
        parts = []
        for k, t in enumerate(times):
            a, b = float(res.quantity(site, "live_cells")[k]), float(ref.quantity(site, "live_cells")[k])
            ratio = f"{a / b:.3g}x" if b > 0 else "from none"
            parts.append(f"at {t:g} h {fmt(a)} live cells{_engrafted(res, site, k)} against {fmt(b)} without the "
                         f"injury ({ratio})")
        lines.append(f"Injured {site}: " + "; ".join(parts) + ".")
    return lines


def _crossing_time(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """Last time ``y`` falls below ``level`` for good (interpolated; NaN if never above; inf if above at the end)."""
    above = np.flatnonzero(y >= level)
    if not above.size:
        return math.nan
    j = int(above[-1])
    if j == len(t) - 1:
        return math.inf
    y0, y1 = float(y[j]), float(y[j + 1])
    f = (math.log(level) - math.log(y0)) / (math.log(y1) - math.log(y0)) if y1 > 0 else (level - y0) / (y1 - y0)
    return float(t[j] + f * (t[j + 1] - t[j]))


def _persistence(m: Model) -> list[str]:
    t, live = m.result.times_h, m.result.live_total()
    lines = []
    for f in PERSISTENCE_FRACTIONS:
        c = _crossing_time(t, live, f * m.dose)
        what = ("never reached" if math.isnan(c) else f"still above at the end of the run ({_hours(float(t[-1]))})"
                if math.isinf(c) else f"until {_hours(c)}")
        lines.append(f"Live cells in the body above {100 * f:g} % of the dose: {what}.")
    end = len(t) - 1
    lines.append(f"At the end ({_hours(float(t[-1]))}) {100 * float(live[end]) / m.dose:.3g} % of the dose is alive"
                 + "".join(f"; {i.site} {m.percent_live(i.site, end):.3g} %" for i in m.scenario.subject.injury)
                 + ".")
    return lines


def _death(m: Model) -> list[str]:
    lines = []
    for t in m.standard_times():
        i = m.index_at(t)
        given = float(m.result.administered[i])
        if given <= 0:
            continue
        dead = 100.0 * (1 - float(m.result.live_total()[i]) / given)
        where = sorted(((float(m.result.quantity(s, "dead_cells")[i]), s) for s in m.sites()), reverse=True)
        named = [f"{s} {100 * v / given:.3g} %" for v, s in where[:NAMED_SITES]
                 if 100 * v / given >= NAMED_SITE_PERCENT]
        lines.append(f"By {t:g} h {dead:.3g} % of the cells given have died"
                     + (f"; dead-cell material still present mostly in {', '.join(named)}" if named else "") + ".")
    return lines


_PREDICT = {"dynamic distribution": _distribution, "migration": _migration, "homing": _homing,
            "persistence": _persistence, "death": _death}


def guidance_sections(m: Model) -> list[Section]:
    """One section per guidance item: the question, what the model predicts, the assays."""
    return [Section(ITEM_KEYS[item], f"Guidance item: {item}",
                    (f"The question: {ITEM_QUESTIONS[item]}",
                     "Which assay would show it, and when: " + _assay_sentence(m, item)),
                    bullets=tuple(_PREDICT[item](m)), bullets_title="What the model predicts",
                    tables=(_plan_table(m, item),))
            for item in GUIDANCE_ITEMS]


def detection_section(m: Model) -> Section:
    label = m.scenario.product.label
    assays = supported_assays(label, m.scenario.product.origin)
    if not assays:
        return Section("detection", "Detection windows",
                       (f"The product as given (label {label!r}, origin {m.scenario.product.origin}) is seen by no "
                        "assay: label it or choose a method from the plans of the guidance items, which use each "
                        "method's standard label.",))
    win = detection_windows(m.result, scenario=m.scenario)
    table = Table.from_frame(win, f"Detection windows with the product's label ({label}), noise-free",
                             ["assay", "site", "first_h", "last_h", "intervals", "peak_h", "peak_value", "unit",
                              "detection_limit_cells"],
                             ["assay", "site", "first [h]", "last [h]", "intervals [h]", "peak at [h]", "peak value",
                              "unit", "detection limit [cells]"])
    fig = Figure("detection_windows", f"When each assay detects the product (label {label}) at each site.", win)
    return Section("detection", "Detection windows",
                   (f"Assays that see the product with its own label ({label}): {', '.join(assays)}. Windows are "
                    "noise-free: first and last time the expected readout is at or above the detection limit.",),
                   figures=(fig,), tables=(table,))


def embolic_section(m: Model) -> Section:
    peaks = peak_occlusions(m.result)
    rows, sources = [], {}
    for site, occ in peaks.items():
        bed, limits = embolic_limits(site)
        rows.append((site, fmt(100 * occ), bed, fmt(100 * limits["warn"]), fmt(100 * limits.get("severe", math.nan)),
                     embolic_level(occ, limits), embolic_cite(bed)))
        sources[bed] = EMBOLIC_SOURCES[bed]
    table = Table("Peak occlusion of each capillary bed and its limits [% of the bed occluded]",
                  ("site", "peak occlusion [%]", "limits of bed", "warn above [%]", "severe at [%]", "status",
                   "source"),
                  tuple(rows), note=f"beds without their own limits: {EMBOLIC_DEFAULT_SOURCE}")
    bullets = tuple(f"{bed} {level}: {info[level]['source']}" for bed, info in sources.items()
                    for level in ("warn", "severe") if isinstance(info.get(level), dict))
    found = embolic_warnings(peaks)
    text = ("; ".join(found) + ".") if found else "No capillary bed reaches its warning limit."
    return Section("embolic", "Embolic safety", (text,), bullets=bullets,
                   bullets_title="Sources of the limits in force", tables=(table,))


__all__ = ["Model", "design_section", "biodistribution_section", "guidance_sections", "detection_section",
           "embolic_section", "ITEM_KEYS", "ITEM_QUESTIONS"]
