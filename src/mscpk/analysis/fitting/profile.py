"""Profile-likelihood 95 % intervals: an expanding step search on each side of the optimum
with the other entries re-optimised, then bisection to the chi2(1)/2 drop."""

from __future__ import annotations

import numpy as np
from scipy import stats

from mscpk.analysis.fitting.likelihood import LogLikelihood
from mscpk.analysis.fitting.optimise import minimise

#: drop of the log-likelihood defining the 95 % profile interval: chi2(1, 0.95) / 2
PROFILE_THRESHOLD = float(stats.chi2.ppf(0.95, 1) / 2.0)  # 1.92


def _profile_value(loglik, i, value, x_start, lo, hi) -> tuple[float, np.ndarray]:
    """Max of log L with entry i fixed at ``value`` (others re-optimised)."""
    free = [j for j in range(len(x_start)) if j != i]

    def with_free(z):
        x = np.empty(len(x_start))
        x[i] = value
        x[free] = z
        return x

    res = minimise(lambda z: -loglik(with_free(z)), x_start[free], lo[free], hi[free])
    return float(-res.fun), with_free(res.x)


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
