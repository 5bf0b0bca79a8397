"""The embolic-burden warning: thresholds in data/embolic.toml (model-derived from the Kwon
2024 dose-mortality data), warnings from summarize, mscpk simulate and mscpk scan."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import mscpk
from helpers import data_table, make
from mscpk.analysis.summary import embolic_warnings, peak_occlusions
from mscpk.errors import MscpkWarning
from mscpk.inputs.studies import load_study
from mscpk.interfaces.cli import app


def test_thresholds_have_unit_and_source_and_say_they_are_model_derived():
    table = data_table("embolic.toml")["threshold"]
    assert set(table) == {"warn", "lethal"}
    for row in table.values():
        assert row["unit"] == "-" and 0 < row["value"] < 1
        assert row["source"].startswith("model-derived:") and "Kwon 2024" in row["source"]


@pytest.mark.parametrize("level, cells", [("warn", 1e6), ("lethal", 3e6)])
def test_thresholds_are_what_the_default_model_predicts_for_the_kwon_doses(level, cells):
    """Survival 100 % at 1e6 IV cells, 0 % at 3e6 (Kwon 2024): the thresholds are the default
    model's peak lung occlusion for the study library's kwon2024 scenario at those doses."""
    sc = load_study("kwon2024").scenario
    sc = sc.model_copy(update={"dose": (sc.dose[0].model_copy(update={"cells": cells}),)})
    peaks = peak_occlusions(mscpk.simulate(sc))
    assert max(peaks, key=peaks.get) == "lung"
    assert peaks["lung"] == pytest.approx(data_table("embolic.toml")["threshold"][level]["value"], rel=2e-3)


def test_a_burden_below_the_threshold_is_silent():
    res = mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml"))  # 2.5 % of the lung bed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mscpk.summarize(res).attrs["warnings"] == []


def test_98_percent_lung_occlusion_warns_in_the_lethal_range():
    res = mscpk.simulate(make(cells=2e7, end=24.0))
    assert res.metadata["peak_occlusion"] > 0.97
    with pytest.warns(MscpkWarning, match=r"embolic burden: lung capillary bed peaks at 97.9 % occluded, at or "
                                          r"above 13.95 %, the model's burden for 3e6 IV cells in mice, which none survived \(Kwon 2024"):
        table = mscpk.summarize(res)
    assert len(table.attrs["warnings"]) == 1 and table.attrs["warnings"][0].startswith("embolic burden: lung")


def test_coronary_occlusion_above_the_threshold_warns_for_the_heart():
    res = mscpk.simulate(make(species="rat", route="intracoronary", cells=1e7, end=24.0))
    occ = peak_occlusions(res)["heart"]
    assert 0.0465 < occ < 0.1395
    (text,) = embolic_warnings(peak_occlusions(res))
    assert text.startswith(f"embolic burden: heart capillary bed peaks at {100 * occ:.3g} % occluded, above 4.65 %, "
                           "the model's burden for 1e6 IV cells in mice, which all survived (none survived 3e6")
    assert "data/embolic.toml" in text and "model-derived" in text


def test_simulate_cli_prints_the_warning_on_stderr(tmp_path):
    sc = tmp_path / "big.toml"
    sc.write_text('[subject]\nspecies = "mouse"\n[[dose]]\nroute = "iv"\ncells = 2e7\n[run]\nend_h = 24.0\n')
    res = CliRunner().invoke(app, ["simulate", str(sc), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert [ln[:51] for ln in lines if ln.startswith("warning: ")] == [
        "warning: embolic burden: lung capillary bed peaks a"]


def test_scan_warns_once_with_the_points_above_the_threshold(tmp_path):
    sc = make(cells=1e5, end=24.0)
    with pytest.warns(MscpkWarning, match=r"embolic burden above 4.65 % at 1 of 2 scan points: "
                                          r"\{'dose\[1\].cells': 20000000.0\} lung 97.9 %"):
        da = mscpk.scan(sc, {"dose[1].cells": [1e5, 2e7]}, times_h=[1, 24])
    assert len(da.attrs["warnings"]) == 1
    np.testing.assert_array_less(0, da.sel(site="lung", quantity="live_cells").values)
