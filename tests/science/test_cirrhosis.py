"""Cirrhosis (subject.condition) through the engine: cells are conserved, and each change acts
on where IV cells go in the direction of its mechanism (docs/model.md "Conditions")."""

from __future__ import annotations

import pytest

import mscpk
from helpers import at
from mscpk.inputs.condition import PORTOSYSTEMIC
from mscpk.inputs.load import scenario_from_dict

T = [0.5, 24.0, 240.0]
CELLS = 1e8


def human(condition=None, parameters=None, saturation="off"):
    subject = {"species": "human", "body_weight_kg": 70.0}
    if condition:
        subject["condition"] = {"name": "cirrhosis", "stage": condition}
    return scenario_from_dict({"subject": subject, "dose": [{"route": "iv", "cells": CELLS}],
                               "parameters": parameters or {}, "run": {"end_h": 240.0, "times_h": T,
                                                                        "saturation": saturation}})


@pytest.mark.parametrize("saturation", ["off", "on"])
def test_cirrhosis_conserves_cells(saturation):
    r = mscpk.simulate(human("C", saturation=saturation))
    assert r.mass_balance_error() < 1e-9
    assert r.states.min() > -1e-9 * CELLS


def test_splenomegaly_raises_spleen_uptake():
    healthy, ill = mscpk.simulate(human()), mscpk.simulate(human("C"))
    assert at(ill, "spleen", 0.5) > 1.5 * at(healthy, "spleen", 0.5)


def test_portosystemic_shunt_lowers_liver_and_returns_cells_to_lung():
    base = mscpk.simulate(human())
    shunted = mscpk.simulate(human(parameters={PORTOSYSTEMIC: 0.5}))
    assert at(shunted, "liver", 0.5) < at(base, "liver", 0.5)
    assert at(shunted, "lung", 0.5) > at(base, "lung", 0.5)


def test_wider_lung_passage_sends_more_cells_to_systemic_organs():
    name = "Lung arteriovenous shunt fraction, human [-]"
    base = mscpk.simulate(human())
    wide = mscpk.simulate(human(parameters={name: 0.2}))
    systemic = lambda r: sum(at(r, s, 0.5) for s in r.sites if s not in ("lung", "blood", "eliminated"))  # noqa: E731
    assert systemic(wide) > systemic(base)
    assert at(wide, "lung", 0.5) < at(base, "lung", 0.5)


def test_reduced_kupffer_clearance_moves_dead_material_from_liver_to_spleen():
    share = "Liver share of dead-material uptake [-]"
    base = mscpk.simulate(human())
    low = mscpk.simulate(human(parameters={share: 0.5}))
    ratio = lambda r: at(r, "spleen", 24.0, "dead_cells") / at(r, "liver", 24.0, "dead_cells")  # noqa: E731
    assert ratio(low) > ratio(base)
