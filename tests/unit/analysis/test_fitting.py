"""Fitting: recovery of a known parameter from simulated noisy data with BLQ, identifiability
flag, JSON contract, CLI errors."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.interfaces.cli import app  # the real CLI, where `fit` is registered
from mscpk.errors import FitError
from mscpk.analysis.fitting import ForwardModel, LogLikelihood, Problem, fit
from mscpk.inputs.resolve import scenario_parameters
from mscpk.inputs.studydata import study_from_frame
from mscpk.interfaces.plots.fit import plot_fit

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "examples" / "iv_mouse.toml"
LUNG_DEATH = "Lung arrested cell death half-life [h]"
JOINT_DEATH = "Joint attached cell death half-life [h]"
TRUE = 12.0  # default 6 h
TIMES = [0.5, 2.0, 6.0, 24.0, 48.0, 96.0, 168.0]
LLOQ = 2000.0
CV = 0.3

runner = CliRunner()


@lru_cache(maxsize=None)
def scenario():
    """iv_mouse.toml with a xenogeneic (human) product, so that qPCR (human Alu) sees it."""
    sc = mscpk.load_scenario(SCENARIO)
    return sc.model_copy(update={"product": sc.product.model_copy(update={"origin": "xenogeneic"})})


@pytest.fixture(scope="module")
def xeno_toml(tmp_path_factory):
    path = tmp_path_factory.mktemp("scen") / "xeno.toml"
    path.write_text(SCENARIO.read_text().replace('origin = "syngeneic"', 'origin = "xenogeneic"'))
    return path


def simulated_frame(seed: int) -> pd.DataFrame:
    """Destructive design: 3 animals per time; lung as live cells (no ASSAY), liver by
    qPCR (live + dead); log-normal noise CV 30 %; values below the LLOQ censored."""
    rng = np.random.default_rng(seed)
    sc = scenario()
    p = scenario_parameters(sc).updated({LUNG_DEATH: TRUE})
    res = mscpk.simulate(sc, times_h=TIMES, params=p)
    truth = {"lung": ("", res.quantity("lung", "live_cells")),
             "liver": ("qpcr", res.quantity("liver", "live_cells")
                       + res.quantity("liver", "dead_cells"))}
    sd = math.sqrt(math.log(1 + CV ** 2))
    rows = []
    for i, t in enumerate(TIMES):
        for a in range(3):
            for site, (assay, y) in truth.items():
                dv = float(y[i] * math.exp(rng.normal(0.0, sd)))
                cens = int(dv < LLOQ)
                rows.append({"ID": f"m{i}{a}", "TIME": t, "SITE": site, "ASSAY": assay,
                             "DV": math.nan if cens else dv, "CENS": cens, "LLOQ": LLOQ})
    return pd.DataFrame(rows)


@lru_cache(maxsize=None)
def fitted(seed: int):
    data = study_from_frame(simulated_frame(seed))
    return fit(scenario(), data, [LUNG_DEATH, JOINT_DEATH], n_starts=3, seed=seed)


def test_layers_forward_model_and_likelihood():
    sc = scenario()
    model = ForwardModel(sc, [LUNG_DEATH])
    data = study_from_frame(simulated_frame(0))
    problem = Problem(model, data)
    assert problem.n_blq > 0 and problem.n_obs == 42
    pred = problem.predict(model.x0)
    res = mscpk.simulate(sc, times_h=TIMES)
    lung = problem.frame["SITE"].to_numpy() == "lung"
    np.testing.assert_allclose(pred[lung][::3], res.quantity("lung", "live_cells")[
        np.searchsorted(TIMES, problem.times[lung][::3])])
    ll = LogLikelihood(problem)
    # two assays (live cells, qpcr) -> one sigma each by default
    assert ll.sigma_keys == ["live_cells", "qpcr"] and ll.n_parameters == 3
    # the true value is more likely than the (wrong) default
    assert ll([math.log(TRUE), math.log(0.3), math.log(0.3)]) > \
        ll([math.log(6.0), math.log(0.3), math.log(0.3)])
    # the forward model caches: same parameters, no new simulation
    n = model.n_evaluations
    problem.predict(model.x0)
    assert model.n_evaluations == n
    assert LogLikelihood(problem, sigma="shared").n_parameters == 2


def test_recovers_true_value_in_most_seeds():
    hits = 0
    for seed in range(3):
        p = fitted(seed).parameters[LUNG_DEATH]
        assert TRUE / 1.5 < p["estimate"] < TRUE * 1.5, p
        assert p["identifiable"] is True
        assert p["ci_low"] < p["estimate"] < p["ci_high"]
        hits += p["ci_low"] <= TRUE <= p["ci_high"]
    assert hits >= 2


def test_uninfluential_parameter_flagged_non_identifiable():
    for seed in range(3):
        assert fitted(seed).parameters[JOINT_DEATH]["identifiable"] is False


def test_json_has_interface_keys(tmp_path):
    result = fitted(0)
    doc = json.loads(result.to_json())
    assert {"parameters", "objective", "converged"} <= set(doc)
    for name in (LUNG_DEATH, JOINT_DEATH):
        assert {"estimate", "ci_low", "ci_high", "unit"} <= set(doc["parameters"][name])
        assert doc["parameters"][name]["unit"] == "h"
    assert isinstance(doc["converged"], bool) and math.isfinite(doc["objective"])
    assert doc["n_obs"] == 42 and doc["n_blq"] == result.n_blq
    out = plot_fit(result, tmp_path / "diag.png")
    assert out.stat().st_size > 1000


def test_unknown_parameter_suggests_names():
    data = study_from_frame(simulated_frame(0))
    with pytest.raises(FitError, match="did you mean"):
        fit(scenario(), data, ["Lung arrested cell death halflife"])


def test_cli_unknown_parameter_exit_2_no_file(tmp_path, xeno_toml):
    data = tmp_path / "d.csv"
    simulated_frame(0).to_csv(data, index=False)
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(xeno_toml), str(data), "--estimate",
                            "Lung arrested cell death halflife [h]", "-o", str(out)])
    assert r.exit_code == 2
    assert "error:" in r.output and "did you mean" in r.output
    assert not out.exists()


def test_cli_bad_data_exit_2_no_file(tmp_path, xeno_toml):
    data = tmp_path / "bad.csv"
    data.write_text("ID,TIME,DV,SITE\n1,1,abc,lung\n", encoding="utf-8")
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(xeno_toml), str(data), "--estimate", LUNG_DEATH,
                            "-o", str(out)])
    assert r.exit_code == 2 and "error:" in r.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_cli_writes_json(tmp_path, xeno_toml):
    data = tmp_path / "d.csv"
    simulated_frame(1).to_csv(data, index=False)
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(xeno_toml), str(data), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "2"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert TRUE / 1.5 < doc["parameters"][LUNG_DEATH]["estimate"] < TRUE * 1.5


def test_cli_centre_option(tmp_path, xeno_toml):
    data = tmp_path / "d.csv"
    simulated_frame(1).to_csv(data, index=False)
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(xeno_toml), str(data), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "1", "--centre", "mean"])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["centre"] == "mean"
    bad = tmp_path / "bad.json"
    r = runner.invoke(app, ["fit", str(xeno_toml), str(data), "--estimate", LUNG_DEATH,
                            "-o", str(bad), "--centre", "mode"])
    assert r.exit_code == 2 and "--centre: unknown value 'mode'" in r.stderr
    assert not bad.exists()
