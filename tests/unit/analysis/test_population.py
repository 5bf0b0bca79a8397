"""Virtual populations and sensitivity (issue 10): each test can fail."""

import numpy as np
import pandas as pd
import pytest

import mscpk
from mscpk.analysis.population import draw
from mscpk.analysis.population.run import run_chunks
from mscpk.analysis.population.evaluate import plan
from mscpk.analysis.summary import exposure
from mscpk.errors import ScenarioError
from mscpk.inputs.population import Population

LUNG_T = "Lung arrested cell death half-life [h]"
JOINT = "Joint attachment half-life [h]"


def _scenario(vary, n=50, seed=3, **extra):
    raw = {"name": "pop", "subject": {"species": "mouse", "immune": "immunocompetent"},
           "product": {"origin": "syngeneic", "diameter_um": {"mean": 18.0, "sd": 3.0}},
           "dose": [{"route": "iv", "cells": 5e5}], "run": {"end_h": 336.0},
           "population": {"n": n, "seed": seed, "vary": vary, **extra}}
    return mscpk.scenario_from_dict(raw)


def test_zero_variance_population_reproduces_simulate_exactly():
    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.0}}, n=7)
    res = mscpk.population(sc, ["lung:cell_days", "lung:peak_live", "liver:live_at_24h"])
    one = mscpk.simulate(sc.model_copy(update={"parameters": {LUNG_T: 6.0}}),
                         times_h=plan(sc, ["liver:live_at_24h"]).times)
    lung = one.quantity("lung", "live_cells")
    expected = [exposure(one.times_h, lung) / 24.0, lung.max(),
                one.quantity("liver", "live_cells")[list(one.times_h).index(24.0)]]
    got = res.subjects[["lung:cell_days", "lung:peak_live", "liver:live_at_24h"]].to_numpy()
    assert (got == np.array(expected)[None, :]).all()


def test_median_of_a_monotone_metric_is_the_metric_at_the_factor_median():
    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.5}}, n=201)
    t = mscpk.population(sc, ["lung:cell_days"]).subjects
    # the metric rises with the half-life, so its sample median belongs to the factor's median subject
    mid = t[LUNG_T].median()
    assert t.loc[t[LUNG_T] == mid, "lung:cell_days"].item() == pytest.approx(t["lung:cell_days"].median(), rel=1e-9)
    # and the sample median of the factor is within sampling error of the distribution's median
    sd_log = np.sqrt(np.log1p(0.5 ** 2))
    assert abs(np.log(mid / 6.0)) < 3 * 1.2533 * sd_log / np.sqrt(201)


def test_same_seed_same_subjects_whatever_the_chunking():
    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.4},
                    "Cardiac output [L/h]": {"dist": "normal", "mean": 0.84, "sd": 0.08, "low": 0.5}}, n=45)
    p = plan(sc, ["lung:cell_days", "persistence_h"], bands=True)
    a = run_chunks(p, sc.population, chunk=45)
    b = run_chunks(p, sc.population, chunk=7)
    assert all((a[0][k] == b[0][k]).all() for k in a[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2].counts, b[2].counts)


@pytest.mark.slow
def test_same_tables_on_a_local_dask_cluster_of_two_workers_and_a_process_pool():
    from distributed import LocalCluster

    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.4}}, n=30)
    p = plan(sc, ["lung:cell_days"], bands=True)
    local = run_chunks(p, sc.population, chunk=30)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = run_chunks(p, sc.population, chunk=8, scheduler=cluster.scheduler_address)
        sens = mscpk.sensitivity(sc, ["lung:cell_days"], method="morris", n=4, scheduler=cluster.scheduler_address)
    pool = run_chunks(p, sc.population, chunk=11, workers=2)
    pd.testing.assert_frame_equal(sens, mscpk.sensitivity(sc, ["lung:cell_days"], method="morris", n=4))
    for other in (remote, pool):
        np.testing.assert_array_equal(local[1], other[1])
        np.testing.assert_array_equal(local[2].counts, other[2].counts)


def test_copula_gives_the_rank_correlation_asked_for():
    pop = Population(n=4000, seed=5, vary={"a": {"dist": "lognormal", "median": 1.0, "cv": 0.5},
                                           "b": {"dist": "uniform", "low": 0.0, "high": 1.0}},
                     correlation={"keys": ["a", "b"], "matrix": [[1.0, 0.8], [0.8, 1.0]]})
    v = draw(pop)
    from scipy.stats import spearmanr

    rho = spearmanr(v["a"], v["b"]).statistic
    # Spearman's rho of a Gaussian copula with r = 0.8: (6 / pi) asin(r / 2) = 0.786
    assert rho == pytest.approx(6 / np.pi * np.arcsin(0.4), abs=0.02)


def test_categorical_weights_and_scenario_keys_change_the_subjects():
    sc = _scenario({"subject.immune": {"dist": "categorical", "values": ["immunocompetent", "immunodeficient"],
                                       "weights": [0.5, 0.5]}}, n=40)
    t = mscpk.population(sc, ["lung:cell_days", "persistence_h"]).subjects
    assert set(t["subject.immune"]) == {"immunocompetent", "immunodeficient"}
    by = t.groupby("subject.immune")["persistence_h"].median()
    assert by["immunodeficient"] > by["immunocompetent"]  # no immune clearance, longer persistence


