"""Joint calibration: terms from the study files, recovery of known parameters from virtual
calibration data made with the model, refusal of bad inputs, the CLI."""

import json
import math

import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.analysis.calibration import (CalibrationLikelihood, calibrate, calibration_terms,
                                        text_value_sdlog, with_model_observations)
from mscpk.analysis.calibration.run import calibration_studies
from mscpk.errors import FitError, ScenarioError
from mscpk.inputs.studies import load_study, study_from_dict
from mscpk.interfaces.cli import app

SYS_DEATH = "Systemic arrested cell death half-life [h]"
SHUNT = "Systemic arteriovenous shunt fraction [-]"
JOINT_DEATH = "Joint attached cell death half-life [h]"


def test_terms_use_the_reported_sd_else_the_text_value_sd():
    first, second = calibration_terms(load_study("toma2009"))
    # 92 +/- 7 %, n = 6: log-scale SD of the mean sqrt(log(1 + (7/92)^2) / 6)
    assert first.sdlog == pytest.approx(math.sqrt(math.log1p((7 / 92) ** 2) / 6))
    assert first.noise == "reported SD"
    assert second.sdlog == text_value_sdlog() and second.noise == "text value"


def test_bounds_become_censored_terms_and_detections_are_left_out():
    assert [t.kind for t in calibration_terms(load_study("bazhanov2016"))] == ["upper"]
    assert [t.kind for t in calibration_terms(load_study("eggenhofer2012"))] == ["lower"]
    assert calibration_terms(load_study("eggenhofer2012c")) == []  # yes/no re-culture only


def test_default_set_is_the_calibration_studies_with_quantitative_observations():
    chosen = calibration_studies()
    assert {s.used_for for s in chosen} == {"calibration"}
    assert {"toma2009", "toupet2013", "lee2009", "bazhanov2016", "eggenhofer2012"} <= {s.id for s in chosen}
    assert all(calibration_terms(s) for s in chosen)


def test_recovers_a_known_value_from_virtual_data():
    truth = 50.0  # default 25.4 h
    virtual = with_model_observations(load_study("toma2009"), {SYS_DEATH: truth})
    r = calibrate([virtual], SYS_DEATH, n_starts=1)
    p = r.parameters[SYS_DEATH]
    assert p["estimate"] == pytest.approx(truth, rel=1e-3)
    assert p["ci_low"] < truth < p["ci_high"] and p["identifiable"]
    assert r.converged
    assert r.studies["toma2009"][1]["log_residual"] == pytest.approx(0.0, abs=1e-3)


def test_joint_fit_of_two_studies_recovers_both():
    truth = {SYS_DEATH: 40.0, JOINT_DEATH: 800.0}
    studies = [with_model_observations(load_study(s), truth) for s in ("toma2009", "toupet2013")]
    r = calibrate(studies, list(truth), n_starts=1)
    for name, value in truth.items():
        assert r.parameters[name]["estimate"] == pytest.approx(value, rel=5e-3)
        assert r.parameters[name]["ci_low"] < value < r.parameters[name]["ci_high"]


def test_a_parameter_a_study_does_not_depend_on_does_not_resimulate_it():
    ll = CalibrationLikelihood([load_study("toma2009"), load_study("toupet2013")], [SYS_DEATH, JOINT_DEATH])
    assert ll.depends[0].tolist() == [True, False]  # toma: systemic death only
    assert ll.depends[1].tolist() == [False, True]  # toupet: joint death only


def test_a_bound_without_a_value_is_not_identifiable():
    r = calibrate(["bazhanov2016"], "Peritoneal lymphatic drainage half-life [h]", n_starts=1)
    assert r.parameters["Peritoneal lymphatic drainage half-life [h]"]["identifiable"] is False


@pytest.mark.parametrize("studies, estimate, words", [
    (["toma2009"], None, "no parameters to estimate"),
    (["tzouvelekis2011"], SYS_DEATH, "calibration studies only"),
    (["eggenhofer2012c"], SYS_DEATH, "no quantitative observation"),
    (["toma2009", "toma2009"], SYS_DEATH, "named twice"),
    (["toma2009"], "Lung half-life of nothing [h]", "Lung half-life of nothing"),
])
def test_bad_inputs_are_refused(studies, estimate, words):
    with pytest.raises(FitError, match=words):
        calibrate(studies, estimate)


def test_unknown_study_is_refused():
    with pytest.raises(ScenarioError, match="unknown study"):
        calibrate(["toma2099"], SYS_DEATH)


def test_spread_kind_other_than_sd_is_refused():
    raw = {"id": "x", "citation": "A", "used_for": "calibration",
           "scenario": {"subject": {"species": "mouse"}, "dose": [{"route": "iv", "cells": 1e6}]},
           "assay": {"method": "culture"},
           "observation": [{"site": "lung", "time_h": 1.0, "value": 50.0, "unit": "percent_dose",
                            "provenance": "text", "spread": 5.0, "spread_kind": "sem"}]}
    with pytest.raises(ScenarioError, match=r"observation\[1\].spread_kind"):
        study_from_dict(raw)


def test_facade_and_cli(tmp_path):
    assert mscpk.calibrate is calibrate
    runner = CliRunner()
    out = tmp_path / "cal"
    res = runner.invoke(app, ["calibrate", "--study", "toma2009", "--estimate", SYS_DEATH,
                              "--no-profile", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "calibration.json").read_text())
    assert data["parameters"][SYS_DEATH]["estimate"] > 0 and "toma2009" in data["studies"]
    bad = runner.invoke(app, ["calibrate", "--study", "tzouvelekis2011", "--estimate", SYS_DEATH,
                              "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "calibration studies only" in bad.output
    assert not (tmp_path / "x").exists()
