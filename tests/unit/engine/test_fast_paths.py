"""The fast paths give the answers of the plain ones: runs of equal steps in blocks, networks
reused across parameter changes, and the saturating solver at hourly output against
libroadrunner on the same SBML."""

import numpy as np
import pytest

import mscpk
from mscpk.analysis.sbml import export_sbml
from mscpk.engine import simulate as simulate_module
from mscpk.engine.model.build import build_network
from mscpk.engine.solvers import LinearSolver, expm

EXAMPLE = "examples/iv_mouse.toml"
HOURLY = np.arange(0.0, 673.0)


def _with_cells(cells: float):
    sc = mscpk.load_scenario(EXAMPLE)
    return sc.model_copy(update={"dose": (sc.dose[0].model_copy(update={"cells": cells}),)})


def test_runs_of_equal_steps_match_step_by_step_propagation(monkeypatch):
    net = build_network(mscpk.load_scenario(EXAMPLE))
    blocks = expm.solve_expm(net, HOURLY)
    monkeypatch.setattr(expm, "RUN_MIN", 10 ** 9)  # every step on its own
    steps = expm.solve_expm(net, HOURLY)
    dose = net.inputs[0].cells
    assert np.max(np.abs(blocks - steps)) / dose < 1e-12
    assert np.max(np.abs(blocks.sum(axis=1) - dose)) / dose < 1e-12
    # unsorted output times with a repeat give the same rows (other steps: to rounding)
    times = np.array([24.0, 0.0, 5.0, 24.0])
    np.testing.assert_allclose(expm.solve_expm(net, times), blocks[[24, 0, 5, 24]], rtol=0, atol=1e-12 * dose)


def test_network_reused_when_the_build_does_not_read_the_changed_parameter():
    sc = mscpk.load_scenario(EXAMPLE)
    base = mscpk.load_parameter_set()
    simulate_module._NETWORKS.clear()
    first = mscpk.simulate(sc, params=base)
    unread = mscpk.simulate(sc, params=base.updated({"Saturation onset occlusion [-]": 0.5}))
    assert unread.network is not None and unread.network.matrix_cache is first.network.matrix_cache
    np.testing.assert_array_equal(unread.states, first.states)


def test_changed_rate_parameter_gives_the_fresh_build_answer():
    sc = mscpk.load_scenario(EXAMPLE)
    params = mscpk.load_parameter_set().updated({"Engrafted cell death half-life [h]": 100.0})
    mscpk.simulate(sc)  # a cached build at the default value
    res = mscpk.simulate(sc, params=params)
    fresh = LinearSolver().solve(build_network(sc, params), np.asarray(res.times_h))
    np.testing.assert_array_equal(res.states, fresh)
    assert np.max(np.abs(res.states - mscpk.simulate(sc).states)) > 1.0  # it did change


def test_saturating_solver_agrees_with_libroadrunner_at_hourly_output():
    roadrunner = pytest.importorskip("roadrunner")
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    sc = _with_cells(2e6)
    res = mscpk.simulate(sc, times_h=HOURLY, saturation="on")
    rr = roadrunner.RoadRunner(export_sbml(sc, saturation="on"))
    rr.integrator.stiff = True
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14 * 2e6  # see tests/science/test_sbml_roundtrip.py
    rr.integrator.maximum_num_steps = 1_000_000
    out = np.asarray(rr.simulate(times=HOURLY.tolist(), selections=["time", *res.state_names]))[:, 1:]
    assert res.solver == "exprb"
    assert np.max(np.abs(out - res.states)) / 2e6 < 1e-6
    assert res.mass_balance_error() < 1e-9
