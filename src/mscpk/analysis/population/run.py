"""``population``: a virtual population of a scenario, chunk by chunk on this machine or on a
dask.distributed cluster; the per-subject table, percentile bands and responders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pydantic import ValidationError

from mscpk.analysis.population.bands import Bands
from mscpk.analysis.population.evaluate import Plan, evaluate, plan
from mscpk.analysis.population.sample import draw
from mscpk.errors import ScenarioError
from mscpk.inputs.population import Population
from mscpk.inputs.scenario import Scenario

#: Subjects per chunk (a unit of work for one worker; results do not depend on it).
CHUNK = 2000
#: Confidence level of the responder fraction's interval (Clopper-Pearson, exact).
CI_LEVEL = 0.95


@dataclass(frozen=True)
class PopulationResult:
    """``subjects``: one row per subject (``subject``, the varied keys, the metrics);
    ``bands``: ``time_h, site, quantity, p05, p50, p95`` (or None); ``responders``: the
    responder fraction with its CI, overall and by stratum (or None)."""

    subjects: "object"
    bands: "object | None"
    responders: "object | None"
    metrics: tuple[str, ...]


def population_of(scenario: Scenario, n: int | None = None, seed: int | None = None) -> Population:
    """The scenario's ``[population]`` with ``n`` and ``seed`` replaced when given."""
    pop = scenario.population
    if pop is None or not pop.vary:
        raise ScenarioError("population: the scenario has no [population.vary] table; add one "
                            "(see shared/INTERFACE.md, 'Populations and sensitivity')")
    update = {k: v for k, v in (("n", n), ("seed", seed)) if v is not None}
    if update:
        try:
            pop = Population.model_validate({**dict(pop), "vary": pop.vary, **update})
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(x) for x in err["loc"])
            raise ScenarioError(f"population.{key}: {err['input']!r} is not allowed: {err['msg']}") from None
    return pop


def _chunk_task(p: Plan, pop: Population, i0: int, i1: int, saturation):
    """Metrics (and band counts) of subjects ``i0 .. i1 - 1``: the unit sent to a worker."""
    values = draw(pop, i0, i1)
    bands = Bands(p.times) if p.bands else None
    return i0, values, evaluate(p, values, i1 - i0, saturation=saturation, bands=bands), bands


def run_chunks(p: Plan, pop: Population, *, chunk: int = CHUNK, scheduler: str | None = None,
               saturation: str | None = None):
    """(values, metrics, bands) of every subject, in subject order, whatever the chunking."""
    bounds = [(i, min(pop.n, i + chunk)) for i in range(0, pop.n, max(1, int(chunk)))]
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ScenarioError("--scheduler needs dask.distributed: pip install 'mscpk[cluster]'") from None

        with Client(scheduler) as client:
            futures = [client.submit(_chunk_task, p, pop, i0, i1, saturation, pure=False) for i0, i1 in bounds]
            parts = client.gather(futures)
    else:
        parts = [_chunk_task(p, pop, i0, i1, saturation) for i0, i1 in bounds]
    parts.sort(key=lambda part: part[0])
    values = {k: np.concatenate([part[1][k] for part in parts]) for k in pop.vary}
    metrics = np.concatenate([part[2] for part in parts])
    bands = None
    if p.bands:
        bands = parts[0][3]
        for part in parts[1:]:
            bands.merge(part[3])
    return values, metrics, bands


def responders(table, metric: str, threshold: float, direction: str = "above", by: str | None = None):
    """Responder fraction with its exact binomial CI, overall and by stratum of ``by``
    (categorical keys by value; numeric keys by quartile). DataFrame ``stratum, n,
    responders, fraction, ci_low, ci_high``."""
    import pandas as pd
    from scipy.stats import binomtest

    if metric not in table:
        raise ScenarioError(f"responder metric {metric!r} is not a computed metric; computed: "
                            f"{', '.join(c for c in table.columns if ':' in c or c == 'persistence_h')}")
    hit = table[metric] >= threshold if direction == "above" else table[metric] <= threshold
    groups = [("all", hit)]
    if by is not None:
        if by not in table:
            raise ScenarioError(f"--by: {by!r} is not a varied key; varied: {', '.join(table.columns[1:])}")
        col = table[by]
        if col.dtype.kind in "if" and col.nunique() > 4:
            col = pd.qcut(col, 4, duplicates="drop").astype(str).radd(f"{by} in ")
        else:
            col = col.astype(str).radd(f"{by} = ")
        groups += [(str(k), hit[col == k]) for k in sorted(col.unique())]
    rows = []
    for name, h in groups:
        k, n = int(h.sum()), int(h.size)
        ci = binomtest(k, n).proportion_ci(CI_LEVEL, method="exact") if n else None
        rows.append({"stratum": name, "n": n, "responders": k, "fraction": k / n if n else np.nan,
                     "ci_low": ci.low if ci else np.nan, "ci_high": ci.high if ci else np.nan})
    return pd.DataFrame(rows)


def population(scenario: Scenario, metrics: Sequence[str] | None = None, *, n: int | None = None,
               seed: int | None = None, bands: bool = False, by: str | None = None,
               times_h: Sequence[float] | None = None, saturation: str | None = None,
               chunk: int = CHUNK, scheduler: str | None = None) -> PopulationResult:
    """A virtual population of ``scenario`` (its ``[population]`` table).

    Parameters
    ----------
    scenario : a scenario with ``[population.vary]``.
    metrics : metric names (``SITE:cell_days``, ``SITE:peak_live``, ``SITE:peak_occlusion``,
        ``SITE:live_at_{H}h``, ``persistence_h``); default: lung, liver and the responder's.
    n, seed : override the table's ``n`` and ``seed``.
    bands : also the 5/50/95 % bands over time per site and quantity.
    by : a varied key to stratify the responders by.
    scheduler : address of a running dask.distributed scheduler (``tcp://HOST:PORT``);
        default: this machine. Results do not depend on it, nor on ``chunk``.

    Examples
    --------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/population_iv_mouse.toml")
    >>> res = mscpk.population(sc, ["lung:cell_days"], n=20)
    >>> list(res.subjects.columns)[:2], len(res.subjects)
    (['subject', 'Lung arrested cell death half-life [h]'], 20)
    """
    import pandas as pd

    pop = population_of(scenario, n, seed)
    names = list(metrics) if metrics else ["lung:cell_days", "liver:cell_days"]
    if pop.responder is not None and pop.responder.metric not in names:
        names.append(pop.responder.metric)
    if by is not None and by not in pop.vary:
        raise ScenarioError(f"--by: {by!r} is not a varied key; varied: {', '.join(pop.vary)}")
    p = plan(scenario, names, bands=bands, times_h=times_h)
    values, mets, band = run_chunks(p, pop, chunk=chunk, scheduler=scheduler, saturation=saturation)
    table = pd.DataFrame({"subject": np.arange(pop.n), **values,
                          **{m: mets[:, j] for j, m in enumerate(names)}})
    resp = None
    if pop.responder is not None:
        r = pop.responder
        resp = responders(table, r.metric, r.threshold, r.direction, by)
    elif by is not None:
        raise ScenarioError("--by needs a [population.responder] table (the rule that defines a responder)")
    return PopulationResult(table, band.frame() if band is not None else None, resp, tuple(names))


__all__ = ["population", "PopulationResult", "responders", "run_chunks", "population_of", "CHUNK"]
