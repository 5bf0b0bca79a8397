"""Likelihood terms on the log scale: each row's log observation and SD (summary rows as
log-scale means of N animals), and the independent log-normal + censored (M3) term."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class LogRows:
    """The rows of a :class:`~mscpk.analysis.fitting.problem.Problem` on the log scale.

    ``logdv``: log DV (0 for censored rows); ``logobs``: the row's log-scale mean (a summary
    row's moment-matched ``log(mean) - sdlog^2/2``, log DV otherwise); ``loglloq``: log LLOQ
    of censored rows (0 otherwise); a row's log-scale variance is ``sigma^2 * weight +
    extra`` with ``weight = 1/N`` and ``extra = sdlog^2/N``.
    """

    censored: np.ndarray
    logdv: np.ndarray
    logobs: np.ndarray
    loglloq: np.ndarray
    weight: np.ndarray
    extra: np.ndarray

    @classmethod
    def of(cls, problem) -> "LogRows":
        p = problem
        logdv = np.log(np.where(p.censored, 1.0, p.dv))
        return cls(censored=p.censored, logdv=logdv, logobs=logdv - 0.5 * p.sdlog ** 2,
                   loglloq=np.log(np.where(p.censored, p.lloq, 1.0)),
                   weight=1.0 / p.n_animals, extra=p.sdlog ** 2 / p.n_animals)

    def scale(self, sigma: np.ndarray) -> np.ndarray:
        """Each row's log-scale SD given its residual SD ``sigma`` (one value per row)."""
        return np.sqrt(sigma * sigma * self.weight + self.extra)


def log_normal(resid: np.ndarray, scale: np.ndarray, logdv: np.ndarray) -> np.ndarray:
    """Log density of DV (log-normal) given its log residual ``resid`` and log-scale SD."""
    z = resid / scale
    return -0.5 * z * z - np.log(scale) - 0.5 * _LOG_2PI - logdv


def log_censored(resid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """M3: log probability of a value below the LLOQ, ``resid`` = log LLOQ - log centre."""
    return stats.norm.logcdf(resid / scale)


def independent(rows: LogRows, obs: np.ndarray, logp: np.ndarray, scale: np.ndarray,
                mask: np.ndarray) -> float:
    """log L of the rows ``mask`` taken independently: log-normal density of the quantified
    rows, ``log Phi((log LLOQ - logp) / scale)`` of the censored ones (M3)."""
    c = rows.censored
    u = mask & ~c
    ll = float(np.sum(log_normal(obs[u] - logp[u], scale[u], rows.logdv[u])))
    cr = mask & c
    if cr.any():
        ll += float(np.sum(log_censored(rows.loglloq[cr] - logp[cr], scale[cr])))
    return ll
