"""``calibrate``: the calibration studies -> :class:`CalibrationLikelihood` -> multi-start
optimisation -> profile CIs -> :class:`CalibrationResult` (``to_json``: DIR/calibration.json
of ``mscpk calibrate``)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mscpk.analysis.calibration.data import calibration_terms
from mscpk.analysis.calibration.likelihood import CalibrationLikelihood, predict
from mscpk.analysis.fitting.likelihood import WORST_LOGLIK
from mscpk.analysis.fitting.optimise import optimise, profile_ci
from mscpk.analysis.fitting.run import BOUND_TOLERANCE
from mscpk.errors import FitError
from mscpk.inputs.studies import Study, load_study, study_ids
from mscpk.utils import single_threaded_blas

__all__ = ["CalibrationResult", "calibrate", "calibration_problem", "calibration_studies", "with_model_observations"]


def calibration_studies(studies: Sequence[str | Study] | None = None) -> list[Study]:
    """The studies to calibrate on: those named (ids or :class:`Study` objects), else every
    library study with ``used_for = "calibration"`` and a quantitative observation. A
    validation study is refused (:class:`FitError`)."""
    if not studies:
        chosen = [load_study(s) for s in study_ids()]
        return [s for s in chosen if s.used_for == "calibration" and calibration_terms(s)]
    out = []
    for s in studies:
        study = s if isinstance(s, Study) else load_study(str(s))
        if study.used_for != "calibration":
            raise FitError(f"--study {study.id!r}: used_for = {study.used_for!r}; calibrate "
                           "uses calibration studies only (never a validation study)")
        out.append(study)
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise FitError(f"--study: a study named twice: {ids}")
    return out


def calibration_problem(studies: Sequence[str | Study] | None, estimate: Sequence[str] | str | None
                        ) -> tuple[list[str], list[Study], CalibrationLikelihood]:
    """``(names, studies, likelihood)`` of a joint calibration (the input check of
    :func:`calibrate` and of its PEtab export). Raises :class:`FitError`."""
    if not estimate:
        raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
    names = [estimate] if isinstance(estimate, str) else list(estimate)
    chosen = calibration_studies(studies)
    if not chosen:
        raise FitError("no calibration study with quantitative observations")
    return names, chosen, CalibrationLikelihood(chosen, names)


def with_model_observations(study: Study, values: dict[str, float]) -> Study:
    """``study`` with every observation's value replaced by the model's noise-free readout with
    ``values`` (name -> value) as parameter overrides: virtual calibration data."""
    pred = predict(study, values)
    obs = tuple(dataclasses.replace(o, value=float(p)) for o, p in zip(study.observations, pred))
    return dataclasses.replace(study, observations=obs)


@dataclass(frozen=True)
class CalibrationResult:
    """``parameters``: name -> {estimate, ci_low, ci_high, unit, identifiable, at_bound,
    default}; ``objective`` (-2 log L), ``converged``; ``studies``: id -> its terms with
    observed, predicted, log residual (log observed - log predicted; bounds: held)."""

    parameters: dict[str, dict[str, Any]]
    objective: float
    converged: bool
    studies: dict[str, list[dict[str, Any]]]
    n_starts: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        def num(v):
            return float(v) if v is not None and math.isfinite(float(v)) else None

        return {
            "parameters": {n: {**p, **{k: num(p[k]) for k in ("estimate", "ci_low", "ci_high", "default")},
                               "ci_level": 0.95, "ci_method": "profile likelihood"}
                           for n, p in self.parameters.items()},
            "objective": num(self.objective), "converged": bool(self.converged),
            "n_starts": self.n_starts, "seed": self.seed,
            "studies": {sid: [{k: (num(v) if isinstance(v, float) else v) for k, v in r.items()}
                              for r in rows] for sid, rows in self.studies.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _residuals(loglik: CalibrationLikelihood, x: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for study, terms, pred in zip(loglik.studies, loglik.terms, loglik.predictions(x)):
        rows = []
        for t in terms:
            p = float(pred[t.index])
            held = None if t.kind == "value" else bool(p <= t.value if t.kind == "upper" else p >= t.value)
            rows.append({"site": t.site, "time_h": t.time_h, "unit": t.unit, "kind": t.kind,
                         "observed": t.value, "predicted": p, "sdlog": t.sdlog, "noise": t.noise,
                         "log_residual": math.log(t.value / p) if t.kind == "value" and p > 0 else None,
                         "bound_held": held})
        out[study.id] = rows
    return out


def calibrate(studies: Sequence[str | Study] | None = None,
              estimate: Sequence[str] | str | None = None, *, n_starts: int = 2, seed: int = 0,
              profile: bool = True) -> CalibrationResult:
    """Estimate ``estimate`` (names as ``mscpk params`` lists them) jointly from the
    calibration ``studies`` (default: all with quantitative observations; docs/fitting.md,
    "Joint calibration"), with profile-likelihood 95 % intervals.

    >>> r = calibrate(["toma2009"], "Systemic arrested cell death half-life [h]", profile=False)
    >>> round(r.parameters["Systemic arrested cell death half-life [h]"]["estimate"])
    28

    Raises :class:`FitError` for no or unknown names, a validation study, a study without
    quantitative observations or a failed optimisation.
    """
    names, chosen, loglik = calibration_problem(studies, estimate)
    with single_threaded_blas():
        x, ll, ok, _ = optimise(loglik, n_starts=n_starts, seed=seed)
        if ll <= WORST_LOGLIK:
            raise FitError("the optimisation found no finite likelihood")
        lo, hi = loglik.bounds()
        params = {}
        for i, n in enumerate(names):
            low = high = math.nan
            ident = True
            if profile:
                a, b, la, hb = profile_ci(loglik, x, ll, i)
                low, high, ident = math.exp(a), math.exp(b), not (la or hb)
            at = ("lower" if x[i] <= lo[i] + BOUND_TOLERANCE else
                  "upper" if x[i] >= hi[i] - BOUND_TOLERANCE else None)
            params[n] = {"estimate": math.exp(x[i]), "ci_low": low, "ci_high": high,
                         "unit": loglik.units[n], "identifiable": ident, "at_bound": at,
                         "default": float(f"{math.exp(loglik.x0[i]):.12g}")}
    converged = ok and not any(p["at_bound"] for p in params.values())
    return CalibrationResult(params, -2 * ll, converged, _residuals(loglik, x), n_starts, seed)
