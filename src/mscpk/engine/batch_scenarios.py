"""``simulate_batch`` of subjects that also differ in scenario numbers (cell size, viability,
injury severity): one array-valued scenario (:mod:`mscpk.engine.scenario_arrays`), one build
per chunk.

>>> import numpy as np, mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
>>> ds = simulate_batch_scenarios(sc, {"product.diameter_um.mean": np.array([14.0, 18.0, 22.0])})
>>> ds.cells.sizes["subject"]
3
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from mscpk.engine import saturation as sat
from mscpk.engine.batch import simulate_batch
from mscpk.engine.scenario_arrays import with_arrays
from mscpk.inputs.resolve import engine_inputs
from mscpk.inputs.scenario import Scenario


def simulate_batch_scenarios(scenario: Scenario, columns: Mapping[str, np.ndarray],
                             samples: Mapping[str, np.ndarray] | None = None, **options):
    """:func:`~mscpk.engine.batch.simulate_batch` of subjects that differ in the scenario
    numbers ``columns`` (key -> (N,), keys of :data:`~mscpk.engine.scenario_arrays.ARRAY_KEYS`)
    and in the parameter ``samples`` (name -> (N,)); ``options`` as simulate_batch's. Without
    sampled parameters the batch's samples are the saturation onset at the scenario's own value
    (simulate_batch takes the number of subjects from its samples)."""
    n = len(next(iter(columns.values())))
    smp = dict(samples) if samples else {sat.ONSET: np.full(n, float(engine_inputs(scenario)[1][sat.ONSET]))}
    return simulate_batch(with_arrays(scenario, columns), smp, **options)


__all__ = ["simulate_batch_scenarios"]
