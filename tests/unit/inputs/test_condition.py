"""subject.condition (data/conditions.toml, inputs/condition.py): each effect acts in its
direction, by the data file's values; no condition changes nothing; bad values are refused."""

from __future__ import annotations

import math
import re

import pytest

from helpers import data_table
from mscpk.errors import ScenarioError
from mscpk.inputs.condition import EFFECTS, PORTOSYSTEMIC
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.parameters import load_parameter_set
from mscpk.inputs.physiology import load_species
from mscpk.inputs.resolve import resolve

TABLE = data_table("conditions.toml")["cirrhosis"]


def scenario(condition=None, species="human", parameters=None):
    subject = {"species": species}
    if condition is not None:
        subject["condition"] = condition
    return scenario_from_dict({"subject": subject, "dose": [{"route": "iv", "cells": 1e8}],
                               "parameters": parameters or {}})


def value(key, stage):
    v = TABLE[key]["value"]
    return v[stage] if isinstance(v, dict) else v


def test_data_file_names_known_effects_with_unit_and_source():
    effects = {k for k, v in TABLE.items() if isinstance(v, dict) and "value" in v}
    assert effects and effects <= set(EFFECTS)
    for k in effects:
        assert TABLE[k]["unit"] and TABLE[k]["source"]
        v = TABLE[k]["value"]
        assert set(v) == set(TABLE["stages"]) if isinstance(v, dict) else math.isfinite(v)


def test_no_condition_leaves_physiology_and_parameters_unchanged():
    inputs = resolve(scenario())
    plain, default = load_species("human"), load_parameter_set("default")
    assert inputs.species.parameter_values() == plain.parameter_values()
    assert dict(inputs.params) == dict(default)
    assert default[PORTOSYSTEMIC] == 0.0


@pytest.mark.parametrize("stage", TABLE["stages"])
def test_each_effect_acts_by_its_data_value(stage):
    healthy = resolve(scenario())
    ill = resolve(scenario({"name": "cirrhosis", "stage": stage}))
    h, c = healthy.species, ill.species
    for organ in ("spleen", "liver"):
        assert c.organs[organ].volume_L == pytest.approx(h.organs[organ].volume_L * value(f"{organ}_volume", stage))
    co = value("cardiac_output", stage)
    assert co > 1 and c.cardiac_output_L_per_h == pytest.approx(h.cardiac_output_L_per_h * co)
    absolute = lambda sp, o: sp.organs[o].flow_fraction * sp.cardiac_output_L_per_h  # noqa: E731
    assert absolute(c, "spleen") == pytest.approx(absolute(h, "spleen") * value("spleen_flow", stage))
    for organ in ("heart", "brain", "kidney", "gut", "liver"):  # absolute flows kept
        assert absolute(c, organ) == pytest.approx(absolute(h, organ))
    assert absolute(c, "rest") > absolute(h, "rest")  # the extra output goes to 'rest'
    assert sum(o.flow_fraction for n, o in c.organs.items() if n != "lung") == pytest.approx(1.0)
    assert sum(o.volume_L for o in c.organs.values()) == pytest.approx(sum(o.volume_L for o in h.organs.values()))
    lung = "Lung arteriovenous shunt fraction, human [-]"
    assert ill.params[lung] == pytest.approx(healthy.params[lung] * value("lung_shunt", stage))
    assert ill.params[PORTOSYSTEMIC] == value("portosystemic_shunt", stage) > 0
    share = "Liver share of dead-material uptake [-]"
    uptake = "Dead material uptake from blood half-life [h]"
    k = value("liver_phagocytic_clearance", stage)
    # the spleen's uptake rate is unchanged, the liver's scaled by k
    rate = lambda p: 1.0 / p[uptake]  # noqa: E731
    assert rate(ill.params) * (1 - ill.params[share]) == pytest.approx(rate(healthy.params) * (1 - healthy.params[share]))
    assert rate(ill.params) * ill.params[share] == pytest.approx(rate(healthy.params) * healthy.params[share] * k)


def test_spleen_grows_with_child_pugh_class():
    volumes = [resolve(scenario({"name": "cirrhosis", "stage": s})).species.organs["spleen"].volume_L
               for s in TABLE["stages"]]
    assert volumes == sorted(volumes) and volumes[0] > load_species("human").organs["spleen"].volume_L


def test_parameters_table_wins_over_condition():
    inputs = resolve(scenario({"name": "cirrhosis", "stage": "B"}, parameters={PORTOSYSTEMIC: 0.1,
                                                                              "Spleen volume [L]": 0.2}))
    assert inputs.params[PORTOSYSTEMIC] == 0.1
    assert inputs.species.organs["spleen"].volume_L == 0.2


@pytest.mark.parametrize("condition, message", [
    ({"name": "cirhosis", "stage": "C"}, "subject.condition.name: unknown condition; did you mean 'cirrhosis'? allowed: cirrhosis (got 'cirhosis')"),
    ({"name": "cirrhosis", "stage": "D"}, "subject.condition.stage: not a stage of 'cirrhosis'; allowed: A, B, C (got 'D')"),
    ({"name": "cirrhosis"}, "subject.condition.stage: required key is missing"),
    ({"name": "cirrhosis", "stage": "C", "class": "C"}, "subject.condition.class: unknown key"),
])
def test_bad_condition_refused_naming_key_value_and_allowed(condition, message):
    with pytest.raises(ScenarioError, match="^" + re.escape(message)):
        scenario(condition)


def test_condition_refused_for_species_without_data():
    with pytest.raises(ScenarioError, match="subject: condition 'cirrhosis' is described for human only, not 'rat'"):
        scenario({"name": "cirrhosis", "stage": "C"}, species="rat")


def test_population_resampling_all_physiology_refused_with_condition():
    raw = {"subject": {"species": "human", "condition": {"name": "cirrhosis", "stage": "C"}},
           "dose": [{"route": "iv", "cells": 1e8}],
           "population": {"n": 10, "vary": {"subject.body_weight_kg": {"dist": "uniform", "low": 60, "high": 80}}}}
    with pytest.raises(ScenarioError, match=re.escape("population.vary['subject.body_weight_kg'] sets every physiology "
                                                      "value per subject, which would drop subject.condition 'cirrhosis'")):
        scenario_from_dict(raw)
