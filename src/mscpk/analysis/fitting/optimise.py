"""Multi-start L-BFGS-B maximisation of a log-likelihood within its bounds: the default start
and a seeded Latin hypercube of the log-parameters around it (a factor 10 either way)."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from mscpk.analysis.fitting.likelihood import LogLikelihood
from mscpk.errors import FitError

#: half-width (natural log) of the Latin hypercube of starts around the defaults
START_SPAN = math.log(10.0)


def minimise(fun, x0, lo, hi) -> optimize.OptimizeResult:
    """L-BFGS-B of ``fun`` from ``x0`` (clipped) within ``lo`` .. ``hi``."""
    x0 = np.clip(np.asarray(x0, float), lo, hi)
    return optimize.minimize(fun, x0, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                             options={"maxiter": 200, "eps": 1e-6})


def starts(loglik: LogLikelihood, n_starts: int, seed: int) -> list[np.ndarray]:
    """The default start, then ``n_starts - 1`` Latin-hypercube starts that vary only the
    log-parameters (the noise entries stay at their start values)."""
    lo, hi = loglik.bounds()
    centre = loglik.start()
    out = [centre]
    if n_starts > 1:
        rng = np.random.default_rng(seed)
        ns = n_starts - 1
        u = (rng.permuted(np.tile(np.arange(ns), (len(centre), 1)), axis=1).T
             + rng.random((ns, len(centre)))) / ns
        noise = loglik.layout.noise
        for row in u:
            s = centre + (2 * row - 1) * START_SPAN
            s[noise] = centre[noise]
            out.append(np.clip(s, lo, hi))
    return out


def optimise(loglik: LogLikelihood, *, n_starts: int = 4, seed: int = 0
             ) -> tuple[np.ndarray, float, bool, list[float]]:
    """Maximise ``loglik``: returns (x_best, logL_best, converged, logL of every start)."""
    if n_starts < 1:
        raise FitError("n_starts must be at least 1")
    lo, hi = loglik.bounds()

    def neg(x):
        return -loglik(x)

    best = None
    lls = []
    for s in starts(loglik, n_starts, seed):
        res = minimise(neg, s, lo, hi)
        lls.append(float(-res.fun))
        if best is None or res.fun < best.fun:
            best = res
    return np.asarray(best.x), float(-best.fun), bool(best.success), lls