def test_sobol_no_effect_factor_and_dominant_factor():
    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.5},
                    JOINT: {"dist": "lognormal", "median": 100.0, "cv": 0.5}})
    df = mscpk.sensitivity(sc, ["lung:cell_days"], method="sobol", n=64).set_index("parameter")
    assert df.loc[JOINT, "ST"] < 0.01  # a joint parameter cannot act after an IV dose
    assert df.loc[LUNG_T, "ST"] > 0.8
    assert df["ST"].idxmax() == LUNG_T


def test_responders_with_exact_ci():
    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.5}}, n=60,
                   responder={"metric": "lung:cell_days", "threshold": 1.0})
    res = mscpk.population(sc)
    row = res.responders.iloc[0]
    assert (row.n, row.responders, row.fraction) == (60, 60, 1.0)
    assert row.ci_low == pytest.approx(0.025 ** (1 / 60), rel=1e-6)  # two-sided 95 % Clopper-Pearson bound for 60/60


@pytest.mark.parametrize("vary, message", [
    ({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": -0.1}}, "cv: must be >= 0"),
    ({LUNG_T: {"dist": "gamma", "shape": 2.0}}, "dist: 'gamma' is not allowed"),
    ({LUNG_T: {"dist": "uniform", "low": 2.0, "high": 1.0}}, "low (2) must be below high (1)"),
    ({"Lung arested cell death half-life [h]": {"dist": "uniform", "low": 1.0, "high": 2.0}}, "did you mean"),
    ({"product.diameter_um.mean": {"dist": "normal", "mean": 18.0, "sd": 30.0}}, "population.vary['product.diameter_um.mean']"),
    ({LUNG_T: {"dist": "normal", "mean": float("nan"), "sd": 1.0}}, "not a finite number"),
])
def test_bad_population_tables_are_refused_with_the_key(vary, message):
    with pytest.raises(ScenarioError, match=None) as info:
        _scenario(vary)
    assert message in str(info.value)


def test_bad_metric_names_the_metric():
    sc = _scenario({LUNG_T: {"dist": "lognormal", "median": 6.0, "cv": 0.1}}, n=3)
    with pytest.raises(ScenarioError, match="'spleenx' is not a site"):
        mscpk.population(sc, ["spleenx:cell_days"])


def test_age_covariate_children_get_the_per_kg_dose_of_their_weight():
    from mscpk.inputs.physiology.age import physiology_at_age

    raw = {"name": "p", "subject": {"species": "human"}, "product": {"origin": "allogeneic"},
           "dose": [{"route": "iv", "cells_per_kg": 2e6}], "run": {"end_h": 48.0},
           "population": {"n": 4, "seed": 1, "vary": {"covariate.age_y": {"dist": "categorical", "values": [5.0, 40.0]}}}}
    sc = mscpk.scenario_from_dict(raw)
    t = mscpk.population(sc, ["lung:peak_live"]).subjects
    by = t.groupby("covariate.age_y")["lung:peak_live"].first()
    for age in (5.0, 40.0):  # each age is the species at that age, with the dose of its body weight
        phys = {k: float(v[0]) for k, v in physiology_at_age(mscpk.load_species("human"), [age]).items()}
        one = mscpk.simulate(sc.model_copy(update={"parameters": phys}), times_h=plan(sc, ["lung:peak_live"]).times)
        assert float(one.administered[-1]) == pytest.approx(2e6 * phys["Body weight [kg]"])
        # the population runs the batch engine and scales it by the cells given (one dose, linear):
        # as the batch tests, within 1e-9 of the dose of simulate's own solution
        assert by[age] == pytest.approx(one.quantity("lung", "live_cells").max(), rel=0, abs=1e-9 * 2e6 * phys["Body weight [kg]"])
    assert by[5.0] / by[40.0] == pytest.approx(19000 / 73000, rel=0.05)  # the lung holds a similar share of a smaller dose


def test_age_covariate_refused_for_mice_and_with_physiology():
    raw = {"name": "p", "subject": {"species": "mouse"}, "dose": [{"route": "iv", "cells": 1e5}],
           "population": {"vary": {"covariate.age_y": {"dist": "uniform", "low": 1.0, "high": 5.0}}}}
    with pytest.raises(ScenarioError, match="humans only"):
        mscpk.scenario_from_dict(raw)
    raw["subject"]["species"] = "human"
    raw["population"]["vary"]["Cardiac output [L/h]"] = {"dist": "uniform", "low": 200.0, "high": 300.0}
    with pytest.raises(ScenarioError, match="do not vary physiology names"):
        mscpk.scenario_from_dict(raw)


def test_persistence_is_the_last_crossing_of_one_percent_of_the_dose():
    from mscpk.analysis.population.evaluate import _persistence

    t = np.array([0.0, 1.0, 2.0, 3.0])
    live = np.array([[100, 50, 0.5, 0.1],    # crosses 1 cell between 1 h and 2 h (log-linear)
                     [100, 100, 100, 100],   # never falls: inf
                     [0.5, 0.2, 0.1, 0.0],   # never above: the first time
                     [100, 2, 0.5, 3.0],     # back above at the end: not "for good"
                     [100, 10, 0, 0]])       # falls to 0: the next output time
    got = _persistence(t, live, 100.0)
    np.testing.assert_allclose(got, [1 + np.log(50) / np.log(100), np.inf, 0.0, np.inf, 2.0])
