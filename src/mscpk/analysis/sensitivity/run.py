"""``sensitivity``: global sensitivity of population metrics to the ``[population.vary]`` factors.

Sobol first-order and total indices (Saltelli's scheme, SALib) with bootstrap CIs, or Morris
elementary effects; factors are sampled on their quantile scale ``u`` in (0, 1) and mapped by
each factor's own distribution (so the indices are those of the distributions written in the
scenario); local normalised derivatives as a cheap first look. Correlations of the table are
not used (the indices assume independent factors; a warning says so). Details and the
convergence check: docs/populations.md.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from mscpk.analysis.population.evaluate import evaluate, plan
from mscpk.analysis.population.run import CHUNK, population_of
from mscpk.analysis.population.sample import values_at
from mscpk.errors import MscpkWarning, ScenarioError
from mscpk.inputs.scenario import Scenario

METHODS = ("sobol", "morris", "local")
#: Bootstrap resamples and confidence level of the Sobol and Morris CIs.
RESAMPLES = 200
CONF_LEVEL = 0.95
#: Morris: grid levels and the quantile range mapped to [0, 1] (1st to 99th percentile).
MORRIS_LEVELS = 4
MORRIS_RANGE = (0.01, 0.99)
#: Local derivatives: relative step on the quantile scale around the median.
LOCAL_STEP = 0.01


def _rows(p, pop, u: np.ndarray, saturation, threads=None) -> np.ndarray:
    """Metrics of the sample rows ``u`` (the unit of work sent to a worker)."""
    return evaluate(p, values_at(pop, u), u.shape[0], saturation=saturation, threads=threads)


def _evaluate(sc: Scenario, pop, u: np.ndarray, metrics: Sequence[str], saturation,
              scheduler: str | None = None, chunk: int = CHUNK) -> np.ndarray:
    """Metrics (rows of ``u``, metrics), in chunks on this machine or a dask.distributed cluster."""
    p = plan(sc, metrics)
    parts = [u[i:i + chunk] for i in range(0, u.shape[0], chunk)]
    if not scheduler:
        return np.concatenate([_rows(p, pop, part, saturation) for part in parts])
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError("--scheduler needs dask.distributed: pip install 'mscpk[cluster]'") from None
    with Client(scheduler) as client:
        futures = [client.submit(_rows, p, pop, part, saturation, 1, pure=False) for part in parts]
        return np.concatenate([f.result() for f in futures])


def sensitivity(scenario: Scenario, metrics: Sequence[str], *, method: str = "sobol", n: int = 256,
                seed: int | None = None, saturation: str | None = None, scheduler: str | None = None):
    """Sensitivity indices of ``metrics`` to the scenario's ``[population.vary]`` factors.

    ``scheduler``: a running dask.distributed scheduler (``tcp://HOST:PORT``) to evaluate the
    sample on (default: this machine); the indices do not depend on it.

    Returns a DataFrame: ``parameter, metric, S1, S1_conf, ST, ST_conf, ST_half_n`` (sobol:
    ``ST_half_n`` is ST from the first half of the sample, the convergence check),
    ``parameter, metric, mu_star, mu_star_conf, sigma`` (morris), or ``parameter, metric,
    elasticity`` (local: d ln metric / d ln factor at the medians).

    Examples
    --------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/population_iv_mouse.toml")
    >>> df = mscpk.sensitivity(sc, ["lung:cell_days"], method="morris", n=4)
    >>> df.sort_values("mu_star").parameter.iloc[-1]
    'Lung arrested cell death half-life [h]'
    """
    import pandas as pd

    if method not in METHODS:
        raise ScenarioError(f"method: {method!r} is not allowed; allowed: {', '.join(METHODS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ScenarioError(f"n: {n!r} is not allowed; give a whole number >= 2")
    if not metrics:
        raise ScenarioError("metrics: give at least one metric, e.g. 'lung:cell_days'")
    pop = population_of(scenario, seed=seed)
    plan(scenario, metrics)  # metric names checked before any work
    keys = list(pop.vary)
    if pop.correlation is not None:
        warnings.warn(MscpkWarning("sensitivity: [population.correlation] is not used (the indices assume "
                                   "independent factors)"), stacklevel=2)
    problem = {"num_vars": len(keys), "names": keys, "bounds": [[0.0, 1.0]] * len(keys)}
    rows = []
    if method == "sobol":
        from SALib.analyze import sobol as sobol_an
        from SALib.sample import sobol as sobol_s

        n2 = 1 << max(1, int(np.ceil(np.log2(n))))  # Sobol' sequences balance at powers of two
        u = sobol_s.sample(problem, n2, calc_second_order=False, seed=pop.seed)
        y = _evaluate(scenario, pop, np.clip(u, 1e-9, 1 - 1e-9), metrics, saturation, scheduler)
        half = (n2 // 2) * (len(keys) + 2)
        for j, m in enumerate(metrics):
            si = sobol_an.analyze(problem, y[:, j], calc_second_order=False, num_resamples=RESAMPLES,
                                  conf_level=CONF_LEVEL, seed=pop.seed)
            sh = sobol_an.analyze(problem, y[:half, j], calc_second_order=False, num_resamples=RESAMPLES,
                                  conf_level=CONF_LEVEL, seed=pop.seed)
            rows += [{"parameter": k, "metric": m, "S1": si["S1"][i], "S1_conf": si["S1_conf"][i],
                      "ST": si["ST"][i], "ST_conf": si["ST_conf"][i], "ST_half_n": sh["ST"][i]}
                     for i, k in enumerate(keys)]
    elif method == "morris":
        from SALib.analyze import morris as morris_an
        from SALib.sample import morris as morris_s

        x = morris_s.sample(problem, n, num_levels=MORRIS_LEVELS, seed=pop.seed)
        lo, hi = MORRIS_RANGE
        y = _evaluate(scenario, pop, lo + (hi - lo) * x, metrics, saturation, scheduler)
        for j, m in enumerate(metrics):
            mi = morris_an.analyze(problem, x, y[:, j], num_resamples=RESAMPLES, conf_level=CONF_LEVEL,
                                   num_levels=MORRIS_LEVELS, seed=pop.seed)
            rows += [{"parameter": k, "metric": m, "mu_star": mi["mu_star"][i],
                      "mu_star_conf": mi["mu_star_conf"][i], "sigma": mi["sigma"][i]} for i, k in enumerate(keys)]
    else:
        rows = _local(scenario, pop, keys, metrics, saturation)
    return pd.DataFrame(rows)


def _local(scenario: Scenario, pop, keys, metrics, saturation) -> list[dict]:
    """Elasticities d ln(metric) / d ln(factor) at the medians, by central differences on the
    quantile scale (numeric factors only)."""
    numeric = [k for k in keys if not pop.vary[k].categorical]
    u = np.full((1 + 2 * len(numeric), len(keys)), 0.5)
    for i, k in enumerate(numeric):
        j = keys.index(k)
        u[1 + 2 * i, j] -= LOCAL_STEP
        u[2 + 2 * i, j] += LOCAL_STEP
    y = _evaluate(scenario, pop, u, metrics, saturation)
    x = values_at(pop, u)
    rows = []
    for i, k in enumerate(numeric):
        lo, hi = x[k][1 + 2 * i], x[k][2 + 2 * i]
        for j, m in enumerate(metrics):
            ylo, yhi, y0 = y[1 + 2 * i, j], y[2 + 2 * i, j], y[0, j]
            with np.errstate(divide="ignore", invalid="ignore"):
                el = ((yhi - ylo) / y0) / ((hi - lo) / x[k][0]) if hi != lo else 0.0
            rows.append({"parameter": k, "metric": m, "elasticity": float(el)})
    return rows


__all__ = ["sensitivity", "METHODS"]
