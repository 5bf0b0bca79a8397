"""Result of a fit: estimates with profile-likelihood CIs, noise parameters, predictions
per data row; ``to_dict`` / ``to_json`` give the fit output JSON (INTERFACE.md)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


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
    profiles; a side at :data:`~mscpk.analysis.fitting.layout.OMEGA_BOUNDS` means no drop of
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
        """The fit output JSON as a dict (non-finite numbers as None)."""
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
            "error_model": error_model(self.sigma_mode, self.centre, self.animal_effect),
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
