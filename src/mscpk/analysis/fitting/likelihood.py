"""Log-likelihood of a problem: log-normal errors with estimated log-sigma(s), M3 for
censored rows, summary rows as log-scale means, optionally the animal random effect."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mscpk.analysis.fitting.animals import QUADRATURE_NODES, AnimalEffect
from mscpk.analysis.fitting.data import NO_ASSAY
from mscpk.analysis.fitting.forward import PRED_FLOOR
from mscpk.analysis.fitting.layout import Layout
from mscpk.analysis.fitting.problem import Problem
from mscpk.analysis.fitting.terms import LogRows, independent
from mscpk.errors import FitError, MscpkError

#: what the prediction is in the log-normal error model (see :class:`LogLikelihood`)
CENTRES = ("median", "mean")
SIGMA_MODES = ("auto", "shared", "per_assay")
#: value returned for a non-finite log-likelihood (keeps the optimiser going)
_WORST = -1e300


class LogLikelihood:
    """log L(x) of ``problem`` for the vector ``x`` described by :attr:`layout`
    (log-parameters, log-sigmas, log-omega with ``animal_effect``); see docs/fitting.md.

    ``sigma``: ``"auto"`` (one per assay when the data have several assays, a row without
    ASSAY counting as ``live_cells``, else one shared), ``"shared"`` or ``"per_assay"``;
    ``sigma_keys`` names them (``["all"]`` when shared). ``centre``: ``"median"`` (``log DV ~
    N(log PRED, s^2)``) or ``"mean"`` (PRED is the arithmetic mean of DV).
    """

    def __init__(self, problem: Problem, sigma: str = "auto", centre: str = "median",
                 animal_effect: bool = False, quadrature_nodes: int = QUADRATURE_NODES,
                 adaptive: bool = True) -> None:
        if sigma not in SIGMA_MODES:
            raise FitError(f"sigma: unknown value {sigma!r}; allowed: {', '.join(SIGMA_MODES)}")
        if centre not in CENTRES:
            raise FitError(f"centre: unknown value {centre!r}; allowed: {', '.join(CENTRES)}")
        self.centre = centre
        self.problem = p = problem
        keys = [a or NO_ASSAY for a in p.assays]
        distinct = list(dict.fromkeys(keys))
        mode = sigma if sigma != "auto" else ("per_assay" if len(distinct) > 1 else "shared")
        self.sigma_mode = mode
        self.sigma_keys = distinct if mode == "per_assay" else ["all"]
        self.sigma_index = (np.array([distinct.index(k) for k in keys]) if mode == "per_assay"
                            else np.zeros(p.n_obs, int))
        self.layout = Layout(tuple(p.model.names), tuple(self.sigma_keys), bool(animal_effect))
        self.rows = LogRows.of(p)
        self.animals = (AnimalEffect(p, self.rows, quadrature_nodes, adaptive)
                        if animal_effect else None)
        # rows taken independently: all, or those without a random effect (summary rows)
        self._independent = np.ones(p.n_obs, bool) if self.animals is None else ~self.animals.mask

    @property
    def animal_effect(self) -> bool:
        return self.animals is not None

    @property
    def n_animals(self) -> int | None:
        return None if self.animals is None else self.animals.n_animals

    @property
    def n_parameters(self) -> int:
        return self.layout.size

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.problem.model
        return self.layout.bounds(m.lower, m.upper)

    def start(self) -> np.ndarray:
        return self.layout.start(self.problem.model.x0)

    def row_sd(self, log_sigmas: Sequence[float] | float) -> np.ndarray:
        """SD of each row's log observation."""
        sig = np.exp(np.atleast_1d(np.asarray(log_sigmas, float)))[self.sigma_index]
        return self.rows.scale(sig)

    def from_prediction(self, pred: np.ndarray, log_noise: Sequence[float] | float, *,
                        method: str = "auto") -> float:
        """log L at predictions ``pred``; ``log_noise``: ``x[layout.noise]`` (the log sigmas,
        and log omega with the animal effect). ``method="quadrature"`` integrates every
        animal by Gauss-Hermite quadrature (for checks; ``"auto"``: closed form where
        possible)."""
        log_sig, log_omega = self.layout.split_noise(log_noise)
        omega = 0.0 if log_omega is None else float(np.exp(log_omega))
        scale = self.row_sd(log_sig)
        logp = np.log(np.maximum(pred, PRED_FLOOR))
        obs = self.rows.logobs
        om2 = omega * omega
        if self.centre == "mean":  # PRED is the arithmetic mean: the log median is lower
            logp = logp - 0.5 * scale * scale
            if self.animals is not None:  # ... by half the total log variance s^2 + omega^2
                logp = logp - 0.5 * om2 * self.animals.mask
            obs = self.rows.logdv  # a summary row's log mean against the log mean of the mean
        ll = independent(self.rows, obs, logp, scale, self._independent)
        if self.animals is None:
            return ll
        return ll + self.animals(obs, logp, scale, om2, method)

    def __call__(self, x: Sequence[float]) -> float:
        x = np.asarray(x, float)
        try:
            pred = self.problem.predict(x[self.layout.theta])
        except MscpkError:
            return -np.inf
        ll = self.from_prediction(pred, x[self.layout.noise])
        return ll if math.isfinite(ll) else _WORST
