"""Fitting named model parameters to study data (maximum likelihood, profile-likelihood CIs).

Layers (PINTS-like; each usable and testable alone):

* :class:`ForwardModel` -- one scenario + vector of log-parameters -> the noise-free expected
  readout at the data's times and sites, each row through its assay's observation model
  (:func:`mscpk.analysis.detection.observation.expected_signals`, the same solver as the engine):

  ========================= ======================= =====================================
  ``ASSAY``                 unit of ``DV``          what the model predicts
  ========================= ======================= =====================================
  missing / empty           ``cells``               live cells at the site
  ``qpcr``                  ``cells``               live + dead-not-yet-degraded cells
  ``flow``, ``ihc``, ``mri`` ``cells``              cells the assay sees (label-positive
                                                    live cells; SPIO/dye also in debris)
  ``bli``, ``fluorescence`` ``photons_per_s``       photons from the site (depth-attenuated)
  ``spect``, ``pet``        ``%ID`` (percent of the  activity of the label, decay-corrected
                            injected activity)
  ========================= ======================= =====================================

  The label is the scenario's product label; an assay the label (and product origin) cannot
  support is a :class:`~mscpk.errors.FitError` naming the rows. Imaging assays also accept
  ``SITE = whole_body``. ``DVU`` must agree with the assay (``cells``; ``%ID`` or
  ``percent_injected_activity`` for spect/pet; ``photons/s`` for bli/fluorescence, read with
  :data:`FIT_UNIT_OPTIONS`); a file without a ``DVU`` column is taken to be in each assay's
  unit. Each ForwardModel caches its last few evaluations (keyed by the parameter vector and
  the requested times), so re-evaluations at the same parameters (e.g. when only a sigma
  changes) cost nothing. Estimated parameters listed in the scenario's ``[parameters]`` give
  the starting value and are then replaced by the fitted value.
* :class:`JointModel` -- several ForwardModels (one per group, i.e. per design) sharing one
  parameter vector; bounds are the intersection of the groups' bounds, the start the first
  group's value.
* :class:`Problem` -- the data together with a forward (or joint) model; rows map to groups.
* :class:`LogLikelihood` -- log-normal error on DV with estimated log-scale sigma(s); rows
  below the LLOQ by the censored likelihood (NONMEM M3):
  ``log Phi((log LLOQ - log pred) / sigma)``. ``sigma="auto"`` (default) estimates one
  sigma per assay when the data have several assays (a row without ASSAY counts as the
  assay ``live_cells``), else one shared sigma; ``"shared"`` and ``"per_assay"`` force it.
  ``centre`` says what PRED is: ``"median"`` (default; ``log DV ~ N(log PRED, s^2)``, the
  usual exponential error around a typical animal) or ``"mean"`` (PRED is the arithmetic
  mean of DV: ``log DV ~ N(log PRED - s^2/2, s^2)``, and for censored rows
  ``log Phi((log LLOQ - log PRED + s^2/2) / s)``; ``s`` is each row's log-scale SD, see
  below). Virtual studies of :func:`mscpk.analysis.detection.simulate_study` (and ``observe`` with a
  seed) make every noise factor mean 1 (Poisson counting, assay CV, between-animal CV), so
  that the mean over animals reproduces the model curve: fit them with ``centre="mean"``.
  Fitting them with the median-centred default underestimates the level by ``exp(-s^2/2)``
  at every time point (about 10 % with qPCR CV 0.35 and between-animal CV 0.3), which the
  model can only absorb by a faster decline (e.g. a lung death half-life of ~5.2 h instead
  of 6 h; tests/test_virtual_study_fit.py).
* Summary (literature) rows (``N`` > 1 and/or ``SD``): ``DV`` is the arithmetic group mean,
  ``SD`` the between-animal SD. Approximation used: individual values are log-normal around
  the model prediction (the median); the reported mean and SD are converted to the log scale
  by moment matching, ``CV = SD/mean``, ``sdlog = sqrt(log(1 + CV^2))``, log-scale mean
  ``mu = log(mean) - sdlog^2 / 2``; ``mu`` is then normal around ``log pred`` with variance
  ``(sigma^2 + sdlog^2) / N`` (the standard error of a mean of N log values, with the
  assay/model residual sigma and the reported between-animal spread added; this counts the
  measurement error contained in the reported SD twice, so it is conservative: intervals
  are a little wide). Without an SD, ``sdlog = 0`` (variance ``sigma^2 / N``). A censored
  summary row (mean below the LLOQ) uses M3 with the same variance. With ``centre="mean"``
  the log of the reported mean is compared with ``log PRED - s^2/2`` instead, ``s^2 = (sigma^2
  + sdlog^2) / N`` (the delta-method log-scale mean of a mean of N values whose mean is PRED).
* Animal random effect (``fit(..., animal_effect=True)``, CLI ``--animal-effect``): with
  destructive sampling one animal gives a value at every site, and a between-animal factor
  (e.g. the ``between_animal_cv`` of :func:`mscpk.analysis.detection.simulate_study`) moves all of
  them together, so the rows of an animal are correlated and the independent likelihood gives
  too narrow intervals. The model is then ``log DV_ij = mu_j + eta_i + eps_ij`` with
  ``eta_i ~ N(0, omega^2)`` per animal (key: ``DATASET``, ``GROUP``, ``ID``) and
  ``eps_ij ~ N(0, s_j^2)`` (``s_j`` the row's sigma, per assay if so), ``omega`` estimated on
  the log scale like sigma (bounds :data:`OMEGA_BOUNDS`); ``mu_j = log PRED`` for
  ``centre="median"``; for ``centre="mean"`` PRED is the arithmetic mean over animals and
  residuals, so ``mu_j = log PRED - (s_j^2 + omega^2)/2`` (the log-normal mean shift uses the
  total log variance). The likelihood of an animal integrates eta out: an animal without
  censored rows by the closed-form multivariate normal (covariance ``diag(s_j^2) + omega^2
  J``; inverse by Sherman-Morrison, determinant by the matrix determinant lemma:
  ``det = prod s_j^2 (1 + omega^2 sum 1/s_j^2)``); an animal with censored rows by
  Gauss-Hermite quadrature (:data:`QUADRATURE_NODES` nodes) over eta of the product of its
  rows' densities and M3 CDFs, adaptive: the nodes are centred and scaled on the (exact,
  normal) posterior of eta given the animal's quantified rows. Summary (literature) rows are
  means over animals, not one animal's values: they keep the independent likelihood above
  and get no random effect (their reported SD already contains the between-animal spread).
  An animal with a single row simply has log-variance ``s^2 + omega^2``. The fit reports
  ``omega`` (log-scale SD of the animal factor; for a log-normal factor with CV c,
  ``sqrt(log(1 + c^2))``) with its profile-likelihood 95 % interval.
* :func:`optimise` -- multi-start L-BFGS-B on the log-parameters (and log sigmas) within
  bounds; starts from the defaults and from a seeded Latin hypercube in log space around
  them (a factor 10 either way, clipped to the bounds); the best is kept.
* :func:`profile_ci` -- profile-likelihood 95 % interval per parameter (threshold
  chi2(1)/2 = 1.92 on the log-likelihood), a coarse expanding step search on each side with
  re-optimisation of the other parameters, then a few bisection steps. A side on which the
  log-likelihood never drops by 1.92 before the search bound is reported as the bound and the
  parameter is flagged ``identifiable: False``.

Groups (joint fits of several doses, routes, assays or designs), see :func:`fit`:

* from one base scenario: every ``GROUP`` of the data gets its own scenario, derived from the
  base: ``DOSE`` -> the cells of its single dose, ``ROUTE`` -> the dose's route (routes that
  need a target organ keep the base dose's ``site``; if it has none, a FitError). A group
  with several DOSE/ROUTE values is an error; data without a GROUP column are split by
  (ROUTE, DOSE) instead. DOSE/ROUTE need a base scenario with a single dose.
* ``scenarios={group: Scenario}``: a scenario per group (fully different designs; DOSE/ROUTE
  columns are applied on top in the same way); every group of the data needs one.
* ``scenarios=[(scenario, data), ...]``: several datasets, each with its own scenario (and its
  own GROUP/DOSE/ROUTE derivation); groups are named ``"dataset K"`` or ``"dataset K/GROUP"``.

Search bounds of a parameter: the default value divided / multiplied by
:data:`SEARCH_FACTOR` (1000), intersected with the parameter's allowed range.

Limitations: data must be in the assay's unit (cells, %ID or photons/s; convert cells/g,
copies/ug, Ct with :func:`mscpk.inputs.studydata.to_cells` first); spect/pet data are taken to be
decay-corrected; only parameters of the model parameter set (not physiology) can be
estimated; sigma is per assay, not per site or group.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mscpk.errors import FitError, MscpkError, ScenarioError, did_you_mean
from mscpk.engine.simulate import simulate
from mscpk.inputs.load import load_scenario, scenario_from_dict
from mscpk.inputs.resolve import scenario_parameters
from mscpk.inputs.routes import route as route_info, route_aliases, route_names
from mscpk.inputs.studydata import StudyData, UnitOptions, study_from_frame

__all__ = [
    "SEARCH_FACTOR", "PROFILE_THRESHOLD", "CENTRES", "OMEGA_BOUNDS", "QUADRATURE_NODES", "FIT_UNIT_OPTIONS", "ForwardModel",
    "JointModel", "Problem", "LogLikelihood", "FitResult", "fit", "optimise", "profile_ci",
    "plot_fit", "group_scenarios", "derive_scenario",
]

#: search range of each parameter: default / SEARCH_FACTOR .. default * SEARCH_FACTOR
SEARCH_FACTOR = 1000.0
#: drop of the log-likelihood defining the 95 % profile interval: chi2(1, 0.95) / 2
PROFILE_THRESHOLD = float(stats.chi2.ppf(0.95, 1) / 2.0)  # 1.92
#: what the prediction is in the log-normal error model (see :class:`LogLikelihood`)
CENTRES = ("median", "mean")
#: bounds of the log-scale residual SD sigma
SIGMA_BOUNDS = (0.01, 5.0)
#: bounds of the log-scale SD omega of the animal random effect (``animal_effect=True``)
OMEGA_BOUNDS = (1e-3, 5.0)
#: Gauss-Hermite nodes integrating the animal effect out of animals with censored rows
QUADRATURE_NODES = 20
_PRED_FLOOR = 1e-9
_CACHE_SIZE = 8

#: spellings of the optical unit (photons per second) accepted in DVU for bli/fluorescence
_OPTICAL_SPELLINGS = ("photons/s", "photons_per_s", "photons per s", "p/s", "ph/s", "photons/sec")
#: spellings of percent injected activity accepted for spect/pet (besides %ID)
_PIA_SPELLINGS = ("percent_injected_activity", "%IA", "percent injected activity")
#: read_study options for fitting: accept the optical unit (stored in DVU as ``cells`` with
#: the spelling kept in ``DVU_REPORTED``, which the fit checks against the assay) and
#: ``percent_injected_activity`` (= %ID).
FIT_UNIT_OPTIONS = UnitOptions(aliases={**{s: "cells" for s in _OPTICAL_SPELLINGS},
                                        **{s: "%ID" for s in _PIA_SPELLINGS}})
_OPTICAL_KEYS = {s.replace(" ", "").lower() for s in _OPTICAL_SPELLINGS}

_NO_ASSAY = "live_cells"  # sigma key / label of rows without ASSAY


def _rows_text(rows: Sequence[Any], limit: int = 6) -> str:
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


# ---------------------------------------------------------------------------------------
# Forward model
# ---------------------------------------------------------------------------------------


class ForwardModel:
    """Scenario + estimated parameter names -> predictions for given log-parameters.

    ``label``: the label the detection layer assumes (default the product's label).
    """

    def __init__(self, scenario: Any, names: Sequence[str], params: Any = None, *,
                 label: str | None = None) -> None:
        self.base = params if params is not None else scenario_parameters(scenario)
        known = list(self.base)
        names = list(names)
        if not names:
            raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
        if len(set(names)) != len(names):
            raise FitError(f"parameter named twice in the estimate list: {names}")
        for n in names:
            if n not in self.base:
                close = difflib.get_close_matches(n, known, n=3, cutoff=0.5)
                hint = (f"; did you mean {', '.join(repr(c) for c in close)}?" if close
                        else "; `mscpk params` lists the names")
                raise FitError(f"unknown parameter {n!r}{hint}")
        self.names = names
        # an override of an estimated parameter in the scenario is the start, not a constant
        keep = {k: v for k, v in scenario.parameters.items() if k not in names}
        self.original_scenario = scenario
        self.scenario = (scenario if len(keep) == len(scenario.parameters)
                         else scenario.model_copy(update={"parameters": keep}))
        self.label = label
        lo, hi, x0 = [], [], []
        for n in names:
            rec = self.base.record(n)
            v = float(self.base[n])
            if not (v > 0 and math.isfinite(v)):
                raise FitError(f"parameter {n!r} has default {v!r}; only positive parameters "
                               "can be estimated on the log scale")
            a, b = v / SEARCH_FACTOR, v * SEARCH_FACTOR
            if rec.minimum is not None and rec.minimum > 0:
                a = max(a, rec.minimum)
            if rec.maximum is not None and math.isfinite(rec.maximum):
                b = min(b, rec.maximum)
            lo.append(math.log(a))
            hi.append(math.log(b))
            x0.append(math.log(v))
        self.lower = np.array(lo)
        self.upper = np.array(hi)
        self.x0 = np.clip(np.array(x0), self.lower, self.upper)
        self._cache: OrderedDict[tuple, dict] = OrderedDict()
        self.n_evaluations = 0  # simulations actually run (cache misses)

    @property
    def n_parameters(self) -> int:
        return len(self.names)

    @property
    def label_name(self) -> str:
        return self.label if self.label is not None else self.scenario.product.label

    def parameter_set(self, theta_log: Sequence[float]):
        return self.base.updated({n: float(math.exp(t)) for n, t in zip(self.names, theta_log)},
                                 source="fitted")

    def simulate(self, theta_log: Sequence[float], times_h: Sequence[float]):
        return simulate(self.scenario, times_h=list(times_h),
                              params=self.parameter_set(theta_log))

    @staticmethod
    def observe(result: Any, site: str, assay: str) -> np.ndarray:
        """Cells a cell-counting view sees at a site without the detection layer: live +
        dead for ``qpcr``, live otherwise (kept for compatibility; predictions use
        :meth:`signals`)."""
        live = result.quantity(site, "live_cells")
        if assay == "qpcr":
            return live + result.quantity(site, "dead_cells")
        return live

    def signals(self, theta_log: Sequence[float], times_h: Sequence[float],
                assays: Sequence[str]) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        """Noise-free expected signal per assay (``""`` = live cells): ``{assay: (sites,
        array (T, S))}`` at the sorted unique ``times_h``; cached per parameter vector."""
        theta = np.asarray(theta_log, float)
        times = tuple(float(t) for t in times_h)
        assays = tuple(sorted(set(assays)))
        key = (theta.tobytes(), times, assays)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        self.n_evaluations += 1
        res = self.simulate(theta, times)
        out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
        if "" in assays:
            sites = tuple(res.sites)
            out[""] = (sites, np.column_stack([np.asarray(res.quantity(s, "live_cells"), float)
                                               for s in sites]))
        det = [a for a in assays if a]
        if det:
            from mscpk.analysis.detection.observation import expected_signals
            sig = expected_signals(res, self.scenario, det, label=self.label,
                                   params=self.parameter_set(theta))
            for a, (sites, arr, _unit) in sig.items():
                out[a] = (sites, np.asarray(arr, float))
        self._cache[key] = out
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return out

    def predict(self, theta_log: Sequence[float], times: np.ndarray, sites: Sequence[str],
                assays: Sequence[str]) -> np.ndarray:
        """Predicted readout (the assay's unit) for each (time, site, assay) row."""
        times = np.asarray(times, float)
        utimes = np.unique(times)
        sites = np.asarray(sites, object)
        assays = np.asarray([a or "" for a in assays], object)
        sig = self.signals(theta_log, utimes, assays.tolist())
        index = np.searchsorted(utimes, times)
        out = np.empty(len(times))
        for key in set(zip(sites.tolist(), assays.tolist())):
            mask = (sites == key[0]) & (assays == key[1])
            s_list, arr = sig[key[1]]
            if key[0] not in s_list:
                raise FitError(f"site {key[0]!r} is not observed by "
                               f"{key[1] or 'live cells'}; sites: {', '.join(s_list)}")
            out[mask] = arr[index[mask], s_list.index(key[0])]
        return out


class JointModel:
    """Several :class:`ForwardModel` (one per group) sharing one parameter vector."""

    def __init__(self, models: Mapping[str, ForwardModel]) -> None:
        if not models:
            raise FitError("no groups to fit")
        self.models = dict(models)
        first = next(iter(self.models.values()))
        self.names = list(first.names)
        for g, m in self.models.items():
            if list(m.names) != self.names:
                raise FitError(f"group {g!r} estimates {m.names}, not {self.names}")
        self.lower = np.max([m.lower for m in self.models.values()], axis=0)
        self.upper = np.min([m.upper for m in self.models.values()], axis=0)
        bad = [n for n, a, b in zip(self.names, self.lower, self.upper) if not a < b]
        if bad:
            raise FitError(f"the groups' search ranges of {', '.join(bad)} do not overlap")
        self.x0 = np.clip(first.x0, self.lower, self.upper)
        self.base = first.base

    @property
    def n_parameters(self) -> int:
        return len(self.names)

    @property
    def groups(self) -> list[str]:
        return list(self.models)

    def parameter_set(self, theta_log: Sequence[float]):
        """Fitted parameters (of the first group's parameter set)."""
        return next(iter(self.models.values())).parameter_set(theta_log)

    @property
    def n_evaluations(self) -> int:
        return sum(m.n_evaluations for m in self.models.values())


# ---------------------------------------------------------------------------------------
# Groups -> scenarios
# ---------------------------------------------------------------------------------------


def _normalise_route(route: str, where: str) -> str:
    r = str(route).strip().lower()
    r = route_aliases().get(r, r).replace(" ", "_")
    names = route_names()
    if r not in names:
        raise FitError(f"{where}: ROUTE {route!r} is not a known route; {did_you_mean(r, names)}allowed: "
                       f"{', '.join(names)}")
    return r


def derive_scenario(base: Any, *, route: str | None = None, dose: float | None = None,
                    where: str = "data") -> Any:
    """``base`` with its single dose given ``dose`` cells and/or ``route`` (see the module
    docstring); validated like a scenario file. Raises :class:`FitError` naming ``where``."""
    if route is None and dose is None:
        return base
    if len(base.dose) != 1:
        raise FitError(f"{where}: DOSE/ROUTE in the data need a base scenario with a single "
                       f"dose (it has {len(base.dose)}); give this group its own scenario "
                       "(fit(scenarios={group: Scenario}) or --scenario-for GROUP=FILE)")
    d = base.dose[0]
    upd: dict[str, Any] = {}
    desc = []
    if route is not None:
        r = _normalise_route(route, where)
        if r != d.route:
            upd["route"] = r
            if route_info(r).site != "none":
                if d.site is None and route_info(r).needs_site:
                    raise FitError(
                        f"{where}: ROUTE {r!r} needs a target organ (dose site) and the base "
                        f"scenario's dose (route {d.route!r}) has none; give this group its own "
                        "scenario (fit(scenarios={group: Scenario}) or --scenario-for GROUP=FILE)")
                upd["site"] = d.site
            else:
                upd["site"] = None
            desc.append(r)
    if dose is not None and not (d.cells is not None and math.isclose(dose, d.cells)):
        if not (dose > 0 and math.isfinite(dose)):
            raise FitError(f"{where}: DOSE {dose!r} must be a positive number of cells")
        upd["cells"] = float(dose)
        upd["cells_per_kg"] = None
        desc.append(f"{dose:g} cells")
    if not upd:
        return base
    raw = base.model_dump()
    raw["dose"] = [dict(x) for x in raw["dose"]]
    raw["dose"][0].update(upd)
    raw["name"] = f"{base.name} [{', '.join(desc)}]" if desc else base.name
    try:
        return scenario_from_dict(raw)
    except ScenarioError as exc:
        raise FitError(f"{where}: cannot build its scenario from the base: {exc}") from None


def _row_numbers(frame: pd.DataFrame, mask) -> list[Any]:
    sub = frame[mask]
    if "ROW" in sub:
        if "DATASET" in sub and sub["DATASET"].nunique() > 1:
            return [f"{d}:{r}" for d, r in zip(sub["DATASET"], sub["ROW"])]
        return [int(r) for r in sub["ROW"]]
    return [int(i) + 2 for i in sub.index]


def group_scenarios(base: Any, frame: pd.DataFrame, *, prefix: str = ""
                    ) -> tuple[dict[str, Any], list[str]]:
    """Scenario per group of ``frame`` (derived from ``base``) and each row's group name."""
    n = len(frame)
    groups = (frame["GROUP"].astype(str).to_numpy() if "GROUP" in frame
              else np.array(["all"] * n, object))
    doses = (frame["DOSE"].to_numpy(float) if "DOSE" in frame else np.full(n, np.nan))
    routes = (np.array([str(r).strip().lower() if isinstance(r, str) else "" for r in frame["ROUTE"]],
                       object) if "ROUTE" in frame else np.array([""] * n, object))
    single = len(set(groups.tolist())) == 1
    names = [""] * n
    out: dict[str, Any] = {}
    combos_of: dict[str, dict[tuple, list[int]]] = {}
    for i in range(n):
        key = (routes[i] or None, None if math.isnan(doses[i]) else float(doses[i]))
        combos_of.setdefault(str(groups[i]), {}).setdefault(key, []).append(i)
    for g, combos in combos_of.items():
        if len(combos) > 1 and not single:
            listed = "; ".join(
                f"ROUTE {r or '(blank)'} DOSE {'(blank)' if d is None else f'{d:g}'} in "
                f"{_rows_text(_row_numbers(frame, np.isin(np.arange(n), idx)))}"
                for (r, d), idx in combos.items())
            raise FitError(f"{prefix}GROUP {g!r} has several DOSE/ROUTE values ({listed}); give "
                           "each design its own GROUP")
        for (r, d), idx in combos.items():
            if len(combos) > 1:
                label = " ".join(x for x in (r, None if d is None else f"{d:g} cells") if x)
                gname = f"{prefix}{label or g}" if g == "all" else f"{prefix}{g} ({label})"
            else:
                gname = f"{prefix}{g}" if not (prefix and g == "all") else prefix.rstrip("/ ")
            where = (f"{prefix}GROUP {g!r} ({_rows_text(_row_numbers(frame, np.isin(np.arange(n), idx)))})")
            out[gname] = derive_scenario(base, route=r, dose=d, where=where)
            for i in idx:
                names[i] = gname
    return out, names


# ---------------------------------------------------------------------------------------
# Problem and likelihood
# ---------------------------------------------------------------------------------------


def _as_frame(data: StudyData | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, StudyData):
        return data.frame
    if isinstance(data, pd.DataFrame):
        if "ROW" in data.columns:  # already normalised (StudyData.frame or a combination)
            return data
        return study_from_frame(data, unit_options=FIT_UNIT_OPTIONS).frame
    raise FitError(f"data must be StudyData or a pandas DataFrame, not {type(data).__name__}")


def _row_unit(dvu: Any, reported: Any) -> str | None:
    """Unit of DV for fitting (None: not stated, i.e. the assay's unit)."""
    rep = reported if isinstance(reported, str) else ""
    key = rep.replace(" ", "").lower()
    if key in _OPTICAL_KEYS:
        return "photons_per_s"
    dvu = dvu if isinstance(dvu, str) else "cells"
    if dvu == "%ID":
        return "percent_injected_activity"
    if dvu == "cells" and rep.strip() == "":
        return None
    return dvu


class Problem:
    """Data (in each assay's unit) with a forward model.

    ``model``: a :class:`ForwardModel` (every row uses its scenario) or a :class:`JointModel`
    (each row uses its group's model; ``groups`` gives each row's group name, default the
    ``GROUP`` column).
    """

    def __init__(self, model: ForwardModel | JointModel, data: StudyData | pd.DataFrame,
                 groups: Sequence[str] | None = None) -> None:
        from mscpk.inputs.catalogue import ASSAY_UNITS, ASSAYS, check_assay

        frame = _as_frame(data)
        if len(frame) == 0:
            raise FitError("no observations to fit")
        self.model = model
        self.frame = frame.reset_index(drop=True)
        fr = self.frame
        n = len(fr)
        rows_all = np.arange(n)

        def rows(mask) -> str:
            return _rows_text(_row_numbers(fr, mask))

        self.times = fr["TIME"].to_numpy(float)
        self.sites = [str(s) for s in fr["SITE"]]
        if "ASSAY" in fr.columns:
            self.assays = [str(a).strip().lower() if isinstance(a, str) else "" for a in fr["ASSAY"]]
        else:
            self.assays = [""] * n
        assays_arr = np.asarray(self.assays, object)
        bad = sorted(set(self.assays) - set(ASSAYS) - {""})
        if bad:
            a = bad[0]
            raise FitError(f"{rows(assays_arr == a)}, column ASSAY: unknown assay {a!r}; {did_you_mean(a, ASSAYS)}"
                           f"allowed: {', '.join(ASSAYS)} (or blank for live cells)")
        # groups
        if isinstance(model, JointModel):
            names = (list(groups) if groups is not None else
                     [str(g) for g in fr["GROUP"]] if "GROUP" in fr else ["all"] * n)
            if len(names) != n:
                raise FitError(f"{len(names)} group names for {n} rows")
            self.models = model.models
        else:
            names = ["*"] * n
            self.models = {"*": model}
        self.row_groups = np.asarray(names, object)
        self.group_rows: dict[str, np.ndarray] = {}
        for g in dict.fromkeys(names):
            if g not in self.models:
                raise FitError(f"GROUP {g!r} ({rows(self.row_groups == g)}) has no scenario; "
                               f"scenarios are given for: {', '.join(map(repr, self.models))}")
            self.group_rows[g] = rows_all[self.row_groups == g]
        # assay <-> label, and units
        dvu = fr["DVU"].tolist() if "DVU" in fr else ["cells"] * n
        rep = fr["DVU_REPORTED"].tolist() if "DVU_REPORTED" in fr else [""] * n
        self.units = []
        for g, idx in self.group_rows.items():
            m = self.models[g]
            where = "" if g == "*" else f"GROUP {g!r}, "
            for a in sorted({self.assays[i] for i in idx} - {""}):
                try:
                    check_assay(a, m.label_name, m.scenario.product.origin)
                except MscpkError as exc:
                    mask = (self.row_groups == g) & (assays_arr == a)
                    raise FitError(f"{where}{rows(mask)}: {exc}") from None
        units = []
        for i in range(n):
            a = self.assays[i]
            expected = ASSAY_UNITS[a] if a else "cells"
            u = _row_unit(dvu[i], rep[i])
            units.append(expected if u is None else u)
        units_arr = np.asarray(units, object)
        expected_arr = np.asarray([ASSAY_UNITS[a] if a else "cells" for a in self.assays], object)
        wrong = units_arr != expected_arr
        if wrong.any():
            i = int(np.argmax(wrong))
            mask = wrong & (units_arr == units_arr[i]) & (assays_arr == assays_arr[i])
            a = self.assays[i]
            what = f"ASSAY {a!r} reports {expected_arr[i]}" if a else \
                "rows without ASSAY are live cells and need DVU cells"
            raise FitError(f"{rows(mask)}, column DVU: DV in {units_arr[i]} but {what} "
                           "(convert with mscpk.inputs.studydata.to_cells, or set ASSAY)")
        self.units = units
        # censoring / values
        cens = (fr["CENS"].to_numpy(int) if "CENS" in fr.columns else np.zeros(n, int))
        self.censored = cens == 1
        self.dv = fr["DV"].to_numpy(float)
        self.lloq = (fr["LLOQ"].to_numpy(float) if "LLOQ" in fr.columns else np.full(n, np.nan))
        bad_cens = self.censored & ~(self.lloq > 0)
        if bad_cens.any():
            raise FitError(f"{rows(bad_cens)}: censored without a positive LLOQ")
        bad_dv = ~self.censored & ~(self.dv > 0)
        if bad_dv.any():
            raise FitError(f"{rows(bad_dv)}, column DV: observed DV <= 0 cannot enter a "
                           "log-normal likelihood; report them as censored (CENS=1 with LLOQ)")
        if (~self.censored).sum() == 0:
            raise FitError("all observations are below the LLOQ; nothing to fit")
        # summary (literature) rows
        nn = fr["N"].to_numpy(float) if "N" in fr.columns else np.full(n, np.nan)
        sd = fr["SD"].to_numpy(float) if "SD" in fr.columns else np.full(n, np.nan)
        self.n_animals = np.where(np.isfinite(nn) & (nn >= 1), nn, 1.0)
        has_sd = np.isfinite(sd) & ~self.censored
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(has_sd, sd / np.where(self.dv > 0, self.dv, 1.0), 0.0)
        self.sdlog = np.sqrt(np.log1p(cv * cv))
        self.summary = (self.n_animals > 1) | has_sd
        # sites: probe each group once
        self.available_sites: dict[tuple[str, str], tuple[str, ...]] = {}
        for g, idx in self.group_rows.items():
            m = self.models[g]
            g_assays = sorted({self.assays[i] for i in idx})
            try:
                sig = m.signals(model.x0,
                                [float(np.min(self.times[idx]))], g_assays)
            except MscpkError as exc:
                raise FitError(f"GROUP {g!r}: the model cannot be evaluated: {exc}") from None
            for a in g_assays:
                s_list = sig[a][0]
                self.available_sites[(g, a)] = s_list
                mask = (self.row_groups == g) & (assays_arr == a)
                unknown = sorted({self.sites[i] for i in rows_all[mask]} - set(s_list))
                if unknown:
                    umask = mask & np.isin(np.asarray(self.sites, object), unknown)
                    who = f"ASSAY {a!r}" if a else "the model (live cells)"
                    raise FitError(f"{rows(umask)}, column SITE: site(s) {', '.join(unknown)} not "
                                   f"observed by {who}; sites: {', '.join(s_list)}")

    @property
    def n_obs(self) -> int:
        return len(self.frame)

    @property
    def n_blq(self) -> int:
        return int(self.censored.sum())

    @property
    def n_summary(self) -> int:
        return int(self.summary.sum())

    def predict(self, theta_log: Sequence[float]) -> np.ndarray:
        out = np.empty(self.n_obs)
        for g, idx in self.group_rows.items():
            out[idx] = self.models[g].predict(theta_log, self.times[idx],
                                              [self.sites[i] for i in idx],
                                              [self.assays[i] for i in idx])
        return out


class LogLikelihood:
    """log L(theta_log, log_sigmas[, log_omega]): log-normal errors, M3 for censored rows,
    summary rows as log-scale means, optionally an animal random effect (see the module
    docstring).

    Called with a vector ``[theta_log..., log_sigma_1, ..., log_sigma_k]`` (and
    ``log_omega`` last when ``animal_effect``); ``sigma_keys`` names the sigmas (``["all"]``
    when shared, else the assays). ``n_noise`` = number of trailing noise parameters.
    """

    def __init__(self, problem: Problem, sigma: str = "auto", centre: str = "median",
                 animal_effect: bool = False, quadrature_nodes: int = QUADRATURE_NODES,
                 adaptive: bool = True) -> None:
        if sigma not in ("auto", "shared", "per_assay"):
            raise FitError(f"sigma: unknown value {sigma!r}; allowed: auto, shared, per_assay")
        if centre not in CENTRES:
            raise FitError(f"centre: unknown value {centre!r}; allowed: {', '.join(CENTRES)}")
        self.centre = centre
        self.problem = p = problem
        keys = [a or _NO_ASSAY for a in p.assays]
        distinct = list(dict.fromkeys(keys))
        mode = sigma if sigma != "auto" else ("per_assay" if len(distinct) > 1 else "shared")
        self.sigma_mode = mode
        self.sigma_keys = distinct if mode == "per_assay" else ["all"]
        self._sigma_index = (np.array([distinct.index(k) for k in keys]) if mode == "per_assay"
                             else np.zeros(p.n_obs, int))
        self._w = 1.0 / p.n_animals
        self._extra = p.sdlog ** 2 / p.n_animals
        logdv = np.log(np.where(p.censored, 1.0, p.dv))
        self._logobs = logdv - 0.5 * p.sdlog ** 2
        self._logdv = logdv
        self._loglloq = np.log(np.where(p.censored, p.lloq, 1.0))
        self.animal_effect = bool(animal_effect)
        self.adaptive = bool(adaptive)
        if self.animal_effect:
            self._setup_animals(quadrature_nodes)

    def _setup_animals(self, nodes: int) -> None:
        """Animal index of every individual row (summary rows: -1) and the row layout of the
        closed-form and the quadrature animals."""
        p = self.problem
        fr = p.frame
        n = p.n_obs
        ids = fr["ID"].tolist() if "ID" in fr else [None] * n
        grp = fr["GROUP"].astype(str).tolist() if "GROUP" in fr else [""] * n
        ds = fr["DATASET"].tolist() if "DATASET" in fr else [0] * n
        index: dict[tuple, int] = {}
        animal = np.full(n, -1, int)
        for i in range(n):
            if p.summary[i]:
                continue
            ident = ids[i]
            if ident is None or (isinstance(ident, float) and math.isnan(ident)) or \
                    str(ident).strip() == "":
                key: tuple = ("row", i)  # no ID: an animal of its own
            else:
                key = (ds[i], grp[i], str(ident))
            animal[i] = index.setdefault(key, len(index))
        self.n_animals = len(index)
        self._animal = animal
        self._re = animal >= 0
        cens_animal = np.zeros(len(index), bool)
        cens_animal[animal[self._re & p.censored]] = True
        self._cens_animal = cens_animal
        # quadrature rows sorted by animal (for reduceat)
        q = np.flatnonzero(self._re & cens_animal[np.maximum(animal, 0)])
        q = q[np.argsort(animal[q], kind="stable")]
        self._q_rows = q
        qa = animal[q]
        self._q_animals, self._q_starts = np.unique(qa, return_index=True)
        self._q_pos = np.searchsorted(self._q_animals, qa)  # 0..n_q_animals-1 for each row
        x, w = np.polynomial.hermite.hermgauss(int(nodes))
        self._gh_x = x
        self._gh_logw = np.log(w) + x * x

    @property
    def n_sigma(self) -> int:
        return len(self.sigma_keys)

    @property
    def n_omega(self) -> int:
        return 1 if self.animal_effect else 0

    @property
    def n_noise(self) -> int:
        """Trailing entries of the parameter vector: log sigmas (and log omega)."""
        return self.n_sigma + self.n_omega

    @property
    def n_parameters(self) -> int:
        return self.problem.model.n_parameters + self.n_noise

    def row_sd(self, log_sigmas: Sequence[float] | float) -> np.ndarray:
        """SD of each row's log observation."""
        sig = np.exp(np.atleast_1d(np.asarray(log_sigmas, float)))[self._sigma_index]
        return np.sqrt(sig * sig * self._w + self._extra)

    def from_prediction(self, pred: np.ndarray, log_noise: Sequence[float] | float, *,
                        method: str = "auto") -> float:
        """log L at predictions ``pred``; ``log_noise``: the log sigmas (and log omega last
        with the animal effect). ``method="quadrature"`` integrates every animal by
        Gauss-Hermite quadrature (for checks; ``"auto"``: closed form where possible)."""
        noise = np.atleast_1d(np.asarray(log_noise, float))
        if self.animal_effect:
            log_sig, omega = noise[:-1], float(np.exp(noise[-1]))
        else:
            log_sig, omega = noise, 0.0
        scale = self.row_sd(log_sig)
        logp = np.log(np.maximum(pred, _PRED_FLOOR))
        obs = self._logobs
        om2 = omega * omega
        if self.centre == "mean":  # PRED is the arithmetic mean: the log median is lower
            logp = logp - 0.5 * scale * scale
            if self.animal_effect:  # ... by half the total log variance s^2 + omega^2
                logp = logp - 0.5 * om2 * self._re
            obs = self._logdv  # a summary row's log mean against the log mean of the mean
        c = self.problem.censored
        if not self.animal_effect:
            return self._independent(obs, logp, scale, np.ones(len(c), bool))
        ll = self._independent(obs, logp, scale, ~self._re)
        return ll + self._animals(obs, logp, scale, om2, method)

    def _independent(self, obs, logp, scale, rows) -> float:
        c = self.problem.censored
        u = rows & ~c
        z = (obs[u] - logp[u]) / scale[u]
        ll = float(np.sum(-0.5 * z * z - np.log(scale[u]) - 0.5 * math.log(2 * math.pi)
                          - self._logdv[u]))
        cr = rows & c
        if cr.any():
            ll += float(np.sum(stats.norm.logcdf((self._loglloq[cr] - logp[cr]) / scale[cr])))
        return ll

    def _animals(self, obs, logp, scale, om2, method) -> float:
        """Sum over animals of log of the integral over eta (random-effect rows only)."""
        if method not in ("auto", "quadrature"):
            raise FitError(f"method: unknown value {method!r}; allowed: auto, quadrature")
        c = self.problem.censored
        a = self._animal
        na = self.n_animals
        closed = self._re & ~self._cens_animal[np.maximum(a, 0)]
        ll = 0.0
        if method == "auto" and closed.any():
            # multivariate normal, covariance diag(s^2) + omega^2 J (Sherman-Morrison)
            ai = a[closed]
            s2 = scale[closed] ** 2
            w = 1.0 / s2
            r = obs[closed] - logp[closed]
            W = np.bincount(ai, w, minlength=na)
            S = np.bincount(ai, w * r, minlength=na)
            den = 1.0 + om2 * W
            ll += float(-0.5 * np.sum(np.log(s2)) - 0.5 * len(ai) * math.log(2 * math.pi)
                        - 0.5 * np.sum(np.log(den)) - 0.5 * np.sum(w * r * r)
                        + 0.5 * np.sum(om2 * S * S / den) - np.sum(self._logdv[closed]))
            rows = self._q_rows
            apos, starts, n_q = self._q_pos, self._q_starts, len(self._q_animals)
        else:
            rows = np.flatnonzero(self._re)
            rows = rows[np.argsort(a[rows], kind="stable")]
            _, starts = np.unique(a[rows], return_index=True)
            apos = np.searchsorted(np.unique(a[rows]), a[rows])
            n_q = len(starts)
        if len(rows) == 0:
            return ll
        cq = c[rows]
        sq = scale[rows]
        # adaptive centre / scale: the normal posterior of eta given the quantified rows
        if self.adaptive:
            wq = np.where(cq, 0.0, 1.0 / sq ** 2)
            rq = np.where(cq, 0.0, obs[rows] - logp[rows])
            W = np.bincount(apos, wq, minlength=n_q)
            S = np.bincount(apos, wq * rq, minlength=n_q)
            m = om2 * S / (1.0 + om2 * W)
            v = om2 / (1.0 + om2 * W)
        else:
            m = np.zeros(n_q)
            v = np.full(n_q, om2)
        eta = m[:, None] + np.sqrt(2.0 * v)[:, None] * self._gh_x[None, :]  # (animals, K)
        e_rows = eta[apos]  # (rows, K)
        dens = np.empty_like(e_rows)
        u = ~cq
        z = (obs[rows][u, None] - logp[rows][u, None] - e_rows[u]) / sq[u, None]
        dens[u] = (-0.5 * z * z - np.log(sq[u])[:, None] - 0.5 * math.log(2 * math.pi)
                   - self._logdv[rows][u, None])
        if cq.any():
            dens[cq] = stats.norm.logcdf((self._loglloq[rows][cq, None] - logp[rows][cq, None]
                                          - e_rows[cq]) / sq[cq, None])
        per = np.add.reduceat(dens, starts, axis=0)  # (animals, K)
        log_prior = -0.5 * np.log(2 * math.pi * om2) - eta * eta / (2.0 * om2)
        terms = self._gh_logw[None, :] + per + log_prior
        from scipy.special import logsumexp
        ll += float(np.sum(logsumexp(terms, axis=1) + 0.5 * np.log(2.0 * v)))
        return ll

    def __call__(self, x: Sequence[float]) -> float:
        x = np.asarray(x, float)
        k = self.n_noise
        try:
            pred = self.problem.predict(x[:-k])
        except MscpkError:
            return -np.inf
        ll = self.from_prediction(pred, x[-k:])
        return ll if math.isfinite(ll) else -1e300


# ---------------------------------------------------------------------------------------
# Optimisation and profiles
# ---------------------------------------------------------------------------------------


def _bounds(loglik: LogLikelihood) -> tuple[np.ndarray, np.ndarray]:
    m = loglik.problem.model
    k = loglik.n_sigma
    lo = np.append(m.lower, np.full(k, math.log(SIGMA_BOUNDS[0])))
    hi = np.append(m.upper, np.full(k, math.log(SIGMA_BOUNDS[1])))
    if getattr(loglik, "n_omega", 0):
        lo = np.append(lo, math.log(OMEGA_BOUNDS[0]))
        hi = np.append(hi, math.log(OMEGA_BOUNDS[1]))
    return lo, hi


def _minimise(fun, x0, lo, hi) -> optimize.OptimizeResult:
    x0 = np.clip(np.asarray(x0, float), lo, hi)
    res = optimize.minimize(fun, x0, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                            options={"maxiter": 200, "eps": 1e-6})
    return res


def optimise(loglik: LogLikelihood, *, n_starts: int = 4, seed: int = 0
             ) -> tuple[np.ndarray, float, bool, list[float]]:
    """Maximise ``loglik``: returns (x_best, logL_best, converged, logL of every start)."""
    if n_starts < 1:
        raise FitError("n_starts must be at least 1")
    lo, hi = _bounds(loglik)
    m = loglik.problem.model
    k = getattr(loglik, "n_noise", loglik.n_sigma)
    rng = np.random.default_rng(seed)
    centre = np.append(m.x0, np.full(loglik.n_sigma, math.log(0.5)))
    if k > loglik.n_sigma:  # omega starts at 0.3
        centre = np.append(centre, math.log(0.3))
    starts = [centre]
    if n_starts > 1:
        ns = n_starts - 1
        # Latin hypercube in log space, +-log(10) around the defaults (sigmas start at 0.5,
        # omega at 0.3)
        u = (rng.permuted(np.tile(np.arange(ns), (len(centre), 1)), axis=1).T
             + rng.random((ns, len(centre)))) / ns
        span = math.log(10.0)
        for row in u:
            s = centre + (2 * row - 1) * span
            s[-k:] = centre[-k:]
            starts.append(np.clip(s, lo, hi))

    def neg(x):
        return -loglik(x)

    best = None
    lls = []
    for s in starts:
        res = _minimise(neg, s, lo, hi)
        lls.append(float(-res.fun))
        if best is None or res.fun < best.fun:
            best = res
    return np.asarray(best.x), float(-best.fun), bool(best.success), lls


def _profile_value(loglik, i, value, x_start, lo, hi) -> tuple[float, np.ndarray]:
    """Max of log L with parameter i fixed at ``value`` (others re-optimised)."""
    free = [j for j in range(len(x_start)) if j != i]

    def neg(z):
        x = np.empty(len(x_start))
        x[i] = value
        x[free] = z
        return -loglik(x)

    res = _minimise(neg, x_start[free], lo[free], hi[free])
    x = np.empty(len(x_start))
    x[i] = value
    x[free] = res.x
    return float(-res.fun), x


def profile_ci(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, i: int,
               *, first_step: float = 0.1, growth: float = 2.0, bisections: int = 3
               ) -> tuple[float, float, bool, bool]:
    """95 % profile interval of log-parameter ``i``.

    Returns ``(low, high, low_at_bound, high_at_bound)`` on the log scale; a side at the
    bound means the profile never dropped by :data:`PROFILE_THRESHOLD` there.
    """
    lo, hi = _bounds(loglik)
    target = ll_best - PROFILE_THRESHOLD
    result = []
    for direction in (-1.0, 1.0):
        limit = lo[i] if direction < 0 else hi[i]
        inner, x_inner = float(x_best[i]), np.array(x_best)
        step = first_step
        found = None
        while True:
            value = inner + direction * step
            at_limit = (value <= limit) if direction < 0 else (value >= limit)
            if at_limit:
                value = limit
            ll, x = _profile_value(loglik, i, value, x_inner, lo, hi)
            if ll < target:
                found = (inner, value)
                break
            if at_limit:
                break
            # the profile may have found a better optimum; keep going from there
            inner, x_inner = value, x
            step *= growth
        if found is None:
            result.append((float(limit), True))
            continue
        a, b = found  # ll(a) >= target > ll(b)
        for _ in range(bisections):
            mid = 0.5 * (a + b)
            ll, x = _profile_value(loglik, i, mid, x_inner, lo, hi)
            if ll >= target:
                a, x_inner = mid, x
            else:
                b = mid
        result.append((0.5 * (a + b), False))
    (low, low_b), (high, high_b) = result
    return low, high, low_b, high_b



# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit`.

    ``parameters``: name -> {estimate, ci_low, ci_high, unit, identifiable} (natural scale).
    ``sigmas``: residual SD(s) on the log scale, by assay (``{"all": s}`` when shared);
    ``sigma``: the shared sigma, or with several the pooled value
    ``sqrt(sum n_k sigma_k^2 / sum n_k)`` over the rows of each assay.
    ``objective``: -2 log L at the optimum.
    ``predictions``: the data rows with ``FITGROUP`` (the group / scenario used), ``UNIT``
    (unit of DV and PRED), ``PRED`` (model prediction) and ``LOGRES`` (log DV - log PRED;
    summary rows: log-scale mean - log PRED; NaN for censored rows).
    ``groups``: group name -> design (scenario name, label, doses, assays, rows).
    ``animal_effect``: whether the animal random effect was fitted; then ``omega`` (log-scale
    SD of the per-animal factor), ``omega_ci`` (its 95 % profile interval, NaN without
    profiles; a side at :data:`OMEGA_BOUNDS` means no drop of 1.92 there) and
    ``n_animals`` (animals with individual rows; summary rows have no random effect).
    """

    parameters: dict[str, dict[str, Any]]
    sigma: float
    objective: float
    converged: bool
    n_obs: int
    n_blq: int
    predictions: pd.DataFrame = field(repr=False)
    start_objectives: tuple[float, ...] = ()
    n_starts: int = 1
    seed: int = 0
    scenario: Any = field(default=None, repr=False, compare=False)
    fitted_params: Any = field(default=None, repr=False, compare=False)
    sigmas: dict[str, float] = field(default_factory=dict)
    sigma_mode: str = "shared"
    n_summary: int = 0
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: Any = field(default=None, repr=False, compare=False)
    theta_log: tuple[float, ...] = ()
    centre: str = "median"
    animal_effect: bool = False
    omega: float | None = None
    omega_ci: tuple[float, float] | None = None
    n_animals: int | None = None

    def to_dict(self) -> dict[str, Any]:
        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        pred = self.predictions
        cols = [c for c in ("ROW", "FITGROUP", "GROUP", "ID", "TIME", "SITE", "ASSAY", "ROUTE",
                            "DOSE", "DV", "UNIT", "N", "SD", "CENS", "LLOQ", "PRED", "LOGRES")
                if c in pred.columns]
        rows = []
        for rec in pred[cols].to_dict("records"):
            rows.append({k: (num(v) if isinstance(v, (float, np.floating)) else
                             int(v) if isinstance(v, (np.integer,)) else v)
                         for k, v in rec.items()})
        return {
            "parameters": {n: {"estimate": num(p["estimate"]), "ci_low": num(p["ci_low"]),
                               "ci_high": num(p["ci_high"]), "unit": p["unit"],
                               "identifiable": bool(p["identifiable"]),
                               "ci_level": 0.95, "ci_method": "profile likelihood"}
                           for n, p in self.parameters.items()},
            "objective": num(self.objective),
            "converged": bool(self.converged),
            "sigma": num(self.sigma),
            "sigmas": {k: num(v) for k, v in self.sigmas.items()},
            "sigma_mode": self.sigma_mode,
            "centre": self.centre,
            "error_model": ("log-normal (sigma " + self.sigma_mode.replace("_", " ")
                            + ("" if self.centre == "median" else
                               "; PRED = arithmetic mean, log DV ~ N(log PRED - s^2/2, s^2)")
                            + (""
                               if not self.animal_effect else
                               "; animal random effect log DV_ij = mu_j + eta_i + eps_ij, eta_i ~ "
                               "N(0, omega^2) integrated out per animal"
                               + ("" if self.centre == "median" else
                                  ", mu_j = log PRED - (s^2 + omega^2)/2")
                               + ", not applied to summary rows")
                            + "); BLQ censored (M3); summary rows as log-scale means with "
                            "variance (sigma^2 + sdlog^2)/N, sdlog = sqrt(log(1 + (SD/mean)^2))"),
            "animal_effect": bool(self.animal_effect),
            "omega": None if self.omega is None else num(self.omega),
            "omega_ci": (None if self.omega_ci is None else
                         [num(self.omega_ci[0]), num(self.omega_ci[1])]),
            "n_animals": None if self.n_animals is None else int(self.n_animals),
            "n_obs": int(self.n_obs),
            "n_blq": int(self.n_blq),
            "n_summary": int(self.n_summary),
            "groups": self.groups,
            "n_starts": int(self.n_starts),
            "seed": int(self.seed),
            "start_objectives": [num(v) for v in self.start_objectives],
            "predictions": rows,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _load(sc: Any) -> Any:
    if isinstance(sc, (str, Path)):
        return load_scenario(sc)
    return sc


def _prepare(scenario: Any, data: Any, scenarios: Any
             ) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """(combined frame, group -> scenario, each row's group)."""
    if scenarios is None and isinstance(scenario, (Mapping, list, tuple)):
        scenarios, scenario = scenario, None
    if scenarios is None:
        if scenario is None:
            raise FitError("give a scenario (or scenarios={group: Scenario})")
        if data is None:
            raise FitError("no data to fit")
        frame = _as_frame(data).reset_index(drop=True)
        scen, names = group_scenarios(_load(scenario), frame)
        return frame, scen, names
    if scenario is not None:
        raise FitError("give either a base scenario or scenarios=..., not both")
    if isinstance(scenarios, Mapping):
        if data is None:
            raise FitError("scenarios={group: Scenario} needs data=")
        if not scenarios:
            raise FitError("scenarios={} is empty")
        frame = _as_frame(data).reset_index(drop=True)
        groups = frame["GROUP"].astype(str) if "GROUP" in frame else pd.Series(["all"] * len(frame))
        present = list(dict.fromkeys(groups))
        mapping = {str(k): v for k, v in scenarios.items()}
        if present == ["all"] and len(mapping) == 1 and "all" not in mapping:
            mapping = {"all": next(iter(mapping.values()))}
        missing = [g for g in present if g not in mapping]
        if missing:
            g = missing[0]
            raise FitError(f"GROUP {g!r} ({_rows_text(_row_numbers(frame, (groups == g).to_numpy()))}) "
                           f"has no scenario; scenarios are given for: "
                           f"{', '.join(map(repr, mapping))}")
        unused = [g for g in mapping if g not in present]
        if unused:
            raise FitError(f"scenario given for GROUP {unused[0]!r}, which has no data rows; "
                           f"data groups: {', '.join(map(repr, present))}")
        scen: dict[str, Any] = {}
        names = [""] * len(frame)
        for g in present:
            mask = (groups == g).to_numpy()
            sub = frame[mask]
            s, sub_names = group_scenarios(_load(mapping[g]), sub)
            scen.update(s)
            for i, nm in zip(np.flatnonzero(mask), sub_names):
                names[i] = nm
        return frame, scen, names
    if data is not None:
        raise FitError("with scenarios=[(scenario, data), ...] give the data in the pairs, "
                       "not as data=")
    pairs = list(scenarios)
    if not pairs:
        raise FitError("scenarios=[] is empty")
    frames, scen, names = [], {}, []
    for k, pair in enumerate(pairs, 1):
        try:
            sc_k, data_k = pair
        except (TypeError, ValueError):
            raise FitError(f"scenarios[{k}] must be a (scenario, data) pair") from None
        fr = _as_frame(data_k).reset_index(drop=True).copy()
        fr["DATASET"] = k
        s, nm = group_scenarios(_load(sc_k), fr, prefix=f"dataset {k}/")
        scen.update(s)
        names += nm
        frames.append(fr)
    frame = pd.concat(frames, ignore_index=True)
    return frame, scen, names


def fit(scenario: Any = None, data: StudyData | pd.DataFrame | None = None,
        estimate: Sequence[str] | str | None = None, *, scenarios: Any = None,
        n_starts: int = 4, seed: int = 0, profile: bool = True, sigma: str = "auto",
        label: str | None = None, centre: str = "median",
        animal_effect: bool = False) -> FitResult:
    """Estimate the named parameters from ``data`` (see the module docstring).

    ``scenario``: the base scenario; each data GROUP gets a variant (DOSE, ROUTE columns).
    ``scenarios``: instead, ``{group: Scenario}`` (one per data group) or a list of
    ``(scenario, data)`` pairs (then ``data`` is not given). Scenarios may be TOML paths.
    ``sigma``: ``"auto"`` (one per assay when several assays, else shared), ``"shared"`` or
    ``"per_assay"``. ``label``: label for the detection layer (default each product's).
    ``centre``: ``"median"`` (default) or ``"mean"``, what the prediction is in the
    log-normal error model; use ``"mean"`` for virtual studies of
    :func:`mscpk.analysis.detection.simulate_study`, whose noise has mean 1 (see the module docstring).
    ``animal_effect``: add a per-animal random effect (log-scale SD omega, estimated) shared
    by all rows of one ID, integrated out of the likelihood; use it when animals give several
    sites (see the module docstring). The result then reports ``omega`` and ``omega_ci``.

    Raises :class:`FitError` for unknown names, unusable data or a failed optimisation.
    """
    if estimate is None:
        raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
    if isinstance(estimate, str):
        estimate = [estimate]
    frame, scen, names = _prepare(scenario, data, scenarios)
    models = {g: ForwardModel(sc, estimate, label=label) for g, sc in scen.items()}
    model = JointModel(models)
    problem = Problem(model, frame, groups=names)
    loglik = LogLikelihood(problem, sigma=sigma, centre=centre, animal_effect=animal_effect)
    x_best, ll_best, converged, lls = optimise(loglik, n_starts=n_starts, seed=seed)
    if not math.isfinite(ll_best) or ll_best < -1e299:
        raise FitError("the optimisation found no finite likelihood")
    k = loglik.n_noise
    theta = x_best[:-k]
    params: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(model.names):
        if profile:
            low, high, lb, hb = profile_ci(loglik, x_best, ll_best, i)
            ci_low, ci_high, ident = math.exp(low), math.exp(high), not (lb or hb)
        else:
            ci_low = ci_high = float("nan")
            ident = True
        params[name] = {"estimate": math.exp(x_best[i]), "ci_low": ci_low,
                        "ci_high": ci_high, "unit": model.base.record(name).unit,
                        "identifiable": ident}
    pred = problem.predict(theta)
    out = problem.frame.copy()
    out["FITGROUP"] = names
    out["UNIT"] = problem.units
    out["PRED"] = pred
    with np.errstate(divide="ignore", invalid="ignore"):
        out["LOGRES"] = np.where(problem.censored, np.nan,
                                 loglik._logobs - np.log(np.maximum(pred, _PRED_FLOOR)))
    sig_vals = np.exp(x_best[len(theta):len(theta) + loglik.n_sigma])
    sigmas = {key: float(v) for key, v in zip(loglik.sigma_keys, sig_vals)}
    counts = np.bincount(loglik._sigma_index, minlength=loglik.n_sigma)
    omega = omega_ci = n_animals = None
    if animal_effect:
        omega = float(math.exp(x_best[-1]))
        n_animals = int(loglik.n_animals)
        if profile:
            lo_o, hi_o, _, _ = profile_ci(loglik, x_best, ll_best, len(x_best) - 1)
            omega_ci = (math.exp(lo_o), math.exp(hi_o))
        else:
            omega_ci = (float("nan"), float("nan"))
    pooled = float(math.sqrt(np.sum(counts * sig_vals ** 2) / np.sum(counts)))
    groups_info: dict[str, dict[str, Any]] = {}
    for g, m in models.items():
        idx = problem.group_rows[g]
        sc = m.scenario
        groups_info[g] = {
            "scenario": sc.name, "species": sc.subject.species, "label": m.label_name,
            "origin": sc.product.origin,
            "doses": [{"route": d.route, "cells": d.cells, "cells_per_kg": d.cells_per_kg,
                       "time_h": d.time_h, "site": d.site} for d in sc.dose],
            "assays": sorted({problem.assays[i] or _NO_ASSAY for i in idx}),
            "n_obs": int(len(idx)),
        }
    first = next(iter(models.values()))
    return FitResult(parameters=params, sigma=pooled, objective=-2 * ll_best,
                     converged=converged, n_obs=problem.n_obs, n_blq=problem.n_blq,
                     predictions=out, start_objectives=tuple(-2 * v for v in lls),
                     n_starts=n_starts, seed=seed, scenario=first.scenario,
                     fitted_params=model.parameter_set(theta), sigmas=sigmas,
                     sigma_mode=loglik.sigma_mode, n_summary=problem.n_summary,
                     groups=groups_info, model=model, theta_log=tuple(float(t) for t in theta),
                     centre=centre, animal_effect=bool(animal_effect), omega=omega,
                     omega_ci=omega_ci, n_animals=n_animals)


_MAX_CURVE_PANELS = 24


def plot_fit(result: FitResult, path: str | Path) -> Path:
    """Diagnostic figure: observed vs predicted, log residuals vs time, fitted curves over
    the data per group, site and assay (curves need ``result.model``; BLQ rows drawn at the
    LLOQ as open triangles; at most 24 curve panels)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    pred = result.predictions
    n = len(pred)
    grp = pred["FITGROUP"] if "FITGROUP" in pred else pd.Series(["*"] * n, index=pred.index)
    assay = (pred["ASSAY"].fillna("").astype(str) if "ASSAY" in pred
             else pd.Series([""] * n, index=pred.index))
    unit = pred["UNIT"] if "UNIT" in pred else pd.Series(["cells"] * n, index=pred.index)
    keys = sorted(set(zip(grp, pred["SITE"], assay)))[:_MAX_CURVE_PANELS]
    n_panels = 2 + len(keys)
    ncol = min(3, n_panels)
    nrow = math.ceil(n_panels / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.5 * ncol, 3.6 * nrow), squeeze=False)
    axes = axes.ravel()
    cens = pred["CENS"].to_numpy(int) == 1 if "CENS" in pred else np.zeros(n, bool)
    ax = axes[0]
    for u in sorted(set(unit)):
        um = (unit == u).to_numpy()
        ax.loglog(pred["PRED"][~cens & um], pred["DV"][~cens & um], "o", ms=4,
                  label=f"observed [{u}]")
    if cens.any():
        ax.loglog(pred["PRED"][cens], pred["LLOQ"][cens], "v", mfc="none", ms=5, label="BLQ (LLOQ)")
    vals = pd.concat([pred["PRED"], pred["DV"].dropna()])
    vals = vals[vals > 0]
    if len(vals):
        lim = [vals.min() / 2, vals.max() * 2]
        ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("observed")
    ax.set_title("observed vs predicted")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(pred["TIME"][~cens], pred["LOGRES"][~cens], "o", ms=4)
    ax.axhline(0, color="k", lw=0.8)
    for s in (-2, 2):
        ax.axhline(s * result.sigma, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("log(DV) - log(PRED)")
    ax.set_title("residuals vs time")
    model = result.model
    tmax = float(pred["TIME"].max())
    grid = np.unique(np.concatenate([np.linspace(0, tmax * 1.05, 120), pred["TIME"]]))
    for k, (g, site, a) in enumerate(keys):
        ax = axes[2 + k]
        sel = ((grp == g) & (pred["SITE"] == site) & (assay == a)).to_numpy()
        sub = pred[sel]
        sc = cens[sel]
        ax.semilogy(sub["TIME"][~sc], sub["DV"][~sc], "o", ms=4, label="observed")
        if sc.any():
            ax.semilogy(sub["TIME"][sc], sub["LLOQ"][sc], "v", mfc="none", ms=5, label="BLQ")
        fm = None
        if isinstance(model, JointModel):
            fm = model.models.get(g)
        elif isinstance(model, ForwardModel):
            fm = model
        if fm is not None and result.theta_log:
            try:
                s_list, arr = fm.signals(result.theta_log, grid, [a])[a]
                y = arr[:, s_list.index(site)]
                ax.semilogy(grid, np.maximum(y, _PRED_FLOOR), "-", lw=1.2, label="fit")
            except (MscpkError, ValueError):
                pass
            pos = sub["DV"].dropna()
            lowest = min([v for v in [pos.min() if len(pos) else None,
                                      sub["LLOQ"].min() if "LLOQ" in sub else None]
                          if v is not None and v > 0] or [1.0])
            ax.set_ylim(bottom=lowest / 10)
        title = f"{site}" + (f" [{a}]" if a else "")
        if g not in ("*", "all") and len(set(grp)) > 1:
            title = f"{g}: {title}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time [h]")
        ax.set_ylabel(str(sub["UNIT"].iloc[0]) if "UNIT" in sub and len(sub) else "cells")
        ax.legend(fontsize=7)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
