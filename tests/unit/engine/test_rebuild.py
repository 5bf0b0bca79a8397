"""Parameter changes without a full rebuild: a network built with the submodel results of
earlier builds (engine/model/build.py ``BuildMemo``) is the network a fresh build gives, for
every parameter the build reads, and a cached build is never reused for another structure
(physiology overrides, species, body weight)."""

import math

import numpy as np
import pytest

import mscpk
from helpers import make
from mscpk.engine import simulate as simulate_module
from mscpk.engine.model.build import Reads, build_network
from mscpk.engine.model.circulation import capacities, circulation
from mscpk.engine.model.context import BuildContext
from mscpk.engine.model.depots import depots, dose_inputs
from mscpk.engine.model.fate import cell_fate
from mscpk.engine.simulate import network_for
from mscpk.engine.solvers import LinearSolver, expm
from mscpk.errors import ParameterError
from mscpk.inputs.resolve import engine_inputs

EXAMPLE = "examples/iv_mouse.toml"
#: an IV dose with a vasodilator and an IP dose into a host with an injured liver: every
#: submodel (circulation with dilation, homing, fate, the peritoneal depot) and three modes
MIXED = dict(doses=[{"route": "iv", "cells": 1e6, "vasodilator": True},
                    {"route": "ip", "cells": 5e5, "time_h": 10.0}],
             injury=[{"site": "liver", "severity": 1.0}], end=400.0)
SUBMODELS = {"circulation": circulation, "cell_fate": cell_fate, "depots": depots,
             "capacities": capacities, "dose_inputs": dose_inputs}


def _scenarios():
    return {"iv_mouse": mscpk.load_scenario(EXAMPLE), "mixed": make(**MIXED)}


def _read_by(scenario) -> list[tuple[str, str]]:
    """(submodel, parameter) for every parameter each submodel (and the build) reads."""
    species, params = engine_inputs(scenario)
    out = []
    for name, fn in SUBMODELS.items():
        reads = Reads(params)
        fn(BuildContext(scenario, species, reads))
        out += [(name, p) for p in reads.read]
    reads = Reads(params)
    build_network(scenario, reads, species)
    out += [("build", p) for p in reads.read if all(p != q for _, q in out)]
    return out


def _changed(params, name):
    """``params`` with ``name`` moved to another allowed value."""
    v = params[name]
    for new in (v * 1.1, v * 0.9, 0.5, 0.05, 2.0 * v + 1.0):
        if math.isfinite(new) and new != v:
            try:
                return params.updated({name: new})
            except ParameterError:
                continue
    raise AssertionError(f"no other allowed value for {name!r}")  # pragma: no cover


CASES = [(key, sub, p) for key, sc in _scenarios().items() for sub, p in _read_by(sc)]


def _same_network(net, fresh) -> None:
    assert net.names == fresh.names
    assert dict(net.modes) == dict(fresh.modes)
    assert net.inputs == fresh.inputs and net.schedule == fresh.schedule
    assert dict(net.capacities) == dict(fresh.capacities)


def test_every_submodel_reads_parameters():
    assert {sub for key, sub, _ in CASES if key == "mixed"} == set(SUBMODELS) | {"build"}


@pytest.mark.parametrize("key, submodel, name", CASES, ids=[f"{k}-{s}-{p}" for k, s, p in CASES])
def test_changed_parameter_gives_the_fresh_build(key, submodel, name):
    sc = _scenarios()[key]
    species, base = engine_inputs(sc)
    times = np.asarray(sc.output_times())
    mscpk.simulate(sc, params=base, saturation="off")  # the cached build and submodel results
    params = _changed(base, name)
    res = mscpk.simulate(sc, params=params, saturation="off")
    fresh = build_network(sc, params, species)
    _same_network(res.network, fresh)
    dose = float(res.administered.max())
    assert np.max(np.abs(res.states - LinearSolver().solve(fresh, times))) <= 1e-12 * dose
    assert res.mass_balance_error() <= 1e-9


def test_submodels_that_read_no_changed_parameter_are_reused():
    sc = mscpk.load_scenario(EXAMPLE)
    simulate_module._NETWORKS.clear()
    base = mscpk.load_parameter_set()
    first = mscpk.simulate(sc, params=base).network
    changed = mscpk.simulate(sc, params=base.updated({"Engrafted cell death half-life [h]": 100.0})).network
    n_circ = len(circulation(BuildContext(sc, engine_inputs(sc)[0], base)))
    for mode in first.modes:  # circulation comes first in every mode and is the same object
        assert all(a is b for a, b in zip(first.modes[mode][:n_circ], changed.modes[mode][:n_circ]))
        assert first.modes[mode][n_circ:] != changed.modes[mode][n_circ:]  # cell fate is not


def _with_body_weight(sc, kg):
    return sc.model_copy(update={"subject": sc.subject.model_copy(update={"body_weight_kg": kg})})


@pytest.mark.parametrize("change", ["physiology", "species", "body_weight"])
def test_a_cached_build_is_never_reused_for_another_structure(change):
    first_sc = make(params={"Lung volume [L]": 1.5e-4})
    sc = {"physiology": lambda: make(params={"Lung volume [L]": 1.7e-4}),  # not a model parameter
          "species": lambda: make(species="rat", params={"Lung volume [L]": 1.5e-4}),
          "body_weight": lambda: _with_body_weight(first_sc, 0.03)}[change]()
    first = mscpk.simulate(first_sc, saturation="off")
    res = mscpk.simulate(sc, saturation="off")
    species, params = engine_inputs(sc)
    _same_network(res.network, build_network(sc, params, species))
    assert not np.array_equal(res.network.matrix(), first.network.matrix())


def test_network_for_rebuilds_for_another_species_object():
    sc = make()
    species, params = engine_inputs(sc)
    network_for(sc, params, species)
    other = engine_inputs(make(params={"Cardiac output [L/h]": 1.0}))[0]
    _same_network(network_for(sc, params, other), build_network(sc, params, other))


def test_propagation_never_depends_on_what_was_computed_before():
    net = build_network(mscpk.load_scenario(EXAMPLE))
    hourly = np.arange(0.0, 673.0)
    expm._PROPAGATORS.clear()
    alone = expm.solve_expm(net, hourly)
    expm._PROPAGATORS.clear()
    expm.solve_expm(net, hourly[:40])  # a shorter run first: fewer doubling levels cached
    np.testing.assert_array_equal(expm.solve_expm(net, hourly), alone)
    np.testing.assert_array_equal(expm.solve_expm(net, hourly), alone)  # and from the cache
