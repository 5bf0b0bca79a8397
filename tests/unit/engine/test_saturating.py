"""The saturable model's exponential Rosenbrock solver: agreement with scipy's BDF on the same
equations, conservation, and beds kept at or below capacity."""

import numpy as np

import mscpk
from helpers import make
from mscpk.engine.model.build import build_network
from mscpk.engine.solvers import SaturatingSolver, StiffSolver
from mscpk.engine.solvers import exprb, exprb_basis, exprb_kernel
from mscpk.engine.solvers.exprb import phi

EXAMPLE = "examples/iv_mouse.toml"


def iv_mouse(cells, **run):
    sc = mscpk.load_scenario(EXAMPLE)
    return sc.model_copy(update={"dose": (sc.dose[0].model_copy(update={"cells": cells}),), **run})


def test_phi_functions_match_their_definition_on_both_sides_of_the_series_switch():
    z = np.array([-3.0, -0.6, -0.4, -1e-3, 0.0, 0.3 + 0.2j, 2.0])
    zz = np.where(z == 0, 1.0, z)
    ref = {1: np.expm1(zz) / zz, 2: (np.exp(zz) - 1 - zz) / zz ** 2,
           3: (np.exp(zz) - 1 - zz - zz ** 2 / 2) / zz ** 3}
    for k, want in ref.items():
        want = np.where(z == 0, 1.0 / np.prod(np.arange(1, k + 1)), want)
        big = np.abs(z) > 0.05  # the closed forms cancel near 0
        np.testing.assert_allclose(phi(z, k)[big], want[big], rtol=1e-12)
    np.testing.assert_allclose(phi(np.array([1e-3]), 3), [1 / 6 + 1e-3 / 24 + 1e-6 / 120 + 1e-9 / 720], rtol=1e-14)


def test_saturating_solver_matches_bdf_in_lee_2009_design():
    # 2e6 cells IV in a mouse (Lee 2009): the lung bed saturates
    sc = iv_mouse(2e6)
    net = build_network(sc)
    times = np.array([0.0, 0.01, 0.1, 1.0, 6.0, 24.0, 168.0, 336.0, 672.0])
    a = SaturatingSolver().solve(net, times)
    b = StiffSolver().solve(net, times)
    assert np.max(np.abs(a - b)) / 2e6 < 1e-6
    assert np.max(np.abs(a.sum(axis=1) - 2e6)) / 2e6 < 1e-9


def test_saturating_solver_is_exact_on_a_linear_network():
    sc = make(cells=1e6, times=[0.1, 1, 24, 72, 336])
    net = build_network(sc)
    times = np.array([0.1, 1, 24, 72, 336])
    lin = mscpk.simulate(sc, saturation="off").states
    free = net.__class__(net.layout, net.modes, net.inputs, {}, net.schedule)  # no beds
    np.testing.assert_allclose(SaturatingSolver().solve(free, times), lin, rtol=0, atol=1e-9 * 1e6)


def test_beds_never_exceed_capacity_with_a_huge_dose():
    # 1e12 cells in a mouse: far more than every bed holds; BDF let the lung reach 1.025
    res = mscpk.simulate(iv_mouse(1e12, ), times_h=[0.0, 1e-4, 0.01, 1.0, 24.0], saturation="on")
    assert res.solver == "exprb"
    occ = [res.quantity(o, "occlusion_fraction") for o in res.capacities]
    assert max(float(np.max(o)) for o in occ) <= 1.0
    assert float(np.max(occ[list(res.capacities).index("lung")])) > 0.999  # and it does fill up
    assert res.mass_balance_error() < 1e-9
    assert res.states.min() >= -1e-9 * 1e12


def test_saturating_solver_handles_infusion_and_modes():
    sc = make(cells=3e7, doses=[{"route": "iv", "cells": 3e7, "infusion_min": 30.0, "vasodilator": True}],
              times=[0.0, 0.25, 0.5, 1.0, 6.0, 48.0], end=48.0)
    net = build_network(sc)
    times = np.array([0.0, 0.25, 0.5, 1.0, 6.0, 48.0])
    a = SaturatingSolver().solve(net, times)
    b = StiffSolver().solve(net, times)
    assert np.max(np.abs(a - b)) / 3e7 < 1e-6


def test_complex_eigenbases_are_stepped_by_the_compiled_kernel_and_match_bdf():
    # 2e8 cells fill the lung within seconds: on the way the Jacobian has complex pairs
    net = build_network(iv_mouse(2e8))
    times = np.array([0.0, 1e-4, 1e-3, 0.01, 1.0, 24.0, 168.0, 672.0])
    solver = SaturatingSolver()
    setup = exprb._Setup.of(net, 1, times, solver.atol_rel)
    _, status = solver._compiled(setup, times, None, None)
    assert status.tolist() == [exprb_kernel.OK]  # no subject left to the numpy path
    a = solver.solve(net, times)
    b = StiffSolver().solve(net, times)
    assert np.max(np.abs(a - b)) / 2e8 < 1e-6
    assert np.max(np.abs(a.sum(axis=1) - 2e8)) / 2e8 < 1e-9


