"""Translation between species (issue 11, item 1): rules as data, round trips, the table."""

import tomllib

import pytest

import mscpk
from mscpk.analysis.design.translate import LUNG_CAPACITY, parameter_class, rules
from mscpk.errors import ScenarioError
from mscpk.inputs.parameters import load_parameter_set


@pytest.mark.parametrize("path, via", [("examples/iv_mouse.toml", "human"), ("examples/iv_mouse.toml", "rat"),
                                       ("examples/intramyocardial_mi_rat.toml", "pig"),
                                       ("examples/prochymal_gvhd.toml", "mouse")])
def test_round_trip_returns_the_original_scenario(path, via):
    sc = mscpk.load_scenario(path)
    there = mscpk.translate(sc, via)
    back = mscpk.translate(there.scenario, sc.subject.species).scenario
    assert back.parameters.keys() == sc.parameters.keys()
    assert all(back.parameters[k] == pytest.approx(v, rel=1e-12) for k, v in sc.parameters.items())
    for a, b in zip(back.dose, sc.dose):
        assert (a.cells is None) == (b.cells is None)
        assert (a.cells or a.cells_per_kg) == pytest.approx(b.cells or b.cells_per_kg, rel=1e-12)
    assert back.model_copy(update={"name": sc.name, "parameters": sc.parameters, "dose": sc.dose}) == sc


def test_rules_scale_each_class_and_the_table_lists_them():
    sc = mscpk.load_scenario("examples/iv_mouse.toml")
    res = mscpk.translate(sc, "human")
    ratio = 70.0 / 0.025
    p = res.scenario.parameters
    base = load_parameter_set("default")
    assert p["CSF outflow clearance half-life [h]"] == pytest.approx(base["CSF outflow clearance half-life [h]"] * ratio ** 0.25)
    rate = "Immune clearance rate of xenogeneic cells [1/h]"
    assert p[rate] == pytest.approx(base[rate] * ratio ** -0.25)
    assert "Lung arrested cell death half-life [h]" not in p  # cell-intrinsic: unchanged
    assert parameter_class("Lung arrested cell death half-life [h]") == "cell_intrinsic"
    listed = [n for c in rules()["class"].values() for n in c.get("parameters", ())]
    assert len(listed) == len(set(listed)) and set(listed) <= set(base)  # each parameter in one class, all real
    t = res.table.set_index("parameter")
    assert list(res.table.columns) == ["parameter", "from_value", "to_value", "unit", "rule", "source"]
    assert t.loc["dose[1] cells", "to_value"] == pytest.approx(5e5 / 0.025 * 70.0)  # cells per kg kept
    assert t.loc[rate, "source"] and t.loc[rate, "unit"] == "1/h"
    text = res.to_toml()
    assert mscpk.scenario_from_dict(tomllib.loads(text)) == res.scenario


def test_capacity_rule_keeps_the_dose_per_lung_capillary_bed():
    sc = mscpk.load_scenario("examples/iv_mouse.toml")
    res = mscpk.translate(sc, "rat", dose="capacity")
    p = load_parameter_set("default")
    cap = lambda sp: p[LUNG_CAPACITY] * sp.organs["lung"].volume_L * 1000 * p["Tissue density [g/mL]"]  # noqa: E731
    factor = cap(mscpk.load_species("rat")) / cap(mscpk.load_species("mouse"))
    assert res.scenario.dose[0].cells == pytest.approx(5e5 * factor, rel=1e-12)


def test_physiology_overrides_are_dropped_and_bad_targets_refused():
    sc = mscpk.load_scenario("examples/iv_mouse.toml")
    sc = sc.model_copy(update={"parameters": {"Cardiac output [L/h]": 1.0}})
    res = mscpk.translate(sc, "human")
    row = res.table.set_index("parameter").loc["Cardiac output [L/h]"]
    assert row.rule.startswith("dropped") and "Cardiac output [L/h]" not in res.scenario.parameters
    with pytest.raises(ScenarioError, match="'cat' is not a species"):
        mscpk.translate(sc, "cat")
    with pytest.raises(ScenarioError, match="--dose: 'surface' is not allowed"):
        mscpk.translate(sc, "human", dose="surface")
