"""``qualify``: every study of the library through the default model and the study's own assay
(expected readout, no noise), compared with what the study reported.

>>> table = qualify(["toupet2013"]).table
>>> table[["study", "site", "unit"]].iloc[0].tolist()
['toupet2013', 'joint', 'percent_dose']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Sequence

import numpy as np

from mscpk.analysis.detection import observe
from mscpk.engine.result import Result
from mscpk.engine.simulate import simulate
from mscpk.errors import ScenarioError
from mscpk.inputs.catalogue import detection_constants, method_info
from mscpk.inputs.resolve import resolve
from mscpk.inputs.studies import MSC, Point, Study, load_study, study_ids

#: Columns of the qualification table (INTERFACE.md, "Qualification").
COLUMNS = ("study", "species", "route", "assay", "site", "time_h", "observed", "predicted", "unit", "fold_error",
           "used_for", "finding", "holds", "cell_type", "where")
#: Summary group of the studies of other cell types (not counted in calibration or validation).
OTHER = "other cell types"
#: Units compared by fold error; the others (shares of animals, yes/no) by agreement.
CONTINUOUS = ("percent_dose", "cells", "cells_per_g", "percent_injected_activity", "percent_id_per_g",
              "percent_of_initial")
#: A predicted share of positive animals agrees with the observed share within this margin
#: (one animal in a group of 4; the binomial spread of groups of 3-10 animals is 0.15-0.3).
SHARE_MARGIN = 0.25


class _Predictor:
    """The study's scenario simulated at its times, read through its assay, in any unit."""

    def __init__(self, study: Study, extra_times: Sequence[float] = ()) -> None:
        self.study = study
        sc = study.scenario
        times = sorted(set(study.times_h) | {0.0} | {float(t) for t in extra_times})
        end = max(max(times), 1.0)
        sc = sc.model_copy(update={"run": sc.run.model_copy(update={"end_h": end, "times_h": None})})
        self.scenario = sc
        self.inputs = resolve(sc)
        self.times = np.asarray(times)
        self.result: Result = simulate(sc, times_h=times)
        self.frame = None
        if study.method not in ("culture", "histology"):
            self.frame = observe(self.result, study.method, scenario=sc,
                                 nucleic_acid=study.nucleic_acid).set_index(["time_h", "site"])
        self.density = detection_constants()["tissue_density_g_per_mL"]

    def _row(self, site: str, t: float):
        if site not in self.sites():
            raise ScenarioError(f"study {self.study.id!r}: site {site!r} is not a site of its model; "
                                f"sites: {', '.join(self.sites())}")
        return self.frame.loc[(float(t), site)]

    def sites(self) -> tuple[str, ...]:
        if self.frame is None:
            return self.result.sites
        return tuple(dict.fromkeys(self.frame.index.get_level_values("site")))

    def _live(self, site: str, t: float) -> float:
        i = int(np.flatnonzero(self.result.times_h == t)[0])
        if site == "whole_body":
            return float(self.result.live_total()[i])
        return float(self.result.quantity(site, "live_cells")[i])

    def _given(self, t: float) -> float:
        i = int(np.flatnonzero(self.result.times_h == t)[0])
        return max(float(self.result.administered[i]), float(self.result.administered.max()) if t == 0 else 0.0)

    def grams(self, site: str) -> float:
        sp = self.inputs.species
        if site == "blood":
            return sp.blood_volume_L * 1000.0 * self.density
        return sp.organ(site).volume_L * 1000.0 * self.density

    def percent(self, site: str, t: float) -> float:
        """% of the dose (cell assays, re-culture, histology) or %ID (radiolabels) at ``site``."""
        given = self._given(t)
        if self.frame is None:
            return 100.0 * self._live(site, t) / given
        row = self._row(site, t)
        if row.unit == "percent_injected_activity":
            return float(row.expected)
        if row.unit == "cells":
            return 100.0 * float(row.expected) / given
        return 100.0 * float(row.true_live_cells) / given  # optical: as converted to cells by the paper

    def value(self, site: str, t: float, unit: str, first_t: float | None = None) -> float:
        """The model's expected readout in ``unit``."""
        if unit in ("percent_dose", "percent_injected_activity"):
            return self.percent(site, t)
        if unit == "cells":
            return self.percent(site, t) * self._given(t) / 100.0
        if unit == "cells_per_g":
            return self.value(site, t, "cells") / self.grams(site)
        if unit == "percent_id_per_g":
            return self.percent(site, t) / self.grams(site)
        if unit == "percent_of_initial":
            first = self.signal(site, first_t if first_t is not None else t)
            return 100.0 * self.signal(site, t) / first if first > 0 else math.nan
        if unit in ("fraction_positive", "detected"):
            p = self.detect_probability(site, t)
            return p if unit == "fraction_positive" else float(p >= 0.5)
        raise ScenarioError(f"unit {unit!r} is not supported")

    def signal(self, site: str, t: float) -> float:
        if self.frame is None:
            return self._live(site, t)
        return float(self._row(site, t).expected)

    def detect_probability(self, site: str, t: float) -> float:
        """Probability that one animal's sample is positive: the expected signal against the
        detection limit with the method's log-normal measurement CV."""
        if self.frame is None:
            return float(self._live(site, t) >= 1.0)
        row = self._row(site, t)
        expected, limit = float(row.expected), float(row.limit)
        if not expected > 0 or not math.isfinite(limit):
            return 0.0
        cv = method_info(self.study.method).cv
        sigma = math.sqrt(math.log1p(cv ** 2)) if cv > 0 else 0.0
        if sigma == 0:
            return float(expected >= limit)
        return NormalDist().cdf((math.log(expected) - math.log(limit)) / sigma)


