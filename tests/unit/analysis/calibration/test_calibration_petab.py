"""PEtab export of the joint calibration: petab's own lint of the merged problem, one condition
per study, the expected measurements and parameters, the terms left out, libroadrunner on each
block against mscpk's own predictions (nominal and changed values), refusals and the CLI."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from pathlib import Path

import libsbml
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mscpk.analysis.calibration import (CalibrationLikelihood, calibration_petab, calibration_terms,
                                        export_calibration_petab)
from mscpk.analysis.calibration.likelihood import predict
from mscpk.analysis.calibration.petab import README
from mscpk.analysis.calibration.run import calibration_studies
from mscpk.analysis.petab import FILES
from mscpk.errors import FitError
from mscpk.inputs.studies import load_study
from mscpk.interfaces.cli import app

petab = pytest.importorskip("petab.v1")
roadrunner = pytest.importorskip("roadrunner")

SYS_DEATH = "Systemic arrested cell death half-life [h]"
JOINT_DEATH = "Joint attached cell death half-life [h]"  # acts in the intra-articular block only
NAMES = (SYS_DEATH, JOINT_DEATH)
STUDIES = ("bazhanov2016", "eggenhofer2012", "lee2009", "toma2009", "toupet2013")
#: agreement of a block with mscpk: 1e-6 of the dose, in percent of the dose
TOL_PERCENT = 1e-6 * 100.0


@lru_cache(maxsize=None)
def problem():
    return calibration_petab(list(STUDIES), list(NAMES))


def lint(yaml_path: Path) -> bool:
    """petab's checks of the problem file (True: errors found)."""
    with warnings.catch_warnings():  # petab's own pandas calls use deprecated options
        warnings.simplefilter("ignore", getattr(pd.errors, "Pandas4Warning", FutureWarning))
        return petab.lint_problem(petab.Problem.from_yaml(yaml_path))


def roadrunner_values(pp, values: dict[str, float]) -> np.ndarray:
    """Every measurement's observable simulated by libroadrunner from the merged SBML (all
    blocks run along in every condition; the conditions set nothing)."""
    rr = roadrunner.RoadRunner(pp.sbml)
    rr.integrator.stiff = True
    rr.integrator.relative_tolerance = 1e-12
    rr.integrator.absolute_tolerance = 1e-8
    for pid, v in values.items():
        rr[pid] = float(v)
    times = sorted(set(pp.measurements["time"]))
    species = list(rr.model.getFloatingSpeciesIds())
    sim = rr.simulate(times=[0.0] + times, selections=["time"] + species)
    env = {s: sim[1:, i + 1] for i, s in enumerate(species)}
    obs = pp.observables.set_index("observableId")["observableFormula"]
    return np.array([eval(obs[m["observableId"]], {}, env)[times.index(m["time"])]
                     for _, m in pp.measurements.iterrows()])


def mscpk_values(cp, values: dict[str, float]) -> np.ndarray:
    """mscpk's own prediction (the joint fit's :func:`predict`) of every exported term."""
    ids = dict(zip(cp.problem.parameters["parameterId"], cp.problem.parameters["parameterName"]))
    named = {ids[k]: v for k, v in values.items()}
    out = []
    for e in cp.exported:
        study = load_study(e["study"])
        index = next(t.index for t in calibration_terms(study)
                     if (t.site, t.time_h, t.unit) == (e["site"], e["time_h"], e["unit"]))
        out.append(predict(study, named)[index])
    return np.array(out)


def test_lint_passes_with_one_condition_per_study_and_the_expected_tables(tmp_path):
    cp = problem()
    written = cp.write(tmp_path / "pe")
    assert sorted(p.name for p in written) == sorted([*FILES.values(), README])
    assert lint(tmp_path / "pe" / FILES["yaml"]) is False  # False: no errors
    pp = cp.problem
    assert pp.conditions["conditionName"].tolist() == list(STUDIES)
    # the value terms of the calibration: toma2009 92 +/- 7 % (n 6) at 3 min, toupet2013 15 % and 1.5 %
    meas = pp.measurements
    assert list(zip(meas["simulationConditionId"], meas["time"], meas["measurement"])) == [
        ("c_toma2009", 0.05, 92.0), ("c_toupet2013", 720.0, 15.0), ("c_toupet2013", 4320.0, 1.5)]
    assert meas["noiseParameters"].tolist() == pytest.approx(
        [math.sqrt(math.log1p((7 / 92) ** 2) / 6), 0.3, 0.3])
    assert set(pp.observables["observableTransformation"]) == {"log"}
    assert len(pd.read_csv(tmp_path / "pe" / FILES["measurements"], sep="\t")) == 3
    # parameters: the fit's search bounds and start (default), on log10
    ll = CalibrationLikelihood(calibration_studies(list(STUDIES)), list(NAMES))
    par = pp.parameters
    assert par["parameterName"].tolist() == list(NAMES)
    assert set(par["parameterScale"]) == {"log10"} and set(par["estimate"]) == {1}
    assert par["nominalValue"].tolist() == pytest.approx(np.exp(ll.start()), rel=1e-9)
    assert par["lowerBound"].tolist() == pytest.approx(np.exp(ll.bounds()[0]), rel=1e-9)
    assert par["upperBound"].tolist() == pytest.approx(np.exp(ll.bounds()[1]), rel=1e-9)


