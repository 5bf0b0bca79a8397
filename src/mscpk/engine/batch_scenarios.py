"""Batches whose subjects also differ in scenario numbers: cell size, viability, injury severity.

The network build only does arithmetic with these numbers (array-safe, as with sampled
parameters), so a scenario holding per-subject arrays in those fields builds once for all its
subjects (:func:`with_arrays`); :func:`simulate_batch_scenarios` runs it through
:func:`~mscpk.engine.batch.simulate_batch` in blocks of subjects on two threads. Keys that change
the model's structure or its event times (routes, dose times, categorical choices) cannot be
arrays: callers group subjects by them (docs/populations.md, "Evaluation").

>>> import numpy as np, mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
>>> ds = simulate_batch_scenarios(sc, {"product.diameter_um.mean": np.array([14.0, 18.0, 22.0])})
>>> ds.cells.sizes["subject"]
3
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numpy as np

from mscpk.engine import saturation as sat
from mscpk.engine.batch import simulate_batch
from mscpk.errors import ParameterError
from mscpk.inputs.resolve import engine_inputs
from mscpk.inputs.scenario import Scenario
from mscpk.utils import single_threaded_blas

#: Scenario keys (as ``scan`` and ``[population.vary]`` write them) that may hold arrays.
ARRAY_KEYS = re.compile(r"^(product\.diameter_um\.(mean|sd)|product\.viability|subject\.injury\[[0-9]+\]\.severity)$")
#: Subjects per block (one build and one simulate_batch chunk each).
BLOCK = 500
_TOKEN = re.compile(r"^([a-z_]+)(?:\[([0-9]+)\])?$")


def array_key(key: str) -> bool:
    """Whether ``key`` may vary within one batch build (:data:`ARRAY_KEYS`)."""
    return bool(ARRAY_KEYS.match(key))


def _set(model, tokens: Sequence[str], value):
    name, index = _TOKEN.match(tokens[0]).groups()
    current = getattr(model, name)
    if index is None:
        new = _set(current, tokens[1:], value) if len(tokens) > 1 else value
    else:
        items = list(current)
        k = int(index) - 1
        if not 0 <= k < len(items):
            raise ParameterError(f"{tokens[0]}: the scenario has {len(items)} {name} entries")
        items[k] = _set(items[k], tokens[1:], value)
        new = type(current)(items)
    return model.model_copy(update={name: new})


def with_arrays(scenario: Scenario, columns: Mapping[str, np.ndarray]) -> Scenario:
    """A copy of ``scenario`` whose fields named by ``columns`` (keys of :data:`ARRAY_KEYS`) hold
    per-subject arrays. Not validated: the caller checks the values (each is a valid scenario
    value; ``[population.vary]`` keys are checked at load and at the sample's extremes)."""
    sc = scenario
    for key, values in columns.items():
        if not array_key(key):
            raise ParameterError(f"{key!r} cannot vary within one batch build; allowed: {ARRAY_KEYS.pattern}")
        sc = _set(sc, key.split("."), np.asarray(values, dtype=float))
    return sc


def simulate_batch_scenarios(scenario: Scenario, columns: Mapping[str, np.ndarray],
                             samples: Mapping[str, np.ndarray] | None = None, *,
                             times_h: Sequence[float] | None = None, saturation: str | None = None,
                             sites: Sequence[str] | None = None, threads: int | None = None,
                             block: int = BLOCK):
    """:func:`~mscpk.engine.batch.simulate_batch` of subjects that differ in the scenario
    numbers ``columns`` (key -> (N,)) and in the parameter ``samples`` (name -> (N,)).

    Blocks of ``block`` subjects (one build each) run on ``threads`` threads (default: two);
    the result is their Dataset joined along ``subject``. Without sampled parameters the
    batch's samples are the saturation onset at the scenario's own value (simulate_batch takes
    the number of subjects from its samples)."""
    import xarray as xr

    n = len(next(iter(columns.values())))
    if samples:
        smp = dict(samples)
    else:
        smp = {sat.ONSET: np.full(n, float(engine_inputs(scenario)[1][sat.ONSET]))}
    bounds = [(i, min(n, i + block)) for i in range(0, n, max(1, int(block)))]

    def run(b):
        i0, i1 = b
        sc = with_arrays(scenario, {k: v[i0:i1] for k, v in columns.items()})
        return simulate_batch(sc, {k: v[i0:i1] for k, v in smp.items()}, times_h=times_h, chunk=i1 - i0,
                              threads=1, saturation=saturation, sites=sites)

    workers = threads if threads is not None else min(2, os.cpu_count() or 1)
    with single_threaded_blas():
        if workers > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(max_workers=workers) as ex:
                parts = list(ex.map(run, bounds))
        else:
            parts = [run(b) for b in bounds]
    if len(parts) == 1:
        return parts[0]
    whole = xr.concat([p.drop_vars("administered") for p in parts], dim="subject")
    return whole.assign(administered=parts[0].administered)


__all__ = ["simulate_batch_scenarios", "with_arrays", "array_key", "ARRAY_KEYS", "BLOCK"]
