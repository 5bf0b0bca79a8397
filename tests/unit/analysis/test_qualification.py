"""Qualification: study files are checked when read; predictions are the model's expected
readout in the study's unit; fold error = predicted / observed; the CLI writes its files."""


import numpy as np
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.analysis.qualification import COLUMNS, qualify, study_curves
from mscpk.errors import ScenarioError
from mscpk.inputs.studies import load_study, study_from_dict, study_ids
from mscpk.interfaces.cli import app

GOOD = {"id": "x", "citation": "A 2020", "used_for": "validation",
        "scenario": {"subject": {"species": "mouse"}, "dose": [{"route": "iv", "cells": 1e6}]},
        "assay": {"method": "culture"},
        "observation": [{"site": "lung", "time_h": 1.0, "value": 50.0, "unit": "percent_dose", "provenance": "text"}]}


def test_every_packaged_study_reads():
    ids = study_ids()
    assert len(ids) >= 25
    assert {load_study(s).used_for for s in ids} == {"calibration", "validation"}


@pytest.mark.parametrize("change, words", [
    ({"used_for": "tuning"}, "used_for"),
    ({"assay": {"method": "xray"}}, "assay.method"),
    ({"observation": [{**GOOD["observation"][0], "unit": "percent"}]}, "observation[1].unit"),
    ({"observation": [{**GOOD["observation"][0], "value": float("nan")}]}, "observation[1].value"),
    ({"observation": [{**GOOD["observation"][0], "colour": "red"}]}, "observation[1] key"),
    ({"scenario": {"subject": {"species": "cat"}, "dose": [{"route": "iv", "cells": 1e6}]}}, "subject.species"),
])
def test_bad_study_files_are_refused_with_the_key(change, words):
    with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace("]", r"\]")):
        study_from_dict({**GOOD, **change})


def test_prediction_is_the_model_in_the_study_unit():
    from mscpk.analysis.qualification import study_rows

    row = study_rows(study_from_dict(GOOD))[0]
    sc = study_from_dict(GOOD).scenario
    ref = mscpk.simulate(sc, times_h=[0.0, 1.0])
    expected = 100 * ref.quantity("lung", "live_cells")[1] / 1e6
    assert row["predicted"] == pytest.approx(expected, rel=1e-9)
    assert row["fold_error"] == pytest.approx(row["predicted"] / 50.0)


def test_qualify_table_and_curves():
    q = qualify(["toupet2013", "francois2014"])
    assert list(q.table.columns) == list(COLUMNS)
    cont = q.table[q.table.fold_error.notna()]
    np.testing.assert_allclose(cont.fold_error, cont.predicted / cont.observed)
    shares = q.table[q.table.unit.eq("fraction_positive")]
    assert len(shares) and shares.predicted.between(0, 1).all()
    t, v = study_curves(load_study("toupet2013"))("joint", "percent_dose")
    assert len(t) == len(v) and np.all(np.diff(t) > 0) and np.all(np.isfinite(v))
    assert len(q.lines()) == q.summary.shape[0]


def test_cli_writes_table_report_and_summary(tmp_path):
    res = CliRunner().invoke(app, ["qualify", "-o", str(tmp_path / "q"), "--study", "toupet2013"])
    assert res.exit_code == 0, res.output
    assert "calibration: 1 studies" in res.output
    html = (tmp_path / "q" / "report.html").read_text()
    assert "<svg" in html and "toupet2013" in html
    assert not any(tag in html for tag in ("<script", "<link", 'src="http', "url(http"))  # nothing fetched
    assert (tmp_path / "q" / "qualification.csv").read_text().startswith(",".join(COLUMNS[:4]))


def test_cli_refuses_an_unknown_study(tmp_path):
    res = CliRunner().invoke(app, ["qualify", "-o", str(tmp_path / "q"), "--study", "lee2090"])
    assert res.exit_code == 2 and "unknown study 'lee2090'" in res.output
    assert not (tmp_path / "q").exists()


def test_rt_qpcr_reads_live_cells_only_and_bounds_are_held_or_not():
    import mscpk
    from mscpk.analysis.detection import observe
    from mscpk.analysis.qualification import qualify

    res = mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml"), times_h=[24.0])
    sc = mscpk.load_scenario("examples/iv_mouse.toml")
    dna = observe(res, "qpcr", scenario=sc, label="luciferase").set_index("site")
    rna = observe(res, "qpcr", scenario=sc, label="luciferase", nucleic_acid="rna").set_index("site")
    assert rna.loc["lung", "expected"] == pytest.approx(rna.loc["lung", "true_live_cells"])
    assert dna.loc["lung", "expected"] == pytest.approx(dna.loc["lung", "true_live_cells"] + dna.loc["lung", "true_dead_cells"])
    t = qualify(["bazhanov2016"]).table
    bound = t[t.finding.str.contains("a reported bound")]
    assert len(bound) == 1 and bool(bound.holds.iloc[0]) == (bound.predicted.iloc[0] <= 0.05)
    assert bound.fold_error.isna().all()


def test_the_reference_of_percent_of_initial_is_not_counted_as_a_prediction():
    from mscpk.analysis.qualification import study_rows

    obs = [{"site": "lung", "time_h": t, "value": v, "unit": "percent_of_initial", "provenance": "text"}
           for t, v in ((1.0, 100.0), (24.0, 50.0))]
    rows = study_rows(study_from_dict({**GOOD, "observation": obs}))
    assert rows[0]["predicted"] == pytest.approx(100.0)  # 100 % by construction
    assert np.isnan(rows[0]["fold_error"]) and rows[0]["holds"] is None  # neither a fold nor a share
    assert rows[1]["fold_error"] == pytest.approx(rows[1]["predicted"] / 50.0)
    summary = qualify(["tzouvelekis2011"]).summary.loc["validation"]
    assert summary.observations == 2  # 30 min (the reference), 90 min, 24 h: two predictions
