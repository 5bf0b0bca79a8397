"""Populations over product and dose keys, sampled physiology, age and sex (issue 10): the
vectorised paths against one simulate per subject; each test can fail."""

import numpy as np
import pytest

import mscpk
from mscpk.analysis.population.evaluate import plan
from mscpk.analysis.population.run import run_chunks
from mscpk.errors import ParameterError, ScenarioError
from mscpk.inputs.physiology import load_species
from mscpk.inputs.physiology.age import physiology_at_age
from mscpk.inputs.resolve import engine_inputs

LUNG_T = "Lung arrested cell death half-life [h]"
METRICS = ["lung:cell_days", "liver:peak_live", "lung:peak_occlusion", "persistence_h"]
#: Batch against simulate: the engine's own agreement (tests/unit/engine/test_batch.py), 1e-9 of the dose.
DOSE_TOL = 1e-9


def _scenario(vary, n=8, seed=5, cells=5e5, saturation="auto", species="mouse", dose=None):
    raw = {"name": "pop", "subject": {"species": species, "immune": "immunocompetent"},
           "product": {"origin": "syngeneic", "diameter_um": {"mean": 18.0, "sd": 3.0}},
           "dose": [dose or {"route": "iv", "cells": cells}], "run": {"end_h": 168.0, "saturation": saturation},
           "population": {"n": n, "seed": seed, "vary": vary}}
    return mscpk.scenario_from_dict(raw)


def _one_by_one(sc, table, metrics, keys, physiology=None):
    """Each subject's metrics from a scenario of its own (scenario keys set, parameters as overrides)."""
    from mscpk.analysis.population.evaluate import _metric_values, _simulate_one, _subject_scenario

    p = plan(sc, metrics)
    values = {k: table[k].to_numpy() for k in keys}
    pkeys = [k for k in keys if not k.startswith(("product.", "dose[", "subject.", "covariate."))]
    if physiology is not None:
        values.update(physiology)
        pkeys += list(physiology)
    skeys = [k for k in keys if k not in pkeys and not k.startswith("covariate.")]
    rows = []
    for i in range(len(table)):
        sites, cells, occ, dose = _simulate_one(p, _subject_scenario(sc, skeys, values, pkeys, i), sc.run.saturation)
        rows.append(_metric_values(p, cells, sites, occ, np.array([dose]))[0])
    return np.array(rows)


def _close(got, expected, dose):
    """Cells metrics within DOSE_TOL of the dose, the rest (occlusion, hours) to 1e-9 relative."""
    cells = [0, 1]
    np.testing.assert_allclose(got[:, cells], expected[:, cells], rtol=0, atol=DOSE_TOL * dose)
    np.testing.assert_allclose(got[:, 2:], expected[:, 2:], rtol=1e-9)


def test_cell_size_viability_and_severity_vary_in_one_batch_as_one_simulate_each():
    vary = {"product.diameter_um.mean": {"dist": "uniform", "low": 14.0, "high": 22.0},
            "product.diameter_um.sd": {"dist": "uniform", "low": 0.0, "high": 4.0},
            "product.viability": {"dist": "uniform", "low": 0.6, "high": 1.0},
            LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.4}}
    sc = _scenario(vary)
    t = mscpk.population(sc, METRICS).subjects
    assert t["product.diameter_um.mean"].nunique() == 8
    _close(t[METRICS].to_numpy(), _one_by_one(sc, t, METRICS, list(vary)), 5e5)
    # larger cells are arrested more in the lung (a check that the size reached the build)
    assert np.corrcoef(t["product.diameter_um.mean"], t["lung:peak_occlusion"])[0, 1] > 0.5


def test_injury_severity_varies_per_subject():
    raw = {"name": "pop", "subject": {"species": "mouse", "injury": [{"site": "heart", "severity": 1.0}]},
           "product": {"origin": "syngeneic"}, "dose": [{"route": "iv", "cells": 5e5}], "run": {"end_h": 72.0},
           "population": {"n": 6, "seed": 2,
                          "vary": {"subject.injury[1].severity": {"dist": "uniform", "low": 0.0, "high": 3.0}}}}
    sc = mscpk.scenario_from_dict(raw)
    metrics = ["heart:cell_days", "lung:cell_days", "lung:peak_occlusion", "persistence_h"]
    t = mscpk.population(sc, metrics).subjects
    _close(t[metrics].to_numpy(), _one_by_one(sc, t, metrics, ["subject.injury[1].severity"]), 5e5)
    assert np.corrcoef(t["subject.injury[1].severity"], t["heart:cell_days"])[0, 1] > 0.9  # homing to the injury


