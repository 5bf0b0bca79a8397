"""The linear solvers: composed step propagators, modal vs matrix-exponential propagation."""

import numpy as np
import pytest

import mscpk
from helpers import make
from mscpk.engine.model.build import build_network
from mscpk.engine.solvers import LinearSolver
from mscpk.engine.solvers.expm import expm_conservative, step_propagators
from mscpk.errors import SolverError

EXAMPLE = "examples/iv_mouse.toml"


def test_composed_step_propagators_equal_direct_matrix_exponentials():
    net = build_network(mscpk.load_scenario(EXAMPLE))
    a = net.matrix()
    steps = [0.05, 0.15, 0.25, 6.0, 24.0, 0.7]  # 0.7 is composed too (14 x 0.05)
    props = step_propagators(a, steps)
    for dt in steps:
        direct = expm_conservative(a * dt)
        np.testing.assert_allclose(props[dt] + np.eye(len(a)), direct, rtol=0, atol=1e-12)
        assert np.abs(props[dt].sum(axis=0)).max() < 1e-13  # cells conserved per step


def test_linear_solver_methods_agree_and_scale_with_dose():
    sc = make(doses=[{"route": "iv", "cells": 1e6, "infusion_min": 30.0},
                     {"route": "ip", "cells": 5e5, "time_h": 10.0}], end=200.0, vasodilator=True)
    net = build_network(sc)
    times = np.asarray(sc.output_times())
    a = LinearSolver().solve(net, times)
    b = LinearSolver(method="modal").solve(net, times)
    assert np.abs(a - b).max() / 1.5e6 < 1e-8
    # the propagator cache (keyed by the rate matrix) serves a model, never a result
    sc2 = make(doses=[{"route": "iv", "cells": 2e6, "infusion_min": 30.0},
                      {"route": "ip", "cells": 1e6, "time_h": 10.0}], end=200.0, vasodilator=True)
    c = LinearSolver().solve(build_network(sc2), times)
    np.testing.assert_allclose(c, 2 * a, rtol=1e-12, atol=1e-9)
    with pytest.raises(SolverError, match="unknown method"):
        LinearSolver(method="rk4").solve(net, times)
