"""Design optimisation (issue 11, item 6): a known optimum found, constraints respected, errors."""

import json

import numpy as np
import pytest

import mscpk
from mscpk.engine.saturation import peak_occlusion_by_bed
from mscpk.errors import ScenarioError

EXAMPLE = "examples/iv_mouse.toml"


def _lung_peak(sc, cells):
    d = sc.dose[0].model_copy(update={"cells": float(cells)})
    res = mscpk.simulate(sc.model_copy(update={"dose": (d,)}))
    return peak_occlusion_by_bed(res.network, res.states)["lung"]


def test_known_optimum_is_the_dose_where_the_lung_cap_binds():
    sc = mscpk.load_scenario(EXAMPLE)
    cap = 0.03
    best = mscpk.optimize(sc, "heart:cell_days", ["dose[1].cells=1e5..1e7"], [f"lung:peak_occlusion<={cap}"])
    lo, hi = 1e5, 1e7  # bisection with simulate: the dose at which the lung's peak occlusion reaches the cap
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if _lung_peak(sc, mid) < cap else (lo, mid)
    assert best.feasible
    assert best.best["dose[1].cells"] == pytest.approx(lo, rel=0.02)
    assert best.constraints["lung:peak_occlusion"] <= cap * (1 + 1e-9)
    assert json.loads(best.to_json())["evaluations"] == len(best.history)


def test_discrete_choices_and_an_infeasible_design_space():
    sc = mscpk.load_scenario(EXAMPLE)
    alone = mscpk.optimize(sc, "lung:cell_days", ["product.diameter_um.mean=12,18"])
    assert alone.best["product.diameter_um.mean"] == 18 and alone.evaluations == 2  # larger cells stay longer
    # with the dose free and the lung's occlusion capped, small cells allow a larger dose: the
    # joint optimum is the better of the two per-diameter optima
    vary, cap = ["dose[1].cells=1e5..2e6"], ["lung:peak_occlusion<=0.04"]
    both = mscpk.optimize(sc, "lung:cell_days", vary + ["product.diameter_um.mean=12,18"], cap)
    each = {d: mscpk.optimize(sc.model_copy(update={"product": sc.product.model_copy(update={
        "diameter_um": sc.product.diameter_um.model_copy(update={"mean": float(d)})})}), "lung:cell_days", vary, cap)
        for d in (12, 18)}
    winner = max(each, key=lambda d: each[d].objective)
    assert both.best["product.diameter_um.mean"] == winner
    assert both.objective == pytest.approx(each[winner].objective, rel=1e-3)
    none = mscpk.optimize(sc, "heart:cell_days", ["dose[1].cells=1e6..1e7"], ["lung:peak_occlusion<=0.001"])
    assert not none.feasible and none.best["dose[1].cells"] == pytest.approx(1e6, rel=1e-6)  # least violation


@pytest.mark.parametrize("vary, cons, text", [
    (["dose[1].cells=1e7..1e5"], [], "need finite LOW < HIGH"),
    (["dose[1].cells"], [], "expected KEY=LOW..HIGH"),
    (["dose[1].cells=1e5..1e7"], ["lung:peak_occlusion<0.1"], "expected METRIC<=X"),
    (["dose[1].cells=1e5..1e13"], [], "dose[1].cells"),
    (["dose[1].cells=1e5..1e7"], ["lung:oops<=1"], "'oops' in 'lung:oops' is not a metric kind"),
])
def test_bad_designs_are_refused(vary, cons, text):
    sc = mscpk.load_scenario(EXAMPLE)
    with pytest.raises(ScenarioError) as info:
        mscpk.optimize(sc, "heart:cell_days", vary, cons)
    assert text in str(info.value)
