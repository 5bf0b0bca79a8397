"""Exposure-response (issue 11, item 3): each model against its closed form; metrics; errors."""

import math

import numpy as np
import pytest

import mscpk
from mscpk.analysis.effect import effect, effect_curves
from mscpk.errors import ScenarioError
from mscpk.inputs.effect import Effect

T = np.linspace(0.0, 48.0, 97)


def test_emax_on_live_cells_is_the_hill_equation():
    spec = Effect(site="lung", emax=2.0, ec50=100.0, hill=2.0, e0=0.1, source="test")
    live = np.array([[0.0, 100.0, 300.0]])
    _, e = effect_curves(spec, np.array([0.0, 1.0, 2.0]), live)
    np.testing.assert_allclose(e[0], [0.1, 0.1 + 1.0, 0.1 + 2.0 * 9 / 10])


def test_secreted_factor_and_indirect_response_solve_their_equations_exactly():
    q, t_half = 2e-3, 5.0
    k = math.log(2) / t_half
    spec = Effect(site="lung", driver="factor", secretion_per_cell_h=q, factor_half_life_h=t_half,
                  emax=1.0, ec50=1.0, source="test")
    live = np.full((1, T.size), 1000.0)  # constant cells: F = q C / k (1 - e^{-kt})
    d, _ = effect_curves(spec, T, live)
    np.testing.assert_allclose(d[0], q * 1000 / k * -np.expm1(-k * T), rtol=1e-12)
    ramp = np.linspace(0.0, 960.0, T.size)[None, :]  # a ramp C = a t: F = a q (t/k - (1 - e^{-kt})/k^2)
    d, _ = effect_curves(spec, T, ramp)
    a = 20.0
    np.testing.assert_allclose(d[0], a * q * (T / k + np.expm1(-k * T) / k ** 2), rtol=1e-10, atol=1e-14)
    ind = Effect(model="indirect", site="lung", kin=2.0, kout=0.5, smax=1.0, sc50=1000.0, source="test")
    _, r = effect_curves(ind, T, live)  # stimulated production 2 x 1.5: R -> 6 from 4 with rate 0.5
    np.testing.assert_allclose(r[0], 6.0 - 2.0 * np.exp(-0.5 * T), rtol=1e-12)


def test_effect_of_a_result_and_population_metrics():
    sc = mscpk.load_scenario("examples/effect_iv_mi_mouse.toml")
    df = effect(mscpk.simulate(sc), sc.effect)
    assert list(df.columns) == ["time_h", "driver", "effect"] and df.effect.max() > 0
    raw = sc.model_dump(mode="json", exclude_none=True)
    raw["population"] = {"n": 30, "vary": {"dose[1].cells": {"dist": "categorical", "values": [1e4, 2e4, 4e4]}}}
    pop = mscpk.population(mscpk.scenario_from_dict(raw), ["effect_max", "effect_at_24h"]).subjects
    e = pop.groupby("dose[1].cells")["effect_max"].first()
    assert len(e) == 3
    # the driver is linear in the dose (linear model), the effect is Emax of it: invert at the lowest dose
    spec = sc.effect
    d1 = spec.ec50 * e[1e4] / (spec.emax - e[1e4])
    for k in (2, 4):
        assert e[k * 1e4] == pytest.approx(spec.emax * k * d1 / (spec.ec50 + k * d1), rel=1e-6)
    assert 1.9 < e[2e4] / e[1e4] < 2.0  # nearly dose-proportional well below EC50


def test_effect_tables_are_checked():
    with pytest.raises(ValueError, match="needs secretion_per_cell_h, factor_half_life_h"):
        Effect(site="lung", driver="factor", emax=1.0, ec50=1.0, source="x")
    with pytest.raises(ValueError, match="kin not used by a emax model"):
        Effect(site="lung", emax=1.0, ec50=1.0, kin=1.0, source="x")
    raw = mscpk.load_scenario("examples/effect_iv_mi_mouse.toml").model_dump(mode="json", exclude_none=True)
    raw["effect"]["site"] = "lungs"
    with pytest.raises(ScenarioError, match="effect.site: 'lungs' is not a site"):
        mscpk.scenario_from_dict(raw)
    sc = mscpk.load_scenario("examples/iv_mouse.toml").model_copy(update={"population": None})
    raw = sc.model_dump(mode="json", exclude_none=True)
    raw["population"] = {"n": 2, "vary": {"dose[1].cells": {"dist": "uniform", "low": 1e5, "high": 2e5}}}
    with pytest.raises(ScenarioError, match="needs an \\[effect\\] table"):
        mscpk.population(mscpk.scenario_from_dict(raw), ["effect_max"])
