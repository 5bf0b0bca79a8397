"""Multi-start L-BFGS-B maximisation of a log-likelihood within its bounds (the default start
and a seeded Latin hypercube of the log-parameters around it, a factor 10 either way), and
profile-likelihood 95 % intervals: an expanding step search on each side of the optimum with
the other entries re-optimised, then bisection to the chi2(1)/2 drop."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from mscpk.analysis.fitting.likelihood import LogLikelihood
from mscpk.errors import FitError

#: half-width (natural log) of the Latin hypercube of starts around the defaults
START_SPAN = math.log(10.0)
#: drop of the log-likelihood defining the 95 % profile interval: chi2(1, 0.95) / 2
PROFILE_THRESHOLD = float(stats.chi2.ppf(0.95, 1) / 2.0)  # 1.92


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
    if n_starts < 2:
        return [centre]
    rng = np.random.default_rng(seed)
    ns, dim = n_starts - 1, len(centre)
    u = (rng.permuted(np.tile(np.arange(ns), (dim, 1)), axis=1).T + rng.random((ns, dim))) / ns
    span = np.full(dim, START_SPAN)
    span[loglik.layout.noise] = 0.0
    return [centre, *np.clip(centre + (2 * u - 1) * span, lo, hi)]


def optimise(loglik: LogLikelihood, *, n_starts: int = 4, seed: int = 0
             ) -> tuple[np.ndarray, float, bool, list[float]]:
    """Maximise ``loglik``: returns (x_best, logL_best, converged, logL of every start)."""
    if n_starts < 1:
        raise FitError("n_starts must be at least 1")
    lo, hi = loglik.bounds()
    runs = [minimise(lambda x: -loglik(x), s, lo, hi) for s in starts(loglik, n_starts, seed)]
    best = min(runs, key=lambda res: res.fun)  # the first of equal optima
    return np.asarray(best.x), float(-best.fun), bool(best.success), [float(-r.fun) for r in runs]


def _profile_value(loglik, i, value, x_start, lo, hi) -> tuple[float, np.ndarray]:
    """Max of log L with entry i fixed at ``value`` (others re-optimised)."""
    free = np.arange(len(x_start)) != i  # the vector is np.insert(free entries, i, value)
    if not free.any():  # a one-entry vector: the profile is the log-likelihood itself
        return float(loglik(np.array([value]))), np.array([value])
    res = minimise(lambda z: -loglik(np.insert(z, i, value)), x_start[free], lo[free], hi[free])
    return float(-res.fun), np.insert(res.x, i, value)


def profile_ci(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, i: int,
               *, first_step: float = 0.1, growth: float = 2.0, bisections: int = 3
               ) -> tuple[float, float, bool, bool]:
    """95 % profile interval of entry ``i`` of the vector (see ``loglik.layout``).

    Returns ``(low, high, low_at_bound, high_at_bound)`` on the log scale; a side at the
    bound means the profile never dropped by :data:`PROFILE_THRESHOLD` there.
    """
    lo, hi = loglik.bounds()
    target = ll_best - PROFILE_THRESHOLD
    result = []
    for direction in (-1.0, 1.0):
        limit = lo[i] if direction < 0 else hi[i]
        inner, x_inner = float(x_best[i]), np.array(x_best)
        step = first_step
        while True:
            value = inner + direction * step
            at_limit = direction * (value - limit) >= 0
            if at_limit:
                value = limit
            ll, x = _profile_value(loglik, i, value, x_inner, lo, hi)
            if ll < target or at_limit:
                break
            # the profile may have found a better optimum; keep going from there
            inner, x_inner = value, x
            step *= growth
        if ll >= target:  # no drop by the threshold up to the bound
            result.append((float(limit), True))
            continue
        a, b = inner, value  # ll(a) >= target > ll(b)
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
