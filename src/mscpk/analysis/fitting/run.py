"""``fit``: groups -> scenarios -> forward models -> problem -> likelihood -> multi-start
optimisation -> profile CIs -> :class:`~mscpk.analysis.fitting.result.FitResult`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mscpk.analysis.fitting.data import NO_ASSAY
from mscpk.analysis.fitting.forward import PRED_FLOOR, ForwardModel, JointModel
from mscpk.analysis.fitting.groups import prepare
from mscpk.analysis.fitting.likelihood import LogLikelihood
from mscpk.analysis.fitting.optimise import optimise
from mscpk.analysis.fitting.problem import Problem
from mscpk.analysis.fitting.profile import profile_ci
from mscpk.analysis.fitting.result import FitResult
from mscpk.errors import FitError
from mscpk.inputs.studydata import StudyData


def _estimates(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, profile: bool
               ) -> dict[str, dict[str, Any]]:
    """name -> estimate, profile CI, unit, identifiable (natural scale)."""
    base = loglik.problem.model.base
    out: dict[str, dict[str, Any]] = {}
    for name in loglik.layout.names:
        i = loglik.layout.index(name)
        if profile:
            low, high, lb, hb = profile_ci(loglik, x_best, ll_best, i)
            ci_low, ci_high, ident = math.exp(low), math.exp(high), not (lb or hb)
        else:
            ci_low = ci_high = float("nan")
            ident = True
        out[name] = {"estimate": math.exp(x_best[i]), "ci_low": ci_low, "ci_high": ci_high,
                     "unit": base.record(name).unit, "identifiable": ident}
    return out


def _omega(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, profile: bool
           ) -> tuple[float, tuple[float, float]]:
    """omega and its profile CI (NaN without profiles)."""
    i = loglik.layout.omega
    if not profile:
        return float(math.exp(x_best[i])), (float("nan"), float("nan"))
    lo, hi, _, _ = profile_ci(loglik, x_best, ll_best, i)
    return float(math.exp(x_best[i])), (math.exp(lo), math.exp(hi))


def _predictions(loglik: LogLikelihood, theta: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The data rows with FITGROUP, UNIT, PRED and LOGRES."""
    problem = loglik.problem
    pred = problem.predict(theta)
    out = problem.frame.copy()
    out["FITGROUP"] = names
    out["UNIT"] = problem.units
    out["PRED"] = pred
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
    x_best, ll_best, converged, lls = optimise(loglik, n_starts=n_starts, seed=seed)
    if not math.isfinite(ll_best) or ll_best < -1e299:
        raise FitError("the optimisation found no finite likelihood")
    layout = loglik.layout
    theta = x_best[layout.theta]
    params = _estimates(loglik, x_best, ll_best, profile)
    sig_vals = np.exp(x_best[layout.sigmas])
    counts = np.bincount(loglik.sigma_index, minlength=layout.n_sigma)
    pooled = float(math.sqrt(np.sum(counts * sig_vals ** 2) / np.sum(counts)))
    omega, omega_ci = _omega(loglik, x_best, ll_best, profile) if animal_effect else (None, None)
    return FitResult(parameters=params, sigma=pooled, objective=-2 * ll_best,
                     converged=converged, n_obs=problem.n_obs, n_blq=problem.n_blq,
                     predictions=_predictions(loglik, theta, names),
                     start_objectives=tuple(-2 * v for v in lls),
                     n_starts=n_starts, seed=seed, scenario=next(iter(models.values())).scenario,
                     fitted_params=model.parameter_set(theta),
                     sigmas={key: float(v) for key, v in zip(layout.sigma_keys, sig_vals)},
                     sigma_mode=loglik.sigma_mode, n_summary=problem.n_summary,
                     groups=_groups_info(problem, models), model=model,
                     theta_log=tuple(float(t) for t in theta), centre=centre,
                     animal_effect=bool(animal_effect), omega=omega, omega_ci=omega_ci,
                     n_animals=loglik.n_animals)
