"""The embolic-burden warning: per-bed limits in data/embolic.toml (lung and brain model-derived
from dose-outcome data, heart converted from counts per g), warnings from summarize, mscpk
simulate and mscpk scan."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

import mscpk
from helpers import data_table, make
from mscpk.analysis.summary import embolic_warnings, peak_occlusions
from mscpk.errors import MscpkWarning
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.studies import load_study
from mscpk.interfaces.cli import app


def _rows(table, path=""):
    """Every table of the data file that holds a number (a "value"), with its dotted path."""
    for key, item in table.items():
        if isinstance(item, dict):
            if "value" in item:
                yield f"{path}{key}", item
            yield from _rows(item, f"{path}{key}.")


def test_every_number_of_the_data_file_has_a_unit_and_a_source():
    rows = dict(_rows(data_table("embolic.toml")))
    assert {"bed.lung.warn", "bed.lung.severe", "bed.heart.warn", "bed.heart.severe", "bed.brain.warn",
            "bed.heart.warn.conversion.count", "bed.heart.severe.conversion.tissue_g"} <= set(rows)
    for path, row in rows.items():
        assert isinstance(row["value"], float | int) and row["value"] > 0, path
        assert row["unit"] and len(row["source"]) > 20, path
    for bed, levels in data_table("embolic.toml")["bed"].items():
        assert levels["cite"] and levels["basis"], bed
        for name in ("warn", "severe"):
            if name in levels:
                assert levels[name]["unit"] == "-" and 0 < levels[name]["value"] < 1, (bed, name)
        if "severe" in levels:
            assert levels["warn"]["value"] < levels["severe"]["value"], bed
    default = data_table("embolic.toml")["default"]
    assert default["bed"] == "lung" and default["source"].startswith("assumption:")


def _default_parameter(name):
    (row,) = [r for r in data_table("parameters/default.toml")["parameter"] if r["name"] == name]
    return row["value"]


@pytest.mark.parametrize("level", ["warn", "severe"])
def test_heart_limits_are_the_published_counts_per_g_in_capacity_units(level):
    """occlusion = count per g x (d / d_ref)^3 / systemic capacity per g (default.toml)."""
    row = data_table("embolic.toml")["bed"]["heart"][level]
    conv = row["conversion"]
    kappa = _default_parameter("Systemic embolic capacity [cells/g]")
    d_ref = _default_parameter("Reference cell diameter for embolic capacity [um]")
    per_g = conv["count"]["value"] / conv["tissue_g"]["value"]
    assert conv["count"]["unit"].split("/")[1:] == conv["tissue_g"]["unit"].split("/")[1:]  # per kg / per kg
    expected = per_g * (conv["diameter_um"]["value"] / d_ref) ** 3 / kappa
    assert row["value"] == pytest.approx(expected, rel=5e-3)
    assert row["source"].startswith("converted:")


@pytest.mark.parametrize("level, cells", [("warn", 1e6), ("severe", 3e6)])
def test_lung_limits_are_what_the_default_model_predicts_for_the_kwon_doses(level, cells):
    """Survival 100 % at 1e6 IV cells, 0 % at 3e6 (Kwon 2024): the limits are the default
    model's peak lung occlusion for the study library's kwon2024 scenario at those doses."""
    sc = load_study("kwon2024").scenario
    sc = sc.model_copy(update={"dose": (sc.dose[0].model_copy(update={"cells": cells}),)})
    peaks = peak_occlusions(mscpk.simulate(sc))
    assert max(peaks, key=peaks.get) == "lung"
    row = data_table("embolic.toml")["bed"]["lung"][level]
    assert row["source"].startswith("model-derived:") and "Kwon 2024" in row["source"]
    assert peaks["lung"] == pytest.approx(row["value"], rel=2e-3)


def test_brain_limit_is_what_the_default_model_predicts_for_the_cui_dose():
    """1e6 allogeneic bone-marrow MSC into the rat carotid (Cui 2015, the highest dose)."""
    sc = scenario_from_dict({"name": "cui2015", "subject": {"species": "rat"},
                             "product": {"source": "bone_marrow", "origin": "allogeneic"},
                             "dose": [{"route": "ia", "site": "brain", "cells": 1e6}], "run": {"end_h": 24.0}})
    row = data_table("embolic.toml")["bed"]["brain"]["warn"]
    assert row["source"].startswith("model-derived:") and "Cui 2015" in row["source"]
    assert peak_occlusions(mscpk.simulate(sc))["brain"] == pytest.approx(row["value"], rel=5e-3)


@pytest.mark.parametrize("bed", ["lung", "heart", "brain", "kidney"])
def test_each_bed_is_judged_by_its_own_limit(bed):
    """A constructed occlusion just above / below the bed's warn limit: the others' limits do not
    decide; a bed without data (kidney) is judged by the lung's, and the message says so."""
    table = data_table("embolic.toml")["bed"]
    own = table.get(bed, table["lung"])["warn"]["value"]
    assert embolic_warnings({bed: own * 0.99}) == []
    (text,) = embolic_warnings({bed: own * 1.01})
    assert text.startswith(f"embolic burden: {bed} capillary bed peaks at {100 * own * 1.01:.3g} % occluded, "
                           f"above {100 * own:.4g} %, ")
    assert f"{table.get(bed, table['lung'])['cite']}; " in text and "data/embolic.toml" in text
    assert ("the lung's limits, assumed for the kidney" in text) == (bed == "kidney")
    others = {b: table[b]["warn"]["value"] for b in table if b != (bed if bed in table else "lung")}
    assert all(own * 1.01 != pytest.approx(v, rel=0.05) for v in others.values())


