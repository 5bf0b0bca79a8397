"""Drawing virtual subjects: the values of every ``[population.vary]`` key per subject.

Subject ``i`` depends only on the seed and ``i``: subjects are drawn in fixed blocks of
:data:`BLOCK` from their own stream (``numpy.random.default_rng([seed, block])``), so any
chunking and any number of workers give the same subjects. Correlated keys share a Gaussian
copula: standard normal scores ``z`` (one per key) are correlated by the Cholesky factor of
the correlation matrix, turned into quantiles ``u = Phi(z)`` and then into values by each
key's inverse distribution function.
"""

from __future__ import annotations

import numpy as np

from mscpk.inputs.population import Population

#: Subjects per random stream (a fixed layout, never a tuning knob: changing it changes subjects).
BLOCK = 4096


def quantiles(pop: Population, i0: int, i1: int) -> np.ndarray:
    """Quantiles (i1 - i0, n_keys) in (0, 1) of subjects ``i0 .. i1 - 1``, keys in ``vary`` order."""
    from scipy.special import ndtr

    keys = list(pop.vary)
    chol = np.eye(len(keys))
    if pop.correlation is not None:
        idx = [keys.index(k) for k in pop.correlation.keys]
        full = np.eye(len(keys))
        full[np.ix_(idx, idx)] = np.asarray(pop.correlation.matrix, dtype=float)
        chol = np.linalg.cholesky(full)
    out = np.empty((i1 - i0, len(keys)))
    for b in range(i0 // BLOCK, (i1 - 1) // BLOCK + 1 if i1 > i0 else i0 // BLOCK):
        z = np.random.default_rng([pop.seed, b]).standard_normal((BLOCK, len(keys)))
        lo, hi = max(i0, b * BLOCK), min(i1, (b + 1) * BLOCK)
        out[lo - i0:hi - i0] = z[lo - b * BLOCK:hi - b * BLOCK] @ chol.T
    return np.clip(ndtr(out), 1e-12, 1 - 1e-12)


def values_at(pop: Population, u: np.ndarray) -> dict[str, np.ndarray]:
    """Each key's values at the quantiles ``u`` (rows: subjects, columns: keys in ``vary`` order)."""
    return {k: d.ppf(u[:, j]) for j, (k, d) in enumerate(pop.vary.items())}


def draw(pop: Population, i0: int = 0, i1: int | None = None) -> dict[str, np.ndarray]:
    """The varied values of subjects ``i0 .. i1 - 1`` (default: all ``pop.n``).

    >>> from mscpk.inputs.population import Population
    >>> pop = Population(n=5, seed=1, vary={"x": {"dist": "uniform", "low": 0, "high": 1}})
    >>> bool((draw(pop)["x"][2:4] == draw(pop, 2, 4)["x"]).all())  # chunking does not matter
    True
    """
    i1 = pop.n if i1 is None else i1
    return values_at(pop, quantiles(pop, i0, i1))


__all__ = ["draw", "quantiles", "values_at", "BLOCK"]
