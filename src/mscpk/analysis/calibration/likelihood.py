"""The joint calibration likelihood: every study's scenario with the estimated parameters as
``[parameters]`` overrides, read as the qualification reads it (:func:`study_rows`), each
observation a log-normal term (or a censored one for a reported bound); the studies' terms
added up. The same protocol as :class:`~mscpk.analysis.fitting.LogLikelihood` (``bounds``,
``start``, ``layout``, call), so :func:`~mscpk.analysis.fitting.optimise` and
:func:`~mscpk.analysis.fitting.profile_ci` work on it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from mscpk.analysis.calibration.data import CalibrationTerm, calibration_terms
from mscpk.analysis.fitting.forward import PRED_FLOOR, ForwardModel
from mscpk.analysis.fitting.likelihood import WORST_LOGLIK, Layout
from mscpk.analysis.qualification import study_rows
from mscpk.errors import FitError, MscpkError
from mscpk.inputs.studies import Study
from mscpk.utils import LRUCache

#: evaluations each study keeps (keyed by the entries it depends on)
_CACHE_SIZE = 16


def predict(study: Study, values: dict[str, float]) -> np.ndarray:
    """The qualification's prediction of every observation of ``study`` with ``values``
    (name -> natural-scale value) as the scenario's ``[parameters]`` overrides."""
    sc = study.scenario
    sc = sc.model_copy(update={"parameters": {**sc.parameters, **values}})
    rows = study_rows(dataclasses.replace(study, scenario=sc))
    return np.array([r["predicted"] for r in rows[:len(study.observations)]], float)


class CalibrationLikelihood:
    """Log-likelihood of ``names`` (log scale) over ``studies`` (each with at least one
    quantitative observation, :func:`calibration_terms`). Search bounds: the fit's (default /
    1000 .. default x 1000 within the allowed range), intersected over the studies."""

    def __init__(self, studies: Sequence[Study], names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.studies = tuple(studies)
        self.terms: tuple[tuple[CalibrationTerm, ...], ...] = tuple(
            tuple(calibration_terms(s)) for s in self.studies)
        for s, t in zip(self.studies, self.terms):
            if not t:
                raise FitError(f"study {s.id!r} has no quantitative observation (units "
                               "compared by fold error, or bounds) to calibrate on")
        models = [ForwardModel(s.scenario, self.names) for s in self.studies]
        self.units = models[0].units
        self.lower = np.max([m.lower for m in models], axis=0)
        self.upper = np.min([m.upper for m in models], axis=0)
        if np.any(self.lower >= self.upper):
            raise FitError("the studies' allowed ranges of the estimates do not overlap")
        self.x0 = np.clip(models[0].x0, self.lower, self.upper)
        self.layout = Layout(self.names, ())
        self._caches = [LRUCache(_CACHE_SIZE) for _ in self.studies]
        self.depends = [self._dependence(k) for k in range(len(self.studies))]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lower.copy(), self.upper.copy()

    def start(self) -> np.ndarray:
        return self.x0.copy()

    def _values(self, x: np.ndarray) -> dict[str, float]:
        return {n: float(math.exp(v)) for n, v in zip(self.names, x)}

    def _dependence(self, k: int) -> np.ndarray:
        """Which estimates change study ``k``'s predictions (each moved by a factor 2 from the
        start): a study is re-simulated only when one of those moves."""
        base = predict(self.studies[k], self._values(self.x0))
        out = []
        for i in range(len(self.names)):
            x = self.x0.copy()
            x[i] = x[i] + math.log(2.0) if x[i] + math.log(2.0) <= self.upper[i] else x[i] - math.log(2.0)
            out.append(not np.array_equal(predict(self.studies[k], self._values(x)), base, equal_nan=True))
        return np.array(out, bool)

    def predictions(self, x: np.ndarray) -> list[np.ndarray]:
        """Every study's predictions of its observations at ``x`` (log-parameters)."""
        out = []
        for k, study in enumerate(self.studies):
            key = tuple(np.round(np.asarray(x)[self.depends[k]], 12))
            hit = self._caches[k].get(key)
            if hit is None:
                hit = predict(study, self._values(x))
                self._caches[k].put(key, hit)
            out.append(hit)
        return out

    def study_loglik(self, k: int, pred: np.ndarray) -> float:
        """Log-likelihood of study ``k``'s terms given its predictions."""
        total = 0.0
        for t in self.terms[k]:
            p = pred[t.index]
            if not math.isfinite(p):
                return WORST_LOGLIK
            z = (math.log(t.value) - math.log(max(p, PRED_FLOOR))) / t.sdlog
            if t.kind == "value":
                total += -0.5 * z * z - math.log(t.sdlog) - 0.5 * math.log(2 * math.pi)
            else:  # upper: P(log obs <= bound); lower: P(log obs >= bound)
                total += float(stats.norm.logcdf(z if t.kind == "upper" else -z))
        return total

    def __call__(self, x: np.ndarray) -> float:
        try:
            preds = self.predictions(np.asarray(x, float))
        except MscpkError:
            return WORST_LOGLIK
        return float(sum(self.study_loglik(k, p) for k, p in enumerate(preds)))