def test_heart_and_brain_limits_are_far_below_the_lung_limit():
    """The limits differ per bed by orders of magnitude, so one bed's limit cannot stand in for another's."""
    table = data_table("embolic.toml")["bed"]
    occ = 0.01  # 1 % of the bed: silent for the lung, severe for the heart, above the brain's limit
    assert embolic_warnings({"lung": occ}) == []
    (heart,) = embolic_warnings({"heart": occ})
    assert f"at or above {100 * table['heart']['severe']['value']:.4g} %, " in heart and "microinfarcts in dogs" in heart
    (brain,) = embolic_warnings({"brain": occ})
    assert f"above {100 * table['brain']['warn']['value']:.4g} %, " in brain and "Cui 2015" in brain


def test_a_burden_below_the_threshold_is_silent():
    res = mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml"))  # 2.5 % of the lung bed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mscpk.summarize(res).attrs["warnings"] == []


def test_98_percent_lung_occlusion_warns_in_the_lethal_range_and_the_overflow_for_the_heart():
    """With the lung 98 % occluded, cells pass to the systemic beds: the heart's own (lower) limit
    is passed too; every other bed stays below the lung's limits that apply to it."""
    res = mscpk.simulate(make(cells=2e7, end=24.0))
    assert res.metadata["peak_occlusion"] > 0.97
    with pytest.warns(MscpkWarning) as caught:
        table = mscpk.summarize(res)
    lung, heart = table.attrs["warnings"]
    assert [str(w.message) for w in caught] == [lung, heart]
    assert lung.startswith("embolic burden: lung capillary bed peaks at 97.9 % occluded, at or above 13.95 %, the "
                           "model's burden for 3e6 IV cells in mice, which none survived (Kwon 2024; model-derived "
                           "thresholds in data/embolic.toml)")
    warn = data_table("embolic.toml")["bed"]["heart"]["warn"]["value"]
    assert heart.startswith(f"embolic burden: heart capillary bed peaks at {100 * peak_occlusions(res)['heart']:.3g} "
                            f"% occluded, above {100 * warn:.4g} %, the burden of the 42 um microspheres")


def test_coronary_occlusion_warns_with_the_heart_limit():
    res = mscpk.simulate(make(species="rat", route="intracoronary", cells=1e7, end=24.0))
    occ = peak_occlusions(res)["heart"]
    severe = data_table("embolic.toml")["bed"]["heart"]["severe"]["value"]
    assert severe < occ < data_table("embolic.toml")["bed"]["lung"]["warn"]["value"] * 3
    texts = embolic_warnings(peak_occlusions(res))
    (text,) = [t for t in texts if t.startswith("embolic burden: heart")]
    assert text.startswith(f"embolic burden: heart capillary bed peaks at {100 * occ:.3g} % occluded, at or above "
                           f"{100 * severe:.4g} %, the burden of intracoronary MSC per g of heart that caused "
                           "microinfarcts in dogs (Ma 2012")
    assert "Vulliet 2004" in text and "data/embolic.toml" in text


def test_simulate_cli_prints_the_warning_on_stderr(tmp_path):
    sc = tmp_path / "big.toml"
    sc.write_text('[subject]\nspecies = "mouse"\n[[dose]]\nroute = "iv"\ncells = 2e7\n[run]\nend_h = 24.0\n')
    res = CliRunner().invoke(app, ["simulate", str(sc), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert [ln[:52] for ln in lines if ln.startswith("warning: ")] == [
        "warning: embolic burden: lung capillary bed peaks at",
        "warning: embolic burden: heart capillary bed peaks a"]


def test_scan_warns_once_with_the_points_above_the_threshold(tmp_path):
    sc = make(cells=1e5, end=24.0)
    with pytest.warns(MscpkWarning, match=r"embolic burden above a bed's limit at 1 of 2 scan points: "
                                          r"\{'dose\[1\].cells': 20000000.0\} lung 97.9 % \(limit 4.65 %\)"):
        da = mscpk.scan(sc, {"dose[1].cells": [1e5, 2e7]}, times_h=[1, 24])
    assert len(da.attrs["warnings"]) == 1
    np.testing.assert_array_less(0, da.sel(site="lung", quantity="live_cells").values)
