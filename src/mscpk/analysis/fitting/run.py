"""``fit``: groups -> scenarios -> forward models -> problem -> likelihood -> multi-start
optimisation -> profile CIs -> :class:`FitResult` (estimates with profile-likelihood CIs, noise
parameters, predictions per data row; ``to_dict`` / ``to_json`` give the fit output JSON,
INTERFACE.md)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mscpk.analysis.fitting.forward import PRED_FLOOR, SEARCH_FACTOR, ForwardModel, JointModel
from mscpk.analysis.fitting.groups import prepare
from mscpk.analysis.fitting.likelihood import WORST_LOGLIK, LogLikelihood
from mscpk.analysis.fitting.optimise import optimise, profile_ci
from mscpk.analysis.fitting.problem import NO_ASSAY, Problem
from mscpk.errors import FitError, MscpkWarning
from mscpk.utils import single_threaded_blas
from mscpk.inputs.studydata import StudyData

#: an estimate within this (log scale) of a search bound is reported as on the bound
BOUND_TOLERANCE = 1e-6


def error_model(sigma_mode: str, centre: str, animal_effect: bool) -> str:
    """One-line description of the error model (the ``error_model`` entry of the JSON)."""
    text = "log-normal (sigma " + sigma_mode.replace("_", " ")
    if centre != "median":
        text += "; PRED = arithmetic mean, log DV ~ N(log PRED - s^2/2, s^2)"
    if animal_effect:
        text += ("; animal random effect log DV_ij = mu_j + eta_i + eps_ij, eta_i ~ "
                 "N(0, omega^2) integrated out per animal"
                 + ("" if centre == "median" else ", mu_j = log PRED - (s^2 + omega^2)/2")
                 + ", not applied to summary rows")
    return text + ("); BLQ censored (M3); summary rows as log-scale means with "
                   "variance (sigma^2 + sdlog^2)/N, sdlog = sqrt(log(1 + (SD/mean)^2))")


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`~mscpk.analysis.fitting.fit`.

    ``parameters``: name -> {estimate, ci_low, ci_high, unit, identifiable, at_bound}
    (natural scale; ``at_bound`` ``"lower"``/``"upper"`` when the estimate sits on its search
    bound, else None). ``converged`` is False when the optimiser stopped early or an estimate
    is on a bound; ``convergence`` says which.
    ``excluded``: the rows read_study left out (ROW, COLUMN, VALUE, REASON); ``warnings``:
    data that look wrong but were fitted (rows in cells above the cells dosed by then; each
    also issued as a :class:`~mscpk.errors.MscpkWarning`).
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
    profiles; a side at :data:`~mscpk.analysis.fitting.likelihood.OMEGA_BOUNDS` means no drop of
    1.92 there) and ``n_animals`` (animals with individual rows; summary rows have none).
    ``model``, ``theta_log``: the (joint) forward model and the fitted log-parameters.
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
    convergence: str = "converged"
    excluded: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fit output JSON as a dict (non-finite numbers as None)."""
        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        pred = self.predictions
        cols = [c for c in ("ROW", "FITGROUP", "GROUP", "ID", "TIME", "SITE", "ASSAY", "ROUTE",
                            "DOSE", "DV", "UNIT", "N", "SD", "CENS", "LLOQ", "PRED", "LOGRES")
                if c in pred.columns]
        rows = [{k: (num(v) if isinstance(v, (float, np.floating)) else
                     int(v) if isinstance(v, np.integer) else v) for k, v in rec.items()}
                for rec in pred[cols].to_dict("records")]
        return {
            "parameters": {n: {"estimate": num(p["estimate"]), "ci_low": num(p["ci_low"]),
                               "ci_high": num(p["ci_high"]), "unit": p["unit"],
                               "identifiable": bool(p["identifiable"]),
                               "at_bound": p["at_bound"],
                               "ci_level": 0.95, "ci_method": "profile likelihood"}
                           for n, p in self.parameters.items()},
            "objective": num(self.objective),
            "converged": bool(self.converged),
            "convergence": self.convergence,
            "warnings": list(self.warnings),
            "excluded": [dict(e) for e in self.excluded],
            "sigma": num(self.sigma),
            "sigmas": {k: num(v) for k, v in self.sigmas.items()},
            "sigma_mode": self.sigma_mode,
            "centre": self.centre,
            "error_model": error_model(self.sigma_mode, self.centre, self.animal_effect),
            "animal_effect": bool(self.animal_effect),
            "omega": None if self.omega is None else num(self.omega),
            "omega_ci": None if self.omega_ci is None else [num(v) for v in self.omega_ci],
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


def _interval(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, i: int,
              profile: bool) -> tuple[float, float, bool]:
    """Profile CI of entry ``i`` (natural scale) and whether it is identifiable (no side at
    the bound); NaN, NaN, True without profiles."""
    if not profile:
        return math.nan, math.nan, True
    low, high, lb, hb = profile_ci(loglik, x_best, ll_best, i)
    return math.exp(low), math.exp(high), not (lb or hb)


def _estimates(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, profile: bool
               ) -> dict[str, dict[str, Any]]:
    """name -> estimate, profile CI, unit, identifiable, at_bound (natural scale)."""
    out: dict[str, dict[str, Any]] = {}
    lo, hi = loglik.bounds()
    for name in loglik.layout.names:
        i = loglik.layout.index(name)
        ci_low, ci_high, ident = _interval(loglik, x_best, ll_best, i, profile)
        at = ("lower" if x_best[i] <= lo[i] + BOUND_TOLERANCE else
              "upper" if x_best[i] >= hi[i] - BOUND_TOLERANCE else None)
        out[name] = {"estimate": math.exp(x_best[i]), "ci_low": ci_low, "ci_high": ci_high,
                     "unit": loglik.problem.model.units[name], "identifiable": ident,
                     "at_bound": at}
    return out


def _convergence(converged: bool, params: dict[str, dict[str, Any]]) -> str:
    """``"converged"``, or why not: the optimiser stopped early, or estimates on a bound."""
    if not converged:
        return "the optimiser stopped before converging (try more --n-starts)"
    on = [f"{n!r} at its {p['at_bound']} search bound ({p['estimate']:.4g} {p['unit']})"
          for n, p in params.items() if p["at_bound"]]
    if on:
        return ("; ".join(on) + ": the data do not bound the estimate within the search range "
                f"(default / {SEARCH_FACTOR:g} to default x {SEARCH_FACTOR:g}, or the allowed "
                "values)")
    return "converged"


def _excluded(data: Any, scenarios: Any) -> tuple[dict[str, Any], ...]:
    """The rows that read_study left out (``DATASET`` added for several datasets)."""
    if isinstance(data, StudyData):
        return tuple(data.excluded.to_dict("records"))
    if isinstance(scenarios, (list, tuple)):
        return tuple({"DATASET": k, **e} for k, pair in enumerate(scenarios, 1)
                     if isinstance(pair, (list, tuple)) and len(pair) == 2
                     and isinstance(pair[1], StudyData) for e in pair[1].excluded.to_dict("records"))
    return ()


def _predictions(loglik: LogLikelihood, theta: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The data rows with FITGROUP, UNIT, PRED and LOGRES."""
    problem = loglik.problem
    pred = problem.predict(theta)
    out = problem.frame.assign(FITGROUP=names, UNIT=problem.units, PRED=pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["LOGRES"] = np.where(problem.censored, np.nan,
                                 loglik.rows.logobs - np.log(np.maximum(pred, PRED_FLOOR)))
    return out


def _groups_info(problem: Problem, models: dict[str, ForwardModel]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for g, m in models.items():
        idx = problem.group_rows[g]
        sc = m.scenario
        out[g] = {
            "scenario": sc.name, "species": sc.subject.species, "label": m.label_name,
            "origin": sc.product.origin,
            "doses": [{"route": d.route, "cells": d.cells, "cells_per_kg": d.cells_per_kg,
                       "time_h": d.time_h, "site": d.site} for d in sc.dose],
            "assays": sorted({problem.assays[i] or NO_ASSAY for i in idx}),
            "n_obs": int(len(idx)),
        }
    return out


def fit(scenario: Any = None, data: StudyData | pd.DataFrame | None = None,
        estimate: Sequence[str] | str | None = None, *, scenarios: Any = None,
        n_starts: int = 4, seed: int = 0, profile: bool = True, sigma: str = "auto",
        label: str | None = None, centre: str = "median",
        animal_effect: bool = False) -> FitResult:
    """Estimate the named parameters from ``data`` (maximum likelihood; docs/fitting.md).

    ``scenario``: the base scenario; each data GROUP gets a variant (DOSE, ROUTE columns).
    ``scenarios``: instead, ``{group: Scenario}`` (one per data group) or a list of
    ``(scenario, data)`` pairs (then ``data`` is not given). Scenarios may be TOML paths.
    ``sigma``: ``"auto"`` (one per assay when several assays, else shared), ``"shared"`` or
    ``"per_assay"``. ``label``: label for the detection layer (default each product's).
    ``centre``: ``"median"`` (default) or ``"mean"``, what the prediction is in the
    log-normal error model; use ``"mean"`` for virtual studies of
    :func:`mscpk.analysis.detection.simulate_study`, whose noise has mean 1.
    ``animal_effect``: add a per-animal random effect (log-scale SD omega, estimated) shared
    by all rows of one ID, integrated out of the likelihood; use it when animals give several
    sites. The result then reports ``omega`` and ``omega_ci``.

    Raises :class:`FitError` for unknown names, unusable data or a failed optimisation.
    """
    if estimate is None:
        raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
    if isinstance(estimate, str):
        estimate = [estimate]
    frame, scen, names = prepare(scenario, data, scenarios)
    models = {g: ForwardModel(sc, estimate, label=label) for g, sc in scen.items()}
    model = JointModel(models)
    problem = Problem(model, frame, groups=names)
    loglik = LogLikelihood(problem, sigma=sigma, centre=centre, animal_effect=animal_effect)
    with single_threaded_blas():  # small products: OpenBLAS threads only spin-wait (2x slower when busy)
        x_best, ll_best, converged, lls = optimise(loglik, n_starts=n_starts, seed=seed)
        if not math.isfinite(ll_best) or ll_best <= WORST_LOGLIK:
            raise FitError("the optimisation found no finite likelihood")
        params = _estimates(loglik, x_best, ll_best, profile)
    layout = loglik.layout
    theta = x_best[layout.theta]
    sig_vals = np.exp(x_best[layout.sigmas])
    counts = np.bincount(loglik.sigma_index, minlength=layout.n_sigma)
    pooled = float(math.sqrt(np.sum(counts * sig_vals ** 2) / np.sum(counts)))
    omega = omega_ci = None
    if animal_effect:
        omega = math.exp(x_best[layout.omega])
        omega_ci = _interval(loglik, x_best, ll_best, layout.omega, profile)[:2]
    convergence = _convergence(converged, params)
    data_warnings = tuple(problem.dose_warnings())
    for text in data_warnings:
        warnings.warn(text, MscpkWarning, stacklevel=2)
    return FitResult(parameters=params, sigma=pooled, objective=-2 * ll_best,
                     converged=convergence == "converged", convergence=convergence,
                     excluded=_excluded(data, scenarios), warnings=data_warnings,
                     n_obs=problem.n_obs, n_blq=problem.n_blq,
                     predictions=_predictions(loglik, theta, names),
                     start_objectives=tuple(-2 * v for v in lls),
                     n_starts=n_starts, seed=seed,
                     sigmas={key: float(v) for key, v in zip(layout.sigma_keys, sig_vals)},
                     sigma_mode=loglik.sigma_mode, n_summary=problem.n_summary,
                     groups=_groups_info(problem, models), model=model,
                     theta_log=tuple(float(t) for t in theta), centre=centre,
                     animal_effect=bool(animal_effect), omega=omega, omega_ci=omega_ci,
                     n_animals=loglik.n_animals)
