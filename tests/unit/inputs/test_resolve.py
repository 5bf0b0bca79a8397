"""``resolve(scenario) -> Inputs`` (mscpk.inputs.resolve): each ``[parameters]`` name goes to its
owner (physiology, detection, model parameters), is applied there, and unknown names are refused."""

from __future__ import annotations

import pytest

from helpers import data_table, data_value, make
from mscpk.errors import ParameterError, ScenarioError
from mscpk.inputs.physiology import load_species
from mscpk.inputs.resolve import (cell_scenario, resolve, scenario_parameters, scenario_species,
                                  split_overrides)

PHYS = "Lung volume [L]"
DET = "qPCR detection limit [cells]"
MODEL = "Circulating cell death half-life [h]"
MIXED = {PHYS: 1.5e-4, DET: 42.0, MODEL: 3.0}


def test_split_overrides_puts_each_name_with_its_owner():
    parts = split_overrides(MIXED, load_species("mouse"))
    assert dict(parts.physiology) == {PHYS: 1.5e-4}
    assert dict(parts.detection) == {DET: 42.0}
    assert dict(parts.model) == {MODEL: 3.0}


def test_split_overrides_of_nothing_is_empty():
    parts = split_overrides({}, load_species("mouse"))
    assert not parts.model and not parts.physiology and not parts.detection


def test_split_overrides_refuses_a_name_no_owner_has():
    with pytest.raises(ParameterError, match=r"unknown parameter 'no such thing \[-\]'; `mscpk params` lists"):
        split_overrides({"no such thing [-]": 1.0}, load_species("mouse"))


def test_resolve_applies_each_override_to_its_owner():
    inputs = resolve(make(params=MIXED))
    lung_mL = data_table("species/mouse.toml")["organs"]["lung"]["volume"]
    assert lung_mL["unit"] == "mL"
    assert inputs.species.organ("lung").volume_L == pytest.approx(1.5e-4)
    assert load_species("mouse").organ("lung").volume_L == pytest.approx(lung_mL["value"] / 1000)
    assert inputs.detection.method("qpcr").detection_limit_cells == 42.0
    assert inputs.params[MODEL] == 3.0
    assert inputs.params.record(MODEL).source == "scenario override"
    # everything not overridden keeps the packaged value
    other = "Lung arrested cell death half-life [h]"
    assert inputs.params[other] == data_value(other)
    assert inputs.species.organ("liver").volume_L == pytest.approx(load_species("mouse").organ("liver").volume_L)
    assert inputs.species.name == "mouse" and inputs.params.set_name == "default"


def test_resolve_without_overrides_gives_the_packaged_data():
    inputs = resolve(make())
    assert inputs.params[MODEL] == data_value(MODEL)
    assert not inputs.detection  # no detection overrides
    assert inputs.species.organ("lung").volume_L == load_species("mouse").organ("lung").volume_L


def test_resolve_scales_the_species_to_the_subject_body_weight():
    sc = make().model_copy(update={"subject": make().subject.model_copy(update={"body_weight_kg": 0.05})})
    assert resolve(sc).species.body_weight_kg == 0.05


def test_scenario_species_and_parameters_agree_with_resolve():
    sc = make(params=MIXED)
    inputs = resolve(sc)
    assert scenario_species(sc) == inputs.species
    assert dict(scenario_parameters(sc)) == dict(inputs.params)


def test_cell_scenario_drops_detection_names_only():
    sc = make(params=MIXED)
    cell = cell_scenario(sc)
    assert cell.parameters == {PHYS: 1.5e-4, MODEL: 3.0}
    assert resolve(sc).cell_scenario.parameters == cell.parameters
    assert sc.parameters == MIXED  # the original is unchanged
    plain = make(params={MODEL: 3.0})
    assert cell_scenario(plain) is plain


def _raw(params):
    """A scenario carrying ``params`` unchecked (resolve itself must refuse them)."""
    return make().model_copy(update={"parameters": params})


def test_unknown_model_name_raises_parameter_error_with_a_did_you_mean():
    with pytest.raises(ParameterError, match=r"'Circulating cell death half-lif \[h\]'.*did you mean "
                                             r"'Circulating cell death half-life \[h\]'"):
        resolve(_raw({"Circulating cell death half-lif [h]": 3.0}))


def test_scenario_loading_reports_the_unknown_name_under_parameters():
    with pytest.raises(ScenarioError, match=r"^parameters: unknown parameter 'zzz'"):
        make(params={"zzz": 1.0})


@pytest.mark.parametrize("typo, meant", [("Lung volum [L]", "Lung volume [L]"),
                                         ("qPCR detection limt [cells]", "qPCR detection limit [cells]")])
def test_unknown_physiology_or_detection_name_gets_a_did_you_mean(typo, meant):
    with pytest.raises(ParameterError, match=f"did you mean '{meant}'".replace("[", r"\[").replace("]", r"\]")):
        resolve(_raw({typo: 1.0}))


def test_out_of_range_values_are_refused_by_their_owner():
    with pytest.raises(ParameterError, match="Circulating cell death half-life"):
        resolve(_raw({MODEL: -1.0}))
    with pytest.raises(ParameterError, match="Lung volume"):
        resolve(_raw({PHYS: -1.0}))
    with pytest.raises(ParameterError, match="qPCR detection limit"):
        resolve(_raw({DET: -1.0}))
