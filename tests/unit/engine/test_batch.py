"""Vectorised batch simulation (mscpk.engine.batch) and the array-safe model build.

* an array-valued parameter build gives, subject by subject, the rate matrices, doses and
  capacities of the scalar build with that subject's values;
* simulate_batch agrees with the per-subject LinearSolver (``mscpk.simulate``), conserves
  cells per subject, and returns the documented xarray layout;
* ill-conditioned subjects fall back to matrix exponentials; bad samples are refused;
* the LinearSolver's composed step propagators equal direct matrix exponentials.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mscpk
from helpers import make
from mscpk.engine.batch import ArrayParameters, check_samples, simulate_batch
from mscpk.errors import ParameterError
from mscpk.engine.model.build import build_network
from mscpk.inputs.resolve import scenario_parameters, scenario_species
from mscpk.engine.result import CELL_QUANTITIES
from mscpk.engine.solvers import modal


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml"

RATES = ["Lung arrested cell death half-life [h]", "Systemic arrested cell death half-life [h]",
         "Engrafted cell death half-life [h]", "Lung arrested cell release half-life [h]",
         "Circulating cell death half-life [h]", "MSC deformability ratio [-]"]


def lognormal_samples(base, names, n, cv=0.3, seed=0):
    rng = np.random.default_rng(seed)
    s2 = np.log1p(cv ** 2)
    return {k: base[k] * rng.lognormal(-s2 / 2, np.sqrt(s2), n) for k in names}


def subject_params(base, samples, i):
    return base.updated({k: float(v[i]) for k, v in samples.items()})


# ---- array-safe build ---------------------------------------------------------------------

#: Values chosen to take both branches of every min/max/where in the model code.
BRANCHY = {
    "Maximum first-pass extraction [-]": [0.9999, 0.5, 0.6, 0.999999, 0.55],    # min(total, max)
    "Minimum large-vessel blood fraction [-]": [0.3, 0.95, 0.1, 0.6, 0.3],      # max(pool, floor)
    "Reference passage [passage]": [4.0, 12.0, 1.0, 7.5, 4.0],                  # max(0, p - ref)
    "Chemokine fold change per unit injury severity [-]": [4.0, 0.0, 1.5, 8.0, 2.0],  # a > 0
    "Maximum homing arrest per pass [-]": [0.5, 0.0, 0.9, 0.3, 0.5],            # stim > 0
    "Lung arrested cell release half-life [h]": [48.0, float("inf"), 5.0, 100.0, 48.0],  # inf -> 0
    "Vasodilator capillary dilation factor [-]": [1.2, 1.0, 1.6, 1.1, 2.0],
    "MSC deformability ratio [-]": [0.35, 0.2, 0.6, 0.45, 1.0],
    "Senescence receptor loss per passage [1/passage]": [0.1, 0.0, 0.3, 0.05, 0.2],
    "Intramyocardial leak-back fraction [-]": [0.6, 0.0, 0.3, 0.9, 0.6],         # leak > 0
    "Maximum depot-to-injured-organ transfer rate [1/h]": [0.05, 0.0, 0.1, 0.02, 0.05],
}

BUILD_CASES = {
    "iv_injury_vasodilator": dict(injury=[{"site": "liver", "severity": 1.5},
                                          {"site": "brain", "chemokines": {"CXCL12": 5.0, "CCL2": 2.0}}],
                                  vasodilator=True, passage=8),
    "ip_gut_injury": dict(route="ip", injury=[{"site": "gut", "severity": 1.0}]),
    "intramyocardial": dict(species="rat", route="intramyocardial", injury=[{"site": "heart", "severity": 1.0}]),
    "intrathecal_brain": dict(species="rat", route="intrathecal", injury=[{"site": "brain", "severity": 2.0}]),
}


@pytest.mark.parametrize("case", sorted(BUILD_CASES))
def test_array_parameters_give_the_scalar_networks_subject_by_subject(case):
    sc = make(end=48.0, **BUILD_CASES[case])
    base = scenario_parameters(sc)
    species = scenario_species(sc)
    samples = check_samples(base, BRANCHY)
    net_b = build_network(sc, ArrayParameters(base, samples), species)
    n = len(next(iter(samples.values())))
    assert net_b.batch_size() == n
    for i in range(n):
        net_s = build_network(sc, subject_params(base, samples, i), species)
        assert net_s.names == net_b.names
        assert set(net_s.modes) == set(net_b.modes)
        for mode in net_s.modes:
            a_s = net_s.matrix(mode)
            a_b = net_b.matrices(mode)[i]
            np.testing.assert_allclose(a_b, a_s, rtol=1e-13, atol=1e-300, err_msg=f"{case} subject {i} {mode}")
            # every scalar transition is in the batch build with the same rate (the batch
            # build also lists this subject's zero-rate transitions)
            rates_b = {(t.source, t.target, t.process): np.broadcast_to(t.rate, (n,))[i]
                       for t in net_b.modes[mode]}
            for t in net_s.modes[mode]:
                assert rates_b[(t.source, t.target, t.process)] == pytest.approx(t.rate, rel=1e-13)
        assert len(net_s.inputs) == len(net_b.inputs)
        for inp_s, inp_b in zip(net_s.inputs, net_b.inputs):
            for state, frac in inp_b.targets.items():
                assert np.broadcast_to(frac, (n,))[i] == pytest.approx(inp_s.targets.get(state, 0.0), rel=1e-15)
        for site, cap in net_s.capacities.items():
            assert np.broadcast_to(net_b.capacities[site].capacity, (n,))[i] == pytest.approx(cap.capacity, rel=1e-15)
        assert net_s.schedule == net_b.schedule


def test_scalar_build_is_unchanged_by_the_array_helpers():
    # the scalar path stays in plain floats and omits zero-rate transitions, as before
    sc = make(params={"Lung arrested cell release half-life [h]": float("inf")})
    net = build_network(sc)
    assert all(type(t.rate) is float for trs in net.modes.values() for t in trs)
    assert not any(t.process == "lung release of arrested cells" for t in net.modes["base"])


# ---- batch vs per-subject solver ----------------------------------------------------------

@pytest.fixture(scope="module")
def iv_batch():
    sc = mscpk.load_scenario(EXAMPLE)
    base = scenario_parameters(sc)
    samples = lognormal_samples(base, RATES, 300, seed=1)
    ds = simulate_batch(sc, samples, saturation="off", chunk=128)
    return sc, base, samples, ds


def test_batch_matches_linear_solver_per_subject(iv_batch):
    sc, base, samples, ds = iv_batch
    dose = float(ds.administered.max())
    rng = np.random.default_rng(7)
    for i in rng.choice(len(ds.subject), 5, replace=False):
        ref = mscpk.simulate(sc, params=subject_params(base, samples, i), saturation="off")
        assert ref.solver == "expm"
        dev = np.abs(ds.cells.isel(subject=i).values - ref.to_xarray().values).max() / dose
        assert dev <= 1e-6, (i, dev)
        assert dev <= 1e-8, (i, dev)  # in practice ~1e-10 (modal) or ~1e-15 (fallback)


def test_batch_mass_balance_per_subject(iv_batch):
    _, _, _, ds = iv_batch
    dose = float(ds.administered.max())
    assert float(ds.mass_balance_error.max()) <= 1e-9
    total = ds.cells.sum(("site", "quantity"))  # every state is in exactly one site quantity
    err = np.abs(total - ds.administered).max("time_h") / dose
    assert float(err.max()) <= 1e-9
    assert float(ds.cells.min()) >= -1e-9 * dose


def test_batch_dataset_layout(iv_batch):
    sc, _, samples, ds = iv_batch
    ref = mscpk.simulate(sc, saturation="off")
    assert ds.cells.dims == ("subject", "time_h", "site", "quantity")
    assert ds.sizes["subject"] == 300
    np.testing.assert_array_equal(ds.time_h.values, ref.times_h)
    assert list(ds.site.values) == list(ref.sites)
    assert list(ds.quantity.values) == list(CELL_QUANTITIES)
    assert list(ds.parameter.values) == list(samples)
    np.testing.assert_array_equal(ds.parameter_values.sel(parameter=RATES[0]).values, samples[RATES[0]])
    for var in ("mass_balance_error", "peak_occlusion", "solver", "condition_number"):
        assert ds[var].dims == ("subject",)
    assert ds.administered.dims == ("time_h",)
    assert set(np.unique(ds.solver.values)) <= {"eig", "expm", "exprb"}
    # same numbers, whatever the chunking and threading
    ds1 = simulate_batch(sc, {k: v[:40] for k, v in samples.items()}, saturation="off", chunk=7, threads=1)
    np.testing.assert_allclose(ds1.cells.values, ds.cells.values[:40], rtol=0, atol=1e-9 * 5e5)


def test_batch_with_events_infusion_vasodilator_and_repeated_doses():
    sc = make(species="rat", end=96.0, injury=[{"site": "brain", "severity": 1.0}],
              doses=[{"route": "ia", "site": "brain", "cells": 1e6, "infusion_min": 30.0, "vasodilator": True},
                     {"route": "iv", "cells": 5e5, "time_h": 24.0, "vasodilator": True},
                     {"route": "intramyocardial", "cells": 2e5, "time_h": 30.0}])
    base = scenario_parameters(sc)
    names = RATES + ["Intramyocardial leak-back fraction [-]", "Chemokine fold change per unit injury severity [-]"]
    samples = lognormal_samples(base, names, 12, cv=0.2, seed=3)
    samples["Vasodilator capillary dilation factor [-]"] = np.linspace(1.0, 1.8, 12)
    ds = simulate_batch(sc, samples, saturation="off", chunk=5)
    dose = float(ds.administered.max())
    assert dose == pytest.approx(1.7e6)
    assert float(ds.mass_balance_error.max()) <= 1e-9
    for i in range(0, 12, 3):
        ref = mscpk.simulate(sc, params=subject_params(base, samples, i), saturation="off")
        dev = np.abs(ds.cells.isel(subject=i).values - ref.to_xarray().values).max() / dose
        assert dev <= 1e-6, (i, dev)


def test_ill_conditioned_subject_falls_back_to_matrix_exponential():
    # organ debris leaves at exactly the rate blood debris does: a (near-)defective chain
    sc = mscpk.load_scenario(EXAMPLE)
    samples = {"Dead material local degradation half-life [h]": [0.2, 24.0, 30.0],
               "Dead material transfer to phagocytic organs half-life [h]": [0.2, 24.0, 30.0],
               "Dead material uptake from blood half-life [h]": [0.1, 0.1, 0.1]}
    ds = simulate_batch(sc, samples, saturation="off", threads=1)
    assert list(ds.solver.values) == ["expm", "eig", "eig"]
    assert float(ds.condition_number[0]) > 1e8
    base = scenario_parameters(sc)
    arrays = {k: np.asarray(v) for k, v in samples.items()}
    ref = mscpk.simulate(sc, params=subject_params(base, arrays, 0), saturation="off")
    np.testing.assert_allclose(ds.cells.isel(subject=0).values, ref.to_xarray().values, rtol=0, atol=1e-9 * 5e5)


def test_auto_saturation_resolves_saturated_subjects_like_simulate():
    sc = make(cells=2e7, end=12.0, times=[0.0, 0.25, 1.0, 12.0])
    base = scenario_parameters(sc)
    samples = {"Lung embolic capacity [cells/g]": np.array([1e8, 1e12])}
    ds = simulate_batch(sc, samples, saturation="auto")
    refs = [mscpk.simulate(sc, params=subject_params(base, samples, i), saturation="auto") for i in range(2)]
    assert [r.solver for r in refs] == ["exprb", "expm"]
    assert list(ds.solver.values) == ["exprb", "eig"]
    for i, r in enumerate(refs):
        np.testing.assert_allclose(ds.cells.isel(subject=i).values, r.to_xarray().values, rtol=0, atol=1e-6 * 2e7)
        assert float(ds.peak_occlusion[i]) == pytest.approx(r.metadata["peak_occlusion"], rel=1e-6)


@pytest.mark.parametrize("samples, match", [
    ({"Lung arrested cell death half-lif [h]": [1.0, 2.0]}, "did you mean"),
    ({RATES[0]: [1.0, 2.0], RATES[1]: [1.0]}, "1 values, but other parameters have 2"),
    ({RATES[0]: [1.0, -2.0]}, "subject 1"),
    ({RATES[0]: [[1.0, 2.0]]}, "1-D array"),
    ({RATES[0]: [1.0, float("nan")]}, "NaN"),
    ({}, "at least one parameter"),
])
def test_bad_samples_are_refused(samples, match):
    sc = make(end=24.0)
    with pytest.raises(ParameterError, match=match):
        simulate_batch(sc, samples)


def test_batch_refuses_what_it_cannot_do_exactly():
    sc = make(end=24.0, vasodilator=True)
    with pytest.raises(ParameterError, match="event times"):
        simulate_batch(sc, {"Vasodilator effect duration [h]": [1.0, 2.0]})


def test_saturation_on_solves_every_subject_together_like_simulate():
    sc = make(cells=2e7, end=24.0, times=[0.0, 0.1, 1.0, 6.0, 24.0])
    base = scenario_parameters(sc)
    samples = {"Lung embolic capacity [cells/g]": np.array([5e7, 1e8, 4e8]), RATES[0]: np.array([3.0, 6.0, 12.0])}
    ds = simulate_batch(sc, samples, saturation="on", chunk=2)
    assert list(ds.solver.values) == ["exprb"] * 3
    assert float(ds.mass_balance_error.max()) < 1e-9
    for i in range(3):
        ref = mscpk.simulate(sc, params=subject_params(base, samples, i), saturation="on")
        np.testing.assert_allclose(ds.cells.isel(subject=i).values, ref.to_xarray().values, rtol=0, atol=1e-6 * 2e7)
        assert float(ds.peak_occlusion[i]) == pytest.approx(ref.metadata["peak_occlusion"], rel=1e-6)


def test_sampled_physiology_gives_each_subject_its_own_species():
    sc = make(end=24.0, times=[0.0, 1.0, 24.0])
    samples = {"Cardiac output [L/h]": np.array([0.6, 0.9]), RATES[0]: np.array([4.0, 8.0])}
    ds = simulate_batch(sc, samples, threads=1)
    base = scenario_parameters(sc)
    for i in range(2):
        sub = make(end=24.0, times=[0.0, 1.0, 24.0], params={"Cardiac output [L/h]": float(samples["Cardiac output [L/h]"][i])})
        ref = mscpk.simulate(sub, params=base.updated({RATES[0]: float(samples[RATES[0]][i])}))
        np.testing.assert_allclose(ds.cells.isel(subject=i).values, ref.to_xarray().values, rtol=0, atol=1e-9 * 1e6)
    with pytest.raises(ParameterError, match="subject 1.*Cardiac output"):
        simulate_batch(sc, {"Cardiac output [L/h]": [0.6, -1.0]})


def test_sites_and_streamed_chunks_form_only_what_is_asked(iv_batch):
    sc, _, samples, ds = iv_batch
    got = []
    out = simulate_batch(sc, samples, saturation="off", sites=["lung", "blood"], chunk=100, sink=got.append,
                         threads=1)
    assert "cells" not in out and [int(g.subject.values[0]) for g in got] == [0, 100, 200]
    streamed = np.concatenate([g.cells.values for g in got])
    np.testing.assert_array_equal(streamed, ds.cells.sel(site=["lung", "blood"]).values)
    np.testing.assert_array_equal(out.mass_balance_error.values, ds.mass_balance_error.values)
    with pytest.raises(ParameterError, match="not a site"):
        simulate_batch(sc, samples, sites=["lungs"])


def test_a_mode_shifted_by_a_hazard_reuses_the_eigenvectors(iv_batch):
    sc, base, samples, _ = iv_batch
    net = build_network(sc, ArrayParameters(base, {k: v[:50] for k, v in samples.items()}), scenario_species(sc))
    mats = {m: net.matrices(m) for m in ("base", "primed")}
    pattern = (mats["base"] != 0).any(axis=0) | (mats["primed"] != 0).any(axis=0)
    weight = np.median(np.abs(np.diagonal(mats["base"], axis1=1, axis2=2)), axis=0)
    perm, blocks, anc = modal.block_structure(pattern, weight, by_level=True)
    structure = (perm, blocks, anc, pattern[np.ix_(perm, perm)])
    ap = {m: a[:, perm[:, None], perm[None, :]] for m, a in mats.items()}
    ref = modal.Modal(ap["base"], structure, 672.0)
    shifted = modal.Modal(ap["primed"], structure, 672.0, like=ref)
    fresh = modal.Modal(ap["primed"], structure, 672.0)
    d = next(iter(ref.blocks))
    assert shifted.blocks[d][2] is not fresh.blocks[d][2]
    np.testing.assert_array_equal(shifted.blocks[d][2], ref.blocks[d][2])  # the base vectors, reused
    for (idx, lam_s, v_s, _), (idx_f, lam_f, _, _) in zip(shifted.groups, fresh.groups):
        np.testing.assert_array_equal(idx, idx_f)
        a = ap["primed"][idx]
        resid = np.abs(np.matmul(a, v_s) - v_s * lam_s[:, None, :]).max(axis=(1, 2))
        assert float(resid.max()) <= 1e-9 * float(np.abs(a).max())  # eigenpairs of the primed matrices
        np.testing.assert_allclose(np.sort(lam_s.real, axis=1), np.sort(lam_f.real, axis=1), rtol=1e-9, atol=1e-12)
