"""Measurement noise of the observation models: counting (Poisson) noise and log-normal error.

Both have mean 1 (counting noise: the counts observed for the expected counts), so the mean
of many noisy readouts is the noise-free one.

>>> rng = rng_from_seed(1)
>>> f = lognormal_factor(rng, 0.3, 100_000)
>>> round(float(f.mean()), 2), round(float(f.std() / f.mean()), 2)
(1.0, 0.3)
"""

from __future__ import annotations

import math

import numpy as np

from mscpk.errors import DetectionError

#: Numerical guard [counts]: expected counts are clipped here before Poisson sampling
#: (numpy's sampler refuses rates above ~1e18; the noise of 1e15 counts is nil anyway).
_MAX_COUNTS = 1e15


def log_variance(cv: float) -> float:
    """Variance of the log of a log-normal with coefficient of variation ``cv``: log(1 + cv^2)
    (no overflow for a huge ``cv``).

    >>> round(log_variance(0.3), 6), round(log_variance(1e200), 1)
    (0.086178, 921.0)
    """
    return math.log1p(cv * cv) if cv <= 1.0 else 2.0 * math.log(cv) + math.log1p(cv ** -2)


def lognormal_factor(rng: np.random.Generator, cv: float, size) -> np.ndarray:
    """Multiplicative log-normal error with mean 1 and coefficient of variation ``cv``."""
    if cv <= 0:
        return np.ones(size)
    s2 = log_variance(cv)
    return np.exp(rng.normal(-0.5 * s2, math.sqrt(s2), size))


def counted(rng: np.random.Generator, expected: np.ndarray, counts: np.ndarray,
            background: np.ndarray | float | None = None) -> np.ndarray:
    """``expected`` with Poisson counting noise: the observed counts in ``expected``'s unit
    (0 where no count is expected).

    ``counts``: expected counts of the signal (same shape as ``expected``); ``background``:
    expected background counts in the same region (broadcast to ``counts``): signal and
    background are counted together and the expected background is subtracted (a negative
    difference is reported as 0).
    """
    expected = np.asarray(expected, dtype=float)
    counts = np.broadcast_to(np.asarray(counts, dtype=float), expected.shape)
    lam = np.clip(counts, 0.0, _MAX_COUNTS)
    if background is None or not np.any(background):
        obs = rng.poisson(lam)
    else:
        b = np.broadcast_to(np.clip(np.asarray(background, dtype=float), 0.0, _MAX_COUNTS), lam.shape)
        obs = np.maximum(rng.poisson(lam + b) - b, 0.0)
    # value per count times the observed counts; a count worth more than the largest float
    # (a label decayed to ~1e-300 expected counts) is never observed: the reading is 0
    with np.errstate(over="ignore"):
        per_count = np.divide(expected, lam, out=np.zeros_like(lam), where=lam > 0)
    return obs * np.where(np.isfinite(per_count), per_count, 0.0)


def rng_from_seed(seed) -> np.random.Generator | None:
    """A generator from an int seed or a Generator (None stays None: no noise)."""
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise DetectionError(f"seed: {seed!r} is not a valid seed ({exc})") from None


__all__ = ["log_variance", "lognormal_factor", "counted", "rng_from_seed"]
