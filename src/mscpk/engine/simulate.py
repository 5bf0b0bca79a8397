"""``simulate``: scenario -> resolved inputs -> network -> solver -> :class:`Result` (a thin
join, as in PyBaMM)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Sequence

import numpy as np

from mscpk.engine import saturation as sat
from mscpk.engine.model.build import BuildMemo, ByReads, Reads, build_network
from mscpk.engine.model.depots import amount_shapes_inputs
from mscpk.engine.network import Network
from mscpk.engine.result import Result
from mscpk.engine.solvers import LinearSolver, SaturatingSolver, administered
from mscpk.inputs.parameters import ParameterSet
from mscpk.inputs.physiology import Species
from mscpk.inputs.resolve import engine_inputs
from mscpk.inputs.scenario import Scenario, check_times
from mscpk.utils import LRUCache

#: Built networks by scenario structure (doses without amounts, the scenario's overrides of
#: non-model parameters): the species, the networks built by the parameters they read
#: (:class:`ByReads`) and the submodel results of those builds (:class:`BuildMemo`).
_NETWORKS = LRUCache(32)
#: Builds kept per structure (a fit or scan varies a few parameters around a point).
_PER_STRUCTURE = 8


def _structure_key(scenario: Scenario, params: ParameterSet) -> str:
    raw = scenario.model_dump(mode="json", exclude={"name", "run"})
    for d, dose in zip(raw["dose"], scenario.dose):
        if not amount_shapes_inputs(dose, params):  # else the amount is part of the structure
            d["cells"] = d["cells_per_kg"] = None
    raw["parameters"] = {k: v for k, v in raw["parameters"].items() if k not in params}
    return json.dumps(raw, sort_keys=True)


def network_for(scenario: Scenario, params: ParameterSet, species: Species) -> Network:
    """The scenario's network, reusing a cached build when only dose amounts or parameters
    that the build does not read differ, and the submodels of earlier builds that read no
    changed parameter.

    The rate matrices depend on the parameters the build reads, not on how many cells are
    given: a cached network is reused with fresh administrations (what repeated calls with
    varied doses cost) whenever every parameter its build read has the same value.
    Otherwise the network is built again, each submodel reusing its result of an earlier
    build whose parameters it read are unchanged (:class:`BuildMemo`): the network is the
    one a fresh build gives.
    """
    key = _structure_key(scenario, params)
    entry = _NETWORKS.get(key)
    if entry is None or not (entry[0] is species or entry[0] == species):
        entry = (species, ByReads(_PER_STRUCTURE), BuildMemo(_PER_STRUCTURE))
        _NETWORKS.put(key, entry)
    _, builds, memo = entry
    net = builds.find(params)
    if net is None:
        reads = Reads(params)
        net = build_network(scenario, reads, species, memo)
        builds.put(reads.read, net)
    cells = [d.cells if d.cells is not None else d.cells_per_kg * species.body_weight_kg
             for d in scenario.dose]
    return replace(net, inputs=tuple(replace(inp, cells=float(c)) for inp, c in zip(net.inputs, cells)))


def simulate(scenario: Scenario, *, times_h: Sequence[float] | None = None,
             params: ParameterSet | None = None, saturation: str | None = None,
             progress=None) -> Result:
    """Simulate a scenario: where the administered cells are, live or dead, at each time.

    Parameters
    ----------
    scenario : the scenario (:func:`mscpk.load_scenario`).
    times_h : output times [h] (default: the scenario's output grid).
    params : base model parameter set (default: the packaged one); the scenario's
        ``[parameters]`` overrides apply on top.
    saturation : "off" (linear, exact matrix-exponential solution), "on" (finite capillary
        beds, exponential Rosenbrock solver) or "auto" (:mod:`mscpk.engine.saturation`); default: the
        scenario's ``run.saturation``.
    progress : optional callable receiving the fraction of the run done (saturable model).

    Examples
    --------
    >>> import mscpk
    >>> res = mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml"))
    >>> bool(res.quantity("lung", "live_cells")[1] > 0.5 * 5e5)
    True
    """
    species, params = engine_inputs(scenario, params)
    net = network_for(scenario, params, species)
    times = np.asarray(check_times(times_h, "times_h") if times_h is not None else scenario.output_times())
    mode = sat.check_mode(saturation if saturation is not None else scenario.run.saturation)
    by_bed, solver = None, "expm"
    if mode != "on":
        states = LinearSolver().solve(net, times)
        by_bed = sat.peak_occlusion_by_bed(net, states)
    if sat.nonlinear(mode, max(by_bed.values(), default=0.0) if by_bed else None, params[sat.ONSET]):
        states = SaturatingSolver().solve(net, times, progress=progress)
        by_bed, solver = sat.peak_occlusion_by_bed(net, states), "exprb"
    worst = max(by_bed, key=by_bed.get) if by_bed else None
    return Result(scenario.name, times, net.names, states, administered(net, times),
                  {k: c.capacity for k, c in net.capacities.items()}, solver, species.name,
                  {"peak_occlusion": by_bed[worst] if worst else 0.0, "peak_occlusion_site": worst},
                  network=net)


__all__ = ["simulate", "network_for"]