@pytest.mark.parametrize("cells, saturation, saturating", [(2e5, "auto", False), (6e6, "auto", True), (2e6, "on", True)])
def test_a_varied_dose_scales_the_outputs_also_past_the_saturation_onset(cells, saturation, saturating):
    # f times the cells is the fixed-dose subject with embolic capacities / f, times f: exact
    # for the linear model and for the saturable arrest k x (1 - x / capacity) alike
    vary = {"dose[1].cells": {"dist": "lognormal", "median": cells, "cv": 0.5},
            "product.diameter_um.mean": {"dist": "uniform", "low": 14.0, "high": 22.0}}
    sc = _scenario(vary, saturation=saturation)
    t = mscpk.population(sc, METRICS).subjects
    expected = _one_by_one(sc, t, METRICS, list(vary))
    _close(t[METRICS].to_numpy(), expected, float(t["dose[1].cells"].max()))
    # the high doses take some subjects past the onset (the saturable model ran), the low one none
    onset = engine_inputs(sc)[1]["Saturation onset occlusion [-]"]
    assert bool((t["lung:peak_occlusion"] > onset).any()) == saturating


def test_dose_and_diameter_populations_do_not_depend_on_the_chunking():
    vary = {"dose[1].cells": {"dist": "lognormal", "median": 5e5, "cv": 0.5},
            "product.viability": {"dist": "uniform", "low": 0.6, "high": 1.0}}
    sc = _scenario(vary, n=30)
    p = plan(sc, ["lung:cell_days", "persistence_h"], bands=True)
    a = run_chunks(p, sc.population, chunk=30)
    b = run_chunks(p, sc.population, chunk=7)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2].counts, b[2].counts)


def test_sampled_physiology_in_one_build_is_each_subjects_own_species():
    vary = {"Cardiac output [L/h]": {"dist": "lognormal", "median": 0.84, "cv": 0.2},
            "Lung capillary median diameter [um]": {"dist": "uniform", "low": 6.0, "high": 9.0}}
    sc = _scenario(vary)
    t = mscpk.population(sc, METRICS).subjects
    phys = {k: t[k].to_numpy() for k in vary}
    _close(t[METRICS].to_numpy(), _one_by_one(sc, t, METRICS, [], physiology=phys), 5e5)


def test_a_bad_subject_physiology_is_named_by_its_subject():
    sc = _scenario({"Venous blood fraction [-]": {"dist": "uniform", "low": 0.5, "high": 0.9}})
    samples = {"Venous blood fraction [-]": np.array([0.7, 0.7, 0.7, 1.2, 0.7])}
    with pytest.raises(ParameterError, match=r"subject 3: .*'Venous blood fraction \[-\]' = 1.2 must be in \(0, 1\)"):
        mscpk.simulate_batch(sc, samples)


def test_sex_covariate_gives_each_subject_the_icrp_89_adult_of_its_sex():
    dose = {"route": "iv", "cells_per_kg": 2e6}
    vary = {"covariate.sex": {"dist": "categorical", "values": ["male", "female"]},
            "covariate.age_y": {"dist": "uniform", "low": 1.0, "high": 50.0}}
    sc = _scenario(vary, species="human", dose=dose)
    metrics = ["lung:cell_days", "brain:cell_days", "lung:peak_occlusion", "persistence_h"]
    t = mscpk.population(sc, metrics).subjects
    assert set(t["covariate.sex"]) == {"male", "female"}
    phys = physiology_at_age(load_species("human"), t["covariate.age_y"].to_numpy(), t["covariate.sex"].to_numpy())
    expected = _one_by_one(sc, t, metrics, [], physiology=phys)
    _close(t[metrics].to_numpy(), expected, 2e6 * float(phys["Body weight [kg]"].max()))


def test_sex_is_refused_for_mice_and_when_not_categorical():
    with pytest.raises(ScenarioError, match="humans only"):
        _scenario({"covariate.sex": {"dist": "categorical", "values": ["male", "female"]}})
    with pytest.raises(ScenarioError, match="covariate.sex.*categorical distribution of 'male' and 'female'"):
        _scenario({"covariate.sex": {"dist": "categorical", "values": ["male", "other"]}}, species="human")


def test_body_weight_scales_the_species_of_each_subject_as_a_scenario_of_its_own():
    vary = {"subject.body_weight_kg": {"dist": "uniform", "low": 0.018, "high": 0.035},
            LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.4}}
    sc = _scenario(vary, dose={"route": "iv", "cells_per_kg": 2e7})
    t = mscpk.population(sc, METRICS).subjects
    expected = _one_by_one(sc, t, METRICS, list(vary))  # subject.body_weight_kg set in each scenario
    _close(t[METRICS].to_numpy(), expected, 2e7 * 0.035)
