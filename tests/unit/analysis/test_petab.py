"""PEtab export: petab's own lint, libroadrunner on the exported model against mscpk's
predictions (nominal and changed parameters), summary rows, clean refusals, the CLI."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.analysis.detection import simulate_study
from mscpk.analysis.fitting import ForwardModel, JointModel, Problem
from mscpk.analysis.fitting.groups import prepare
from mscpk.analysis.petab import FILES, export_petab, petab_problem
from mscpk.errors import FitError
from mscpk.interfaces.cli import app

petab = pytest.importorskip("petab.v1")
roadrunner = pytest.importorskip("roadrunner")

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "examples" / "iv_mouse.toml"
LUNG_DEATH = "Lung arrested cell death half-life [h]"
DEGRADATION = "Dead material local degradation half-life [h]"
DOSES = {"low": 1e5, "high": 5e5}

runner = CliRunner()


@lru_cache(maxsize=None)
def scenario():
    """The bundled IV mouse example with GFP-labelled cells (seen by qPCR and flow)."""
    sc = mscpk.load_scenario(SCENARIO)
    return sc.model_copy(update={"product": sc.product.model_copy(update={"label": "GFP"})})


def with_dose(cells: float):
    sc = scenario()
    return sc.model_copy(update={"dose": (sc.dose[0].model_copy(update={"cells": cells}),)})


@lru_cache(maxsize=None)
def dataset() -> pd.DataFrame:
    """Virtual study: two dose groups, qPCR of lung, liver and spleen and flow of the lung;
    the rows below the LLOQ left out (PEtab v1 has no censoring)."""
    parts = [simulate_study(with_dose(cells), assay=assay, times_h=[1, 6, 24, 72], sites=sites,
                            seed=k, group=group, animals_per_time=2)
             for k, (group, cells) in enumerate(DOSES.items())
             for assay, sites in (("qpcr", ["lung", "liver", "spleen"]), ("flow", ["lung"]))]
    data = pd.concat(parts, ignore_index=True)
    return data[data["CENS"] != 1].reset_index(drop=True)


def lint(yaml_path: Path) -> bool:
    """petab's checks of the problem file (True: errors found)."""
    with warnings.catch_warnings():  # petab's own pandas calls use deprecated options
        warnings.simplefilter("ignore", getattr(pd.errors, "Pandas4Warning", FutureWarning))
        return petab.lint_problem(petab.Problem.from_yaml(yaml_path))


def mscpk_predictions(names, theta_log):
    """mscpk's fit predictions of every data row (the fit's own groups and forward models)."""
    frame, scen, groups = prepare(scenario(), dataset(), None)
    model = JointModel({g: ForwardModel(s, names) for g, s in scen.items()})
    return Problem(model, frame, groups=groups).predict(theta_log)


def roadrunner_predictions(pp, values=None):
    """Each measurement row simulated by libroadrunner from the exported SBML, with the
    condition's initial amounts and the parameter table's ``values`` (id -> value)."""
    values = values if values is not None else dict(zip(pp.parameters["parameterId"],
                                                        pp.parameters["nominalValue"]))
    times = sorted(set(pp.measurements["time"]))
    obs = pp.observables.set_index("observableId")["observableFormula"]
    out = np.full(len(pp.measurements), np.nan)
    for _, cond in pp.conditions.iterrows():
        rr = roadrunner.RoadRunner(pp.sbml)
        rr.integrator.stiff = True
        rr.integrator.relative_tolerance = 1e-12
        rr.integrator.absolute_tolerance = 1e-8
        for col in pp.conditions.columns[2:]:  # before the parameters: init() resets them
            rr[f"init({col})"] = float(cond[col])
        for pid, v in values.items():
            if not pid.startswith("sigma_"):
                rr[pid] = float(v)
        species = list(rr.model.getFloatingSpeciesIds())
        sim = rr.simulate(times=[0.0] + times, selections=["time"] + species)
        env = {s: sim[1:, i + 1] for i, s in enumerate(species)}
        rows = (pp.measurements["simulationConditionId"] == cond["conditionId"]).to_numpy()
        for i in np.flatnonzero(rows):
            m = pp.measurements.iloc[i]
            out[i] = eval(obs[m["observableId"]], {}, env)[times.index(m["time"])]
    return out


@lru_cache(maxsize=None)
def problem(names=(LUNG_DEATH,)):
    return petab_problem(scenario(), dataset(), list(names))


def test_lint_passes(tmp_path):
    pp = export_petab(scenario(), dataset(), [LUNG_DEATH], tmp_path / "petab")
    assert sorted(p.name for p in (tmp_path / "petab").iterdir()) == sorted(FILES.values())
    assert lint(tmp_path / "petab" / FILES["yaml"]) is False  # False: no errors
    assert len(pd.read_csv(tmp_path / "petab" / FILES["measurements"], sep="\t")) == len(dataset())
    # one condition per dose group, one sigma per assay, the qPCR readout = live + dead
    assert pp.conditions["conditionName"].tolist() == list(DOSES)
    assert pp.parameters["parameterId"].tolist()[1:] == ["sigma_qpcr", "sigma_flow"]
    lung_qpcr = pp.observables.set_index("observableId").loc["obs_lung_qpcr", "observableFormula"]
    assert "lung__dead" in lung_qpcr and "lung__arrested" in lung_qpcr