def test_blocks_are_prefixed_and_the_estimates_shared():
    cp = problem()
    m = libsbml.readSBMLFromString(cp.problem.sbml).getModel()
    prefixes = {s.getId().split("_", 1)[0] for s in m.getListOfSpecies()}
    assert prefixes == set(STUDIES)
    assert m.getSpecies("toma2009_muscle__arrested") is not None
    for pid in cp.problem.parameters["parameterId"]:
        assert sum(p.getId() == pid for p in m.getListOfParameters()) == 1


def test_terms_petab_cannot_express_are_listed_with_why(tmp_path):
    cp = problem()
    assert len(cp.exported) == 3 and len(cp.left_out) == 4
    why = {(t["study"], t["unit"]): t["why"] for t in cp.left_out}
    assert "censored" in why[("bazhanov2016", "percent_dose")]
    assert "censored" in why[("eggenhofer2012", "percent_injected_activity")]
    assert "at 0.25 h" in why[("lee2009", "percent_of_initial")]
    assert "at 0.05 h" in why[("toma2009", "percent_of_initial")]
    text = cp.readme()
    assert text.startswith("PEtab v1 export of the mscpk joint calibration: 3 of 7 terms")
    assert all(t["why"] in text for t in cp.left_out)


@pytest.mark.parametrize("factors", [(1.0, 1.0), (3.0, 0.4)])
def test_each_block_reproduces_mscpk(factors):
    cp = problem()
    par = cp.problem.parameters
    values = {pid: v * f for pid, v, f in zip(par["parameterId"], par["nominalValue"], factors)}
    rr, want = roadrunner_values(cp.problem, values), mscpk_values(cp, values)
    assert np.all(want > 0)
    np.testing.assert_allclose(rr, want, rtol=0, atol=TOL_PERCENT)


def test_changed_values_move_the_blocks_they_act_on():
    """The check above is not vacuous: the joint death half-life moves toupet2013's terms."""
    cp = problem()
    par = cp.problem.parameters
    base = mscpk_values(cp, dict(zip(par["parameterId"], par["nominalValue"])))
    moved = mscpk_values(cp, {pid: v * f for pid, v, f in zip(par["parameterId"], par["nominalValue"], (3.0, 0.4))})
    assert np.all(np.abs(moved[1:] - base[1:]) > 1000 * TOL_PERCENT)


def test_bad_inputs_are_refused():
    with pytest.raises(FitError, match="no parameters to estimate"):
        calibration_petab(["toma2009"], None)
    with pytest.raises(FitError, match="none of the studies' terms can be a PEtab v1 measurement"):
        calibration_petab(["bazhanov2016"], SYS_DEATH)
    with pytest.raises(FitError, match="calibration studies only"):
        calibration_petab(["tzouvelekis2011"], SYS_DEATH)


def test_cli_writes_the_problem_or_exits_2(tmp_path):
    runner = CliRunner()
    out = tmp_path / "pe"
    res = runner.invoke(app, ["calibrate", "--study", "toma2009", "--estimate", SYS_DEATH, "--petab", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 of 2 terms exported" in res.output
    assert (out / README).read_text().count("\n") > 3 and lint(out / FILES["yaml"]) is False
    bad = runner.invoke(app, ["calibrate", "--study", "tzouvelekis2011", "--estimate", SYS_DEATH,
                              "--petab", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "calibration studies only" in bad.output
    assert not (tmp_path / "x").exists()
    nodir = runner.invoke(app, ["calibrate", "--estimate", SYS_DEATH, "--petab", str(tmp_path / "a" / "b")])
    assert nodir.exit_code == 2 and "does not exist" in nodir.output


def test_export_function_writes_readme(tmp_path):
    cp = export_calibration_petab(tmp_path / "pe", ["toma2009"], SYS_DEATH)
    assert (tmp_path / "pe" / README).read_text() == cp.readme()