def _compare(a: float, op: str, b: float) -> bool:
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]


def _first_times(study: Study) -> dict[str, float]:
    """Each site's first observed (or referred-to) time [h]: the reference of percent_of_initial."""
    first: dict[str, float] = {}
    points = [(o.site, o.time_h) for o in study.observations]
    points += [(p.site, p.time_h) for f in study.findings for p in (f.a, f.b) if isinstance(p, Point)]
    for site, t in points:
        first[site] = min(first.get(site, t), t)
    return first


def _finding_rows(study: Study, pred: _Predictor, base: dict) -> list[dict]:
    rows = []
    first = _first_times(study)
    for f in study.findings:
        a = pred.value(f.a.site, f.a.time_h, f.unit, first.get(f.a.site))
        b = (pred.value(f.b.site, f.b.time_h, f.unit, first.get(f.b.site)) if isinstance(f.b, Point)
             else float(f.b))
        rows.append({**base, "site": f.a.site, "time_h": f.a.time_h, "observed": math.nan, "predicted": a,
                     "unit": f.unit, "fold_error": math.nan, "finding": f.statement,
                     "holds": _compare(a, f.op, f.factor * b), "where": f.where})
    return rows


def study_rows(study: Study) -> list[dict]:
    """One row per observation and finding of ``study`` (columns :data:`COLUMNS`)."""
    pred = _Predictor(study)
    base = {"study": study.id, "species": study.scenario.subject.species,
            "route": "+".join(dict.fromkeys(d.route for d in study.scenario.dose)), "assay": study.method,
            "used_for": study.used_for, "cell_type": study.cell_type}
    first = _first_times(study)
    rows = []
    for o in study.observations:
        ref = o.reference_h if o.reference_h is not None else first.get(o.site)
        p = pred.value(o.site, o.time_h, o.unit, ref)
        if o.relative_to is not None:  # a share of another site's readout (heart-to-whole-body ratio)
            whole = pred.value(o.relative_to, o.time_h, o.unit)
            p = 100.0 * p / whole if whole > 0 else math.nan
        if o.bound is not None:  # a reported bound: held or not, like a finding
            rows.append({**base, "site": o.site, "time_h": o.time_h, "observed": o.value, "predicted": p,
                         "unit": o.unit, "fold_error": math.nan, "holds": p <= o.value if o.bound == "upper" else p >= o.value,
                         "finding": f"{o.site} at {o.time_h:g} h {'at most' if o.bound == 'upper' else 'at least'} "
                                    f"{o.value:g} {o.unit} (a reported bound)", "where": o.where})
            continue
        if o.unit == "percent_of_initial" and o.time_h == ref:
            fold, holds = math.nan, None  # the normalisation point (100 % by construction) is no prediction
        elif o.unit in CONTINUOUS:
            fold = p / o.value if o.value > 0 and p > 0 else math.nan
            holds = None
        else:
            fold = math.nan
            holds = abs(p - o.value) <= SHARE_MARGIN if o.unit == "fraction_positive" else (p >= 0.5) == (o.value >= 0.5)
        rows.append({**base, "site": o.site, "time_h": o.time_h, "observed": o.value, "predicted": p,
                     "unit": o.unit, "fold_error": fold, "finding": "", "holds": holds, "where": o.where})
    return rows + _finding_rows(study, pred, base)


