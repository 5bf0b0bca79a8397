"""Local crowding of an injection into an organ: survival exp(-n/n_c) per injection."""

import math

import numpy as np
import pytest

import mscpk
from mscpk.engine.model.build import build_network
from mscpk.errors import ScenarioError
from mscpk.inputs.load import scenario_from_dict

SCALE = "Local injection crowding scale [cells]"
LEAK, SPILL = "Intramyocardial leak-back fraction [-]", "Intramyocardial spill fraction [-]"


def _scenario(cells, injections=1, scale=2e5, route="intramyocardial", end_h=24.0):
    dose = {"route": route, "cells": cells, "injections": injections}
    if route != "iv":
        dose["site"] = "heart"
    return scenario_from_dict({"name": "crowding", "subject": {"species": "rat", "immune": "immunodeficient"},
                               "product": {"viability": 0.9}, "dose": [dose],
                               "parameters": {SCALE: scale}, "run": {"end_h": end_h}})


def test_the_kept_cells_survive_as_exp_of_minus_cells_per_injection_over_the_scale():
    sc = _scenario(2e6, injections=4)
    p = mscpk.parameters_in_force(sc).set_index("name")["value"]
    kept = 0.9 * (1 - p[LEAK] - p[SPILL])
    n = 2e6 * kept / 4
    inp = build_network(sc).inputs[0]
    assert inp.targets["heart__depot"] == pytest.approx(kept * math.exp(-n / 2e5), rel=1e-12)
    assert inp.targets["heart__dead"] == pytest.approx(0.1 + kept * (1 - math.exp(-n / 2e5)), rel=1e-12)
    assert sum(inp.targets.values()) == pytest.approx(1.0, rel=1e-12)


def test_live_cells_peak_at_a_dose_and_fall_beyond_it_and_more_injections_help():
    def live(cells, injections=1):  # live cells still in the injected deposit 1 h later
        return mscpk.simulate(_scenario(cells, injections, end_h=1.0)).quantity("heart", "depot_cells")[-1]

    doses = np.geomspace(1e5, 3e7, 12)
    curve = [live(c) for c in doses]
    top = int(np.argmax(curve))
    assert 0 < top < len(doses) - 1 and curve[-1] < curve[top] / 10
    assert live(1e7, injections=10) > 5 * live(1e7, injections=1)


def test_no_crowding_by_default():
    sc = _scenario(1e7, scale=2e5)
    default = sc.model_copy(update={"parameters": {}})
    assert mscpk.parameters_in_force(default).set_index("name").loc[SCALE, "value"] == math.inf
    assert "heart__dead" in build_network(default).inputs[0].targets  # the non-viable 10 % only
    assert build_network(default).inputs[0].targets["heart__dead"] == pytest.approx(0.1, rel=1e-12)


def test_injections_only_for_an_injection_into_an_organ():
    with pytest.raises(ScenarioError) as exc:
        _scenario(1e6, injections=3, route="iv")
    assert "dose[1]" in str(exc.value) and "injections = 3" in str(exc.value) and "intramyocardial" in str(exc.value)
