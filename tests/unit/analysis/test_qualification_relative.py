"""Observations given as a share of another site's readout (``relative_to``)."""

import pytest

from mscpk.analysis.qualification import _Predictor, study_rows
from mscpk.errors import ScenarioError
from mscpk.inputs.studies import study_from_dict

STUDY = {"id": "x", "citation": "A 2020", "used_for": "validation",
         "scenario": {"subject": {"species": "rat"}, "product": {"label": "111In-oxine"},
                      "dose": [{"route": "intramyocardial", "cells": 1e6, "site": "heart"}]},
         "assay": {"method": "spect"},
         "observation": [{"site": "heart", "time_h": 1.0, "value": 50.0, "unit": "percent_injected_activity",
                          "provenance": "table", "relative_to": "whole_body"}]}


def test_relative_observation_is_the_share_of_the_whole_body_readout():
    study = study_from_dict(STUDY)
    row = study_rows(study)[0]
    pred = _Predictor(study)
    heart, body = pred.percent("heart", 1.0), pred.percent("whole_body", 1.0)
    assert body < 100.0  # the spilled part of an intramyocardial injection left the body
    assert row["predicted"] == pytest.approx(100.0 * heart / body, rel=1e-12)
    assert row["predicted"] > heart  # a share of what is in the body exceeds the share of the dose
    assert row["fold_error"] == pytest.approx(row["predicted"] / 50.0)


@pytest.mark.parametrize("change, words", [
    ({"relative_to": "whole_body", "unit": "cells"}, "relative_to.*units"),
    ({"relative_to": 3}, "relative_to.*site name"),
])
def test_bad_relative_to_is_refused_with_the_key(change, words):
    obs = {**STUDY["observation"][0], **change}
    with pytest.raises(ScenarioError, match=r"observation\[1\]\." + words):
        study_from_dict({**STUDY, "observation": [obs]})


def test_relative_to_an_unknown_site_names_the_sites():
    obs = {**STUDY["observation"][0], "relative_to": "torso"}
    with pytest.raises(ScenarioError, match="'torso' is not a site"):
        study_rows(study_from_dict({**STUDY, "observation": [obs]}))
