"""Fit input checks of issue 14: rows left out of the data are reported (class 4), data
implying more cells than were dosed are warned about (class 4), physiology parameters can be
estimated or are refused with the reason (class 4), an estimate on its search bound is said
to be so (class 5)."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.analysis.fitting import fit
from mscpk.errors import FitError, MscpkWarning
from mscpk.inputs.resolve import scenario_parameters
from mscpk.inputs.studydata import read_study
from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "examples" / "iv_mouse.toml"
LUNG_DEATH = "Lung arrested cell death half-life [h]"
TIMES = (1.0, 6.0, 24.0, 48.0)

runner = CliRunner()


@lru_cache(maxsize=None)
def lung_cells(death_h: float = 6.0) -> tuple[float, ...]:
    sc = mscpk.load_scenario(SCENARIO)
    p = scenario_parameters(sc).updated({LUNG_DEATH: death_h})
    return tuple(float(v) for v in mscpk.simulate(sc, times_h=list(TIMES), params=p)
                 .quantity("lung", "live_cells"))


def write_data(folder: Path, values, extra: str = "") -> Path:
    lines = ["ID,TIME,DV,SITE"] + [f"m{i},{t:g},{v!r},lung" for i, (t, v)
                                    in enumerate(zip(TIMES, values))]
    path = folder / "data.csv"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def test_rows_left_out_of_the_data_are_reported(tmp_path):
    path = write_data(tmp_path, lung_cells(), extra="m9,72,,lung\n")
    study = read_study(path)
    assert len(study.excluded) == 1  # DV missing, not censored: left out by read_study
    result = fit(SCENARIO, study, [LUNG_DEATH], n_starts=1, profile=False)
    doc = json.loads(result.to_json())
    assert doc["n_obs"] == len(TIMES)
    assert doc["excluded"] == [{"ROW": 6, "COLUMN": "DV", "VALUE": "",
                                "REASON": "DV missing and the row is not censored (CENS is not 1)"}]
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(SCENARIO), str(path), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "1"])
    assert r.exit_code == 0, r.output
    assert "1 row(s) of the data left out: row 6 (DV missing" in r.output


def test_more_cells_than_dosed_is_warned_about(tmp_path):
    dose = mscpk.load_scenario(SCENARIO).dose[0].cells
    values = [v for v in lung_cells()]
    values[1] = 54 * dose  # e.g. cells/g written as cells
    path = write_data(tmp_path, values)
    with pytest.warns(MscpkWarning, match="cells dosed by then"):
        result = fit(SCENARIO, read_study(path), [LUNG_DEATH], n_starts=1, profile=False)
    assert len(result.warnings) == 1
    w = result.warnings[0]
    assert "row 3" in w and "54" in w and f"{dose:g} cells" in w
    assert json.loads(result.to_json())["warnings"] == [w]
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(SCENARIO), str(path), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "1"])
    assert r.exit_code == 0 and f"warning: {w}" in r.stderr


def test_data_within_the_dose_give_no_warning(tmp_path):
    path = write_data(tmp_path, lung_cells())
    result = fit(SCENARIO, read_study(path), [LUNG_DEATH], n_starts=1, profile=False)
    assert result.warnings == ()
    assert json.loads(result.to_json())["warnings"] == []


@pytest.mark.parametrize("name, unit", [("Lung volume [L]", "L"),
                                        ("Cardiac output [L/h]", "L/h")])
def test_physiology_parameters_are_estimable(tmp_path, name, unit):
    path = write_data(tmp_path, lung_cells())
    result = fit(SCENARIO, read_study(path), [name], n_starts=1, profile=False)
    p = result.parameters[name]
    assert p["unit"] == unit and math.isfinite(p["estimate"]) and p["estimate"] > 0


def test_physiology_estimate_changes_the_prediction(tmp_path):
    """Cardiac output moves the cells through the blood: the fitted value is used."""
    path = write_data(tmp_path, lung_cells())
    result = fit(SCENARIO, read_study(path), ["Cardiac output [L/h]"], n_starts=1,
                 profile=False)
    model = result.model.models["all"]
    assert model.scenario_names == ("Cardiac output [L/h]",)
    pred = model.predict(result.theta_log, [1.0], ["blood"], [""])
    half = model.predict([result.theta_log[0] - math.log(2)], [1.0], ["blood"], [""])
    assert pred[0] != pytest.approx(half[0], rel=1e-3)


@pytest.mark.parametrize("name, reason", [
    ("Rest blood flow fraction [-]", "sum to 1"),
    ("Lung blood flow fraction [-]", "whole cardiac output"),
    ("Body weight [kg]", "subject.body_weight_kg"),
])
def test_physiology_parameters_that_cannot_be_estimated_say_why(tmp_path, name, reason):
    path = write_data(tmp_path, lung_cells())
    with pytest.raises(FitError) as exc:
        fit(SCENARIO, read_study(path), [name], n_starts=1, profile=False)
    msg = str(exc.value)
    assert name in msg and reason in msg and "unknown" not in msg


def test_cli_physiology_name_is_estimable(tmp_path):
    path = write_data(tmp_path, lung_cells())
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(SCENARIO), str(path), "--estimate", "Lung volume [L]",
                            "-o", str(out), "--n-starts", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["parameters"]["Lung volume [L]"]["unit"] == "L"


def test_estimate_on_its_bound_is_not_reported_converged(tmp_path):
    """Lung cells that never die: the death half-life runs to its upper search bound."""
    path = write_data(tmp_path, lung_cells(1e7))
    result = fit(SCENARIO, read_study(path), [LUNG_DEATH], n_starts=1, profile=False)
    doc = json.loads(result.to_json())
    p = doc["parameters"][LUNG_DEATH]
    assert p["at_bound"] == "upper"
    assert p["estimate"] == pytest.approx(6.0 * 1000, rel=1e-6)
    assert doc["converged"] is False
    assert "upper search bound" in doc["convergence"]
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(SCENARIO), str(path), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "1"])
    assert r.exit_code == 0, r.output
    assert "at its upper search bound" in r.output


def test_estimate_inside_its_bounds_is_converged(tmp_path):
    path = write_data(tmp_path, lung_cells(12.0))
    doc = json.loads(fit(SCENARIO, read_study(path), [LUNG_DEATH], n_starts=1,
                         profile=False).to_json())
    assert doc["parameters"][LUNG_DEATH]["at_bound"] is None
    assert doc["converged"] is True and doc["convergence"] == "converged"