def study_curves(study: Study, points: int = 40):
    """``curve(site, unit) -> (times, values)``: predicted time courses over the study's time
    span (one simulation of the study on a dense grid serves every site and unit)."""
    times = np.asarray(study.times_h)
    positive = times[times > 0]
    start = positive.min() / 3 if positive.size else 0.01
    grid = np.unique(np.concatenate([np.geomspace(start, max(times.max(), start * 10) * 1.3, points), times]))
    pred = _Predictor(study, grid)

    def curve(site: str, unit: str) -> tuple[np.ndarray, np.ndarray]:
        first = min((o.time_h for o in study.observations if o.site == site), default=None)
        return grid, np.array([pred.value(site, float(t), unit, first) for t in grid])
    return curve


def library_curves(on_new: Callable[[int, str], None] | None = None):
    """``curve(study_id, site, unit) -> (times, values)`` over the study library: each study's
    :func:`study_curves` built once, when first asked for (``on_new(k, study_id)`` is called
    before the k-th new study, k from 0: a progress hook)."""
    built: dict = {}

    def curve(sid: str, site: str, unit: str) -> tuple[np.ndarray, np.ndarray]:
        if sid not in built:
            if on_new is not None:
                on_new(len(built), sid)
            built[sid] = study_curves(load_study(sid))
        return built[sid](site, unit)
    return curve


@dataclass(frozen=True)
class Qualification:
    """The table (one row per observation or finding) and its summary per ``used_for``."""

    table: object  # pandas.DataFrame
    summary: object  # pandas.DataFrame

    def lines(self) -> list[str]:
        """One line per ``used_for``, as ``mscpk qualify`` prints."""
        out = []
        for use, r in self.summary.iterrows():
            out.append(f"{use}: {int(r.studies)} studies, {int(r.observations)} observations, GMFE {r.gmfe:.2f}, "
                       f"{100 * r.within_2fold:.0f} % within 2-fold, {100 * r.within_3fold:.0f} % within 3-fold, "
                       f"{int(r.shares_agree)}/{int(r.shares)} detection shares agree, "
                       f"{int(r.findings_held)}/{int(r.findings)} qualitative findings held")
        return out


def summarize_qualification(table) -> object:
    """Per ``used_for`` over the MSC studies, and for the studies of other cell types apart:
    studies, observations compared by fold error, geometric mean fold error (GMFE =
    10^mean|log10 fold|), shares within 2- and 3-fold, detection shares that agree,
    qualitative findings held."""
    import pandas as pd

    rows = {}
    group = table.used_for.where(table.cell_type.eq(MSC), OTHER)
    for use, g in table.groupby(group):
        fold = g.fold_error[g.finding.eq("") & g.fold_error.notna()].to_numpy(float)
        err = np.abs(np.log10(fold))
        shares = g[g.finding.eq("") & g.holds.notna()]
        finds = g[g.finding.ne("")]
        rows[use] = {"studies": g.study.nunique(), "observations": len(fold),
                     "gmfe": float(10 ** err.mean()) if len(fold) else math.nan,
                     "within_2fold": float((err <= math.log10(2)).mean()) if len(fold) else math.nan,
                     "within_3fold": float((err <= math.log10(3)).mean()) if len(fold) else math.nan,
                     "shares": len(shares), "shares_agree": int(shares.holds.astype(bool).sum()),
                     "findings": len(finds), "findings_held": int(finds.holds.astype(bool).sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def qualify(studies: Sequence[str] | None = None) -> Qualification:
    """Run the library's studies (all, or those named) through the default model."""
    import pandas as pd

    ids = list(studies) if studies else list(study_ids())
    rows = [r for sid in ids for r in study_rows(load_study(sid))]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return Qualification(table, summarize_qualification(table))


__all__ = ["qualify", "study_rows", "study_curves", "library_curves", "summarize_qualification", "Qualification", "COLUMNS"]
