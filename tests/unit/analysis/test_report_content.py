"""The report's content (mscpk.analysis.report): every section for three examples (IV mouse,
intra-articular, intramyocardial with study data and a fit), numbers traced to their owners,
inputs checked with clear errors."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest

import mscpk
from mscpk.analysis.report import SECTION_KEYS, ReportError, assemble_report, check_inputs, fit_from_dict
from mscpk.analysis.report.sections import ITEM_KEYS
from mscpk.analysis.report.studies import baseline, with_model
from mscpk.errors import DataError, ScenarioError

ROOT = Path(__file__).resolve().parents[3]
EX = ROOT / "examples"
DATA = EX / "data" / "intramyocardial_mi_rat_qpcr.csv"
FIT = EX / "data" / "intramyocardial_mi_rat_fit.json"
CASES = {"iv_mouse": (EX / "iv_mouse.toml", {}),
         "intra_articular": (EX / "intra_articular_oa_mouse.toml", {}),
         "intramyocardial": (EX / "intramyocardial_mi_rat_luc.toml", {"data": DATA, "fit": FIT})}
MODEL_KEYS = ("design", "biodistribution", *ITEM_KEYS.values(), "detection", "embolic")
TAIL_KEYS = ("qualification", "parameters", "limitations", "reproducibility")


@pytest.fixture(scope="module")
def contents():
    return {name: assemble_report(path, **kw, generated="2026-01-01 00:00 UTC") for name, (path, kw) in CASES.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_section_in_order(contents, name):
    extra = ("nca", "fit") if CASES[name][1] else ()
    keys = MODEL_KEYS + extra + TAIL_KEYS
    assert contents[name].keys == keys
    assert [k for k in SECTION_KEYS if k in keys] == list(keys)  # the documented order


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_guidance_item_says_what_the_model_predicts_and_which_assay(contents, name):
    for key in ITEM_KEYS.values():
        s = contents[name].section(key)
        assert s.bullets, key
        assert any(p.startswith("Which assay would show it, and when:") for p in s.paragraphs)
        (plan,) = s.tables
        assert len(plan.rows) >= 8 and plan.columns[0] == "assay"


def test_distribution_names_the_joint_after_intra_articular_injection(contents):
    lines = contents["intra_articular"].section("distribution").bullets
    assert all("most in joint" in line for line in lines), lines


def test_homing_compares_with_and_without_the_injury(contents):
    (line,) = contents["intra_articular"].section("homing").bullets
    assert line.startswith("Injured joint:") and "without the injury" in line
    assert "no injury" in contents["iv_mouse"].section("homing").bullets[0]


def test_biodistribution_table_is_the_summary(contents):
    res = mscpk.simulate(mscpk.load_scenario(CASES["iv_mouse"][0]))
    summary = mscpk.summarize(res).set_index("site")
    table = contents["iv_mouse"].section("biodistribution").tables[0]
    rows = {r[0]: r for r in table.rows}
    assert table.columns[1] == "1 h"
    assert float(rows["lung"][1]) == pytest.approx(summary.loc["lung", "pct_dose_live_1h"], rel=1e-3)


def test_embolic_section_lists_each_bed_with_its_limits_and_sources(contents):
    s = contents["iv_mouse"].section("embolic")
    (table,) = s.tables
    sites = [r[0] for r in table.rows]
    assert "lung" in sites and "heart" in sites
    lung = next(r for r in table.rows if r[0] == "lung")
    assert lung[3] == "4.65" and lung[5] == "below" and "Kwon 2024" in lung[6]
    assert any(b.startswith("lung warn: model-derived") for b in s.bullets)


def test_detection_windows_only_for_a_product_an_assay_sees(contents):
    assert not contents["iv_mouse"].section("detection").tables  # unlabelled syngeneic cells
    (table,) = contents["intramyocardial"].section("detection").tables
    assert {r[0] for r in table.rows} == {"qpcr", "ihc", "bli"}


def test_fit_section_quotes_the_fit_file(contents):
    fit = json.loads(FIT.read_text())
    s = contents["intramyocardial"].section("fit")
    est = s.tables[0]
    rows = {r[0]: r for r in est.rows}
    for name, p in fit["parameters"].items():
        assert float(rows[name][1]) == pytest.approx(p["estimate"], rel=1e-3)
    assert rows["Engrafted cell death half-life [h]"][-1] == "247"  # the scenario's value beside it
    assert "fitted curves from the model rebuilt" in s.figures[0].caption
    residuals = {(r[1], r[2]): r for r in s.tables[1].rows}
    assert residuals[("heart", "qpcr")][3] == "33"


def test_nca_section_has_one_profile_per_site(contents):
    (table,) = contents["intramyocardial"].section("nca").tables
    sites = [r[1] for r in table.rows]
    assert "heart" in sites and len(sites) == len(set(sites))


def test_qualification_quotes_the_packaged_baseline(contents):
    s = contents["iv_mouse"].section("qualification")
    rows = {r[0]: r for r in s.tables[0].rows}
    base = baseline()
    assert set(rows) == set(base)
    assert float(rows["validation"][3]) == pytest.approx(base["validation"]["gmfe"], rel=1e-3)
    assert "packaged baseline" in s.paragraphs[0]
    assert any(b.startswith("lee2009 ") for b in s.bullets)  # a library study of IV in mice


def test_qualification_from_a_run_says_so():
    from mscpk.analysis.qualification import qualify

    run = qualify(["toupet2013"])
    s = assemble_report(CASES["intra_articular"][0], qualification=run).section("qualification")
    assert s.paragraphs[0].startswith("Source of the figures: a run of 1 study of the library at report time")
    assert [r[0] for r in s.tables[0].rows] == list(run.summary.index)


def test_parameters_section_is_every_parameter_in_force(contents):
    sc = mscpk.load_scenario(CASES["iv_mouse"][0])
    (table,) = contents["iv_mouse"].section("parameters").tables
    assert len(table.rows) == len(mscpk.parameters_in_force(sc))
    assert all(r[4] for r in table.rows)  # a source each


def test_reproducibility_gives_the_scenario_text_and_hashes(contents):
    s = contents["intramyocardial"].section("reproducibility")
    rows = {r[0]: r for r in s.tables[0].rows}
    for what, path in (("scenario", CASES["intramyocardial"][0]), ("study data", DATA), ("fit", FIT)):
        assert rows[what][2] == hashlib.sha256(path.read_bytes()).hexdigest()
    ((caption, text),) = s.texts
    assert text == CASES["intramyocardial"][0].read_text()
    assert "--fit" in s.paragraphs[0] and "mscpk 0." in s.paragraphs[1]


def test_limitations_in_plain_words(contents):
    bullets = contents["intra_articular"].section("limitations").bullets
    assert len(bullets) >= 6 and any("3-fold" in b for b in bullets)


def test_a_scenario_object_is_reported_with_its_fields_as_toml():
    sc = mscpk.load_scenario(CASES["iv_mouse"][0])
    inputs = check_inputs(sc)
    assert mscpk.scenario_from_dict(tomllib.loads(inputs.scenario_source.text)) == sc
    assert inputs.scenario_source.path == "(Scenario object)"


def test_fitted_curves_only_when_the_scenario_reproduces_the_fit():
    fit = check_inputs(CASES["intramyocardial"][0], fit=FIT).fit
    assert fit.model is None
    assert with_model(fit, mscpk.load_scenario(CASES["intramyocardial"][0])).model is not None
    assert with_model(fit, mscpk.load_scenario(EX / "intramyocardial_mi_rat.toml")).model is None


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("predictions"), "missing entry 'predictions'"),
    (lambda d: d.update(converged="yes"), "entry 'converged' is 'yes'; allowed: bool"),
    (lambda d: d.update(n_obs=True), "entry 'n_obs' is True; allowed: int"),
    (lambda d: d.update(parameters={}), "no estimated parameter"),
    (lambda d: d["parameters"]["Engrafted cell death half-life [h]"].pop("unit"), "needs estimate, ci_low"),
    (lambda d: d["parameters"]["Engrafted cell death half-life [h]"].update(estimate="x"), "'x' is not a number"),
    (lambda d: d["predictions"][0].pop("PRED"), "prediction 1 needs TIME, SITE, DV, PRED"),
])
def test_a_broken_fit_file_is_refused_with_what_is_wrong(change, message):
    d = json.loads(FIT.read_text())
    change(d)
    with pytest.raises(ReportError, match=message.replace("[", r"\[").replace("(", r"\(")):
        fit_from_dict(d)


def test_inputs_that_are_missing_or_wrong(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        check_inputs(tmp_path / "none.toml")
    with pytest.raises(ScenarioError, match="not dict"):
        check_inputs({"name": "x"})
    with pytest.raises(DataError, match="study data file .* does not exist"):
        check_inputs(CASES["iv_mouse"][0], data=tmp_path / "none.csv")
    (tmp_path / "fit.json").write_text("{not json")
    with pytest.raises(ReportError, match="not valid JSON"):
        check_inputs(CASES["iv_mouse"][0], fit=tmp_path / "fit.json")
    with pytest.raises(ReportError, match="is a folder"):
        check_inputs(CASES["iv_mouse"][0], fit=tmp_path)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ReportError, match="not a fit output"):
        check_inputs(CASES["iv_mouse"][0], fit=tmp_path / "list.json")