def test_subjects_without_a_usable_eigenbasis_fall_back_to_the_numpy_path(monkeypatch):
    # no eigenbasis is accepted: the kernel hands the subject over, the numpy path steps
    # it with matrix exponentials of the augmented matrix instead
    net = build_network(iv_mouse(2e6))
    times = np.array([0.0, 0.01, 1.0, 24.0, 168.0])
    monkeypatch.setattr(exprb, "COND_MAX", 0.0)
    solver = SaturatingSolver()
    _, status = solver._compiled(exprb._Setup.of(net, 1, times, solver.atol_rel), times, None, None)
    assert status.tolist() == [exprb_kernel.BASIS]
    a = solver.solve(net, times)
    b = StiffSolver().solve(net, times)
    assert np.max(np.abs(a - b)) / 2e6 < 1e-6
    assert np.max(np.abs(a.sum(axis=1) - 2e6)) / 2e6 < 1e-9


def test_saturating_results_are_deterministic_and_output_rows_match_the_states():
    net = build_network(iv_mouse(2e6))
    times = np.arange(0.0, 49.0)
    a, b = SaturatingSolver().solve(net, times), SaturatingSolver().solve(net, times)
    assert np.array_equal(a, b)
    w = np.eye(len(net.layout))[:5]
    y = SaturatingSolver().outputs(net, 1, times, w)
    np.testing.assert_allclose(y[0], a.T[:5], rtol=0, atol=1e-12 * 2e6)


def test_compiled_kernel_and_numpy_path_take_the_same_steps():
    # one method (exprb53s3) in two implementations: the same answers to rounding-level
    # differences of their eigensolvers (dense per subject vs the batched block one)
    net = build_network(iv_mouse(2e6))
    times = np.array([0.0, 0.001, 0.01, 0.1, 1.0, 24.0, 168.0, 672.0])
    solver = SaturatingSolver()
    setup = exprb._Setup.of(net, 1, times, solver.atol_rel)
    numpy_path = solver._lockstep(setup, times, np.eye(len(net.layout)), np.array([0]))[0].T
    assert np.max(np.abs(solver.solve(net, times) - numpy_path)) / 2e6 < 1e-9


def _circulation_jacobians(cells, times):
    """The Jacobian's 26-state circulation block (solver order) at the states at ``times``."""
    net = build_network(iv_mouse(cells))
    solver = SaturatingSolver()
    setup = exprb._Setup.of(net, 1, np.asarray(times), solver.atol_rel)
    states = solver.solve(net, np.asarray(times))[:, setup.perm]
    (b0, b1) = setup.blocks[0]
    return [np.ascontiguousarray(exprb._rhs_jac(setup.tm, "base", x[None], None, np.array([0]))[1][0, b0:b1, b0:b1])
            for x in states]


def test_eigenbasis_refinement_from_the_previous_step_matches_lapack():
    # the lung filling at 2e6 cells: the Jacobian 10 s apart, the slow modes nearly equal
    refine = exprb_kernel.advance() and exprb_basis.refine
    j_a, j_b = _circulation_jacobians(2e6, [0.002, 0.005])
    lam_a, v_a = np.linalg.eig(j_a)
    assert not np.any(lam_a.imag) and not np.allclose(j_a, j_b)
    v, w, lam = v_a.real.copy(), np.linalg.inv(v_a.real), np.empty(len(j_b))
    assert refine(j_b, v, w, lam)
    want = np.linalg.eigvals(j_b)
    np.testing.assert_allclose(np.sort(lam), np.sort(want.real), rtol=1e-9)
    np.testing.assert_allclose(w @ v, np.eye(len(v)), rtol=0, atol=1e-12)
    def coupling(v, w):  # largest |(W J V)_ij| relative to |lam_i| + |lam_j|, i != j
        b = w @ j_b @ v
        d = np.abs(np.diag(b))
        return np.max(np.abs(b - np.diag(np.diag(b))) / (d[:, None] + d[None, :]))

    _, v_l = np.linalg.eig(j_b)
    assert coupling(v, w) <= max(coupling(v_l.real, np.linalg.inv(v_l.real)), 1e-12)


def test_eigenbasis_refinement_refuses_a_complex_pair():
    refine = exprb_kernel.advance() and exprb_basis.refine
    blk = np.array([[-1.0, 2.0, 0.0], [-2.0, -1.0, 0.0], [0.0, 0.0, -5.0]])  # -1 +- 2i
    v, w, lam = np.eye(3), np.eye(3), np.empty(3)
    assert not refine(blk, v, w, lam)