@pytest.mark.parametrize("names", [(LUNG_DEATH,), (LUNG_DEATH, DEGRADATION)])
def test_roadrunner_reproduces_mscpk_nominal_and_changed(names):
    pp = problem(names)
    nominal = dict(zip(pp.parameters["parameterId"], pp.parameters["nominalValue"]))
    x0 = np.log(pp.parameters["nominalValue"].to_numpy()[: len(names)])
    mine = mscpk_predictions(list(names), x0)
    np.testing.assert_allclose(roadrunner_predictions(pp), mine, rtol=1e-6)
    # the estimated parameters doubled in the parameter table: roadrunner follows mscpk
    changed = {k: (2.0 * v if k in list(nominal)[: len(names)] else v) for k, v in nominal.items()}
    theirs = mscpk_predictions(list(names), x0 + math.log(2.0))
    np.testing.assert_allclose(roadrunner_predictions(pp, changed), theirs, rtol=1e-6)
    assert np.max(np.abs(theirs / mine - 1.0)) > 0.05  # the change matters


def test_measurements_and_noise_follow_the_fit():
    pp = problem()
    data = dataset()
    np.testing.assert_allclose(pp.measurements["measurement"], data["DV"])
    np.testing.assert_allclose(pp.measurements["time"], data["TIME"])
    assert set(pp.measurements["noiseParameters"]) == {"0.0;1.0"}
    assert pp.observables["observableTransformation"].eq("log").all()
    assert pp.observables["noiseDistribution"].eq("normal").all()
    # summary rows: the log-scale mean and the (sigma^2 + sdlog^2) / N variance of the fit
    row = {"ID": "mean", "TIME": 24.0, "DV": 1e4, "SITE": "lung", "ASSAY": "qpcr", "N": 4, "SD": 5e3}
    summ = petab_problem(scenario(), pd.DataFrame([row]), [LUNG_DEATH])
    sdlog = math.sqrt(math.log1p(0.25))
    assert summ.measurements["measurement"][0] == pytest.approx(1e4 * math.exp(-0.5 * sdlog ** 2))
    assert summ.measurements["noiseParameters"][0] == f"{sdlog!r};4.0"


def test_assignment_rules_carry_the_estimate():
    import libsbml

    doc = libsbml.readSBMLFromString(problem().sbml)  # kept alive while its model is read
    model = doc.getModel()
    pid = problem().parameters["parameterId"][0]
    assert model.getParameter(pid).getName() == LUNG_DEATH
    rules = [libsbml.formulaToL3String(r.getMath()) for r in model.getListOfRules()]
    assert rules and all(pid in r for r in rules)


@pytest.mark.parametrize("names, message", [
    (["MSC deformability ratio [-]"], "nonlinear"),
    (["IBMIR kill fraction at reference passage [-]"], "doses at t = 0"),
    (["Joint attachment half-life [h]"], "changes no rate"),
    (["Lung arrested cell death half-lfe [h]"], "unknown parameter"),
])
def test_parameters_it_cannot_export_exactly_are_refused(names, message):
    with pytest.raises(FitError, match=message):
        petab_problem(scenario(), dataset(), names)


def test_bad_data_refused():
    data = dataset()
    cens = data.copy()
    cens.loc[0, ["DV", "CENS", "LLOQ"]] = [np.nan, 1, 100.0]
    with pytest.raises(FitError, match="row 2: censored"):
        petab_problem(scenario(), cens, [LUNG_DEATH])
    route = data.copy()
    route.loc[route["GROUP"] == "low", "ROUTE"] = "intraperitoneal"
    with pytest.raises(FitError, match="not only in its doses"):
        petab_problem(scenario(), route, [LUNG_DEATH])
    bli = data.iloc[:1].assign(ASSAY="fluorescence", DVU="photons/s")
    with pytest.raises(FitError, match="ASSAY blank"):
        petab_problem(scenario(), bli, [LUNG_DEATH])


def test_cli_writes_the_problem_and_refuses_cleanly(tmp_path):
    toml = tmp_path / "gfp.toml"
    toml.write_text(SCENARIO.read_text().replace('label = "none"', 'label = "GFP"'))
    csv = tmp_path / "data.csv"
    dataset().to_csv(csv, index=False)
    out = tmp_path / "petab"
    res = runner.invoke(app, ["export", "petab", str(toml), str(csv), "--estimate", LUNG_DEATH,
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert lint(out / FILES["yaml"]) is False
    bad = tmp_path / "bad"
    res = runner.invoke(app, ["export", "petab", str(toml), str(csv), "--estimate",
                              "MSC deformability ratio [-]", "-o", str(bad)])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert not bad.exists()
    res = runner.invoke(app, ["export", "petab", str(toml), str(csv), "--estimate", LUNG_DEATH,
                              "-o", str(tmp_path / "missing" / "petab")])
    assert res.exit_code == 2 and "does not exist" in res.stderr
