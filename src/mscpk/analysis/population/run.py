"""``population``: a virtual population of a scenario, chunk by chunk on this machine or on a
dask.distributed cluster; the per-subject table, percentile bands and responders."""

from __future__ import annotations

from dataclasses import dataclass
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterator, Sequence

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


def _chunk_task(p: Plan, pop: Population, i0: int, i1: int, saturation, threads=None):
    """Metrics (and band counts) of subjects ``i0 .. i1 - 1``: the unit sent to a worker."""
    values = draw(pop, i0, i1)
    bands = Bands(p.times) if p.bands else None
    return i0, values, evaluate(p, values, i1 - i0, saturation=saturation, bands=bands, threads=threads), bands


def _parts(p: Plan, pop: Population, bounds, scheduler, workers, saturation) -> Iterator[tuple]:
    """Each chunk's result, in subject order, as soon as it (and every chunk before it) is done."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ScenarioError("--scheduler needs dask.distributed: pip install 'mscpk[cluster]'") from None
        with Client(scheduler) as client:
            futures = [client.submit(_chunk_task, p, pop, i0, i1, saturation, 1, pure=False) for i0, i1 in bounds]
            for f in futures:
                yield f.result()
    elif workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            futures = [ex.submit(_chunk_task, p, pop, i0, i1, saturation, 1) for i0, i1 in bounds]
            for f in futures:
                yield f.result()
    else:
        for i0, i1 in bounds:
            yield _chunk_task(p, pop, i0, i1, saturation)


def run_chunks(p: Plan, pop: Population, *, chunk: int = CHUNK, scheduler: str | None = None, workers: int = 1,
               saturation: str | None = None, on_chunk: Callable | None = None):
    """(values, metrics, bands) of every subject, in subject order, whatever the chunking and
    the workers; ``on_chunk(i0, values, metrics, n_done)`` is called for each chunk in order
    (the CLI streams the subject table and shows progress with it)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ScenarioError(f"workers: {workers!r} is not allowed; give a whole number >= 1")
    bounds = [(i, min(pop.n, i + chunk)) for i in range(0, pop.n, max(1, int(chunk)))]
    values = {k: [] for k in pop.vary}
    metrics, bands = [], None
    for i0, vals, mets, band in _parts(p, pop, bounds, scheduler, workers, saturation):
        for k in pop.vary:
            values[k].append(vals[k])
        metrics.append(mets)
        if band is not None:
            bands = band if bands is None else (bands.merge(band) or bands)
        if on_chunk is not None:
            on_chunk(i0, vals, mets, i0 + len(mets))
    return {k: np.concatenate(v) for k, v in values.items()}, np.concatenate(metrics), bands


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


def _table(i0: int, values, mets: np.ndarray, names: Sequence[str]):
    """The subject table of subjects ``i0 ..``: subject, varied keys, metrics."""
    import pandas as pd

    return pd.DataFrame({"subject": np.arange(i0, i0 + len(mets)), **values,
                         **{m: mets[:, j] for j, m in enumerate(names)}})


def population(scenario: Scenario, metrics: Sequence[str] | None = None, *, n: int | None = None,
               seed: int | None = None, bands: bool = False, by: str | None = None,
               times_h: Sequence[float] | None = None, saturation: str | None = None,
               chunk: int = CHUNK, scheduler: str | None = None, workers: int = 1,
               on_chunk: Callable | None = None) -> PopulationResult:
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
        default: this machine. Results do not depend on it, nor on ``chunk`` or ``workers``.
    workers : processes on this machine (without a scheduler); 1: in this process.
    on_chunk : called as ``on_chunk(table, done, n)`` with each chunk's subject table, in order.

    Examples
    --------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/population_iv_mouse.toml")
    >>> res = mscpk.population(sc, ["lung:cell_days"], n=20)
    >>> list(res.subjects.columns)[:2], len(res.subjects)
    (['subject', 'Lung arrested cell death half-life [h]'], 20)
    """
    pop = population_of(scenario, n, seed)
    names = list(metrics) if metrics else ["lung:cell_days", "liver:cell_days"]
    if pop.responder is not None and pop.responder.metric not in names:
        names.append(pop.responder.metric)
    if by is not None and by not in pop.vary:
        raise ScenarioError(f"--by: {by!r} is not a varied key; varied: {', '.join(pop.vary)}")
    p = plan(scenario, names, bands=bands, times_h=times_h)
    values, mets, band = run_chunks(p, pop, chunk=chunk, scheduler=scheduler, workers=workers,
                                    saturation=saturation,
                                    on_chunk=None if on_chunk is None else
                                    lambda i0, v, m, done: on_chunk(_table(i0, v, m, names), done, pop.n))
    table = _table(0, values, mets, names)
    resp = None
    if pop.responder is not None:
        r = pop.responder
        resp = responders(table, r.metric, r.threshold, r.direction, by)
    elif by is not None:
        raise ScenarioError("--by needs a [population.responder] table (the rule that defines a responder)")
    return PopulationResult(table, band.frame() if band is not None else None, resp, tuple(names))


__all__ = ["population", "PopulationResult", "responders", "run_chunks", "population_of", "CHUNK"]
