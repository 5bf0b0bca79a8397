"""Free hydrophilic label in an injured brain (issue 9): ischaemic stroke opens the blood-brain
barrier over the lesion, so the brain holds the extracellular fluid behind it
(constants.toml ``injured_brain_open_fraction``, ``brain_extracellular_fraction``)."""

from __future__ import annotations

import pytest

from mscpk.analysis.detection.context import make_context
from mscpk.errors import DetectionError
from mscpk.inputs import catalogue
from mscpk.inputs.load import scenario_from_dict


def scenario(severity=None, label="99mTc-HMPAO", site="brain"):
    subject = {"species": "rat", "immune": "immunocompetent"}
    if severity is not None:
        subject["injury"] = [{"site": site, "severity": severity}]
    return scenario_from_dict({"name": "bbb", "subject": subject,
                               "product": {"origin": "syngeneic", "label": label},
                               "dose": [{"route": "iv", "cells": 1e6}],
                               "run": {"end_h": 1.0, "times_h": [0.0, 1.0]}})


def brain_fluid_mL(ctx) -> float:
    """Brain extracellular fluid [mL] the free label reaches, from the shares: brain share /
    blood share x plasma volume."""
    sh = ctx.extracellular_shares()
    return sh["brain"] / sh["blood"] * 0.58 * ctx.species.blood_volume_L * 1000.0


def test_no_brain_injury_keeps_the_barrier_closed():
    for sc in (scenario(), scenario(1.0, site="heart"), scenario(0.0)):
        ctx = make_context(sc)
        assert ctx.open_brain_fraction() == 0.0
        assert ctx.extracellular_shares()["brain"] == 0.0


@pytest.mark.parametrize("severity", [0.5, 1.0, 2.0])
def test_stroke_opens_the_lesion_by_its_data_value(severity):
    c = catalogue.detection_constants()
    ctx = make_context(scenario(severity))
    brain_mL = ctx.species.organs["brain"].volume_L * 1000.0
    # Belayev 1996: 163.6 mm3 infarct of the rat's 1.425 mL brain at severity 1; ECF 0.2 (Nicholson & Sykova 1998)
    expected = c["brain_extracellular_fraction"] * severity * c["injured_brain_open_fraction"] * brain_mL
    assert brain_fluid_mL(ctx) == pytest.approx(expected, rel=1e-9)
    assert 0.2 * 0.1636 * severity == pytest.approx(expected, rel=0.01)
    shares = ctx.extracellular_shares(regions=True)
    assert sum(shares.values()) == pytest.approx(1.0, rel=1e-12)


def test_the_open_share_grows_with_severity_and_is_capped_at_the_whole_brain():
    shares = [make_context(scenario(s)).extracellular_shares()["brain"] for s in (0.5, 1.0, 2.0)]
    assert shares[0] < shares[1] < shares[2]
    c = catalogue.detection_constants()
    ctx = make_context(scenario(10.0))  # 10 x 0.115 > 1: the whole brain behind an open barrier
    assert ctx.open_brain_fraction() == pytest.approx(c["brain_extracellular_fraction"], rel=1e-12)


def test_more_free_label_is_read_in_an_injured_brain():
    # 99mTc-HMPAO's free complex reaches the opened interstitium; 111In on transferrin stays in
    # plasma, so for it the injury changes only what the cells do (homing)
    from mscpk.analysis.detection import observe

    def brain(severity, label):
        obs = observe(scenario(severity, label=label), "spect").set_index(["time_h", "site"])["expected"]
        return obs[(1.0, "brain")]

    rise = {lab: brain(1.0, lab) / brain(0.0, lab) for lab in ("99mTc-HMPAO", "111In-oxine")}
    assert rise["99mTc-HMPAO"] > 1.0
    assert rise["99mTc-HMPAO"] > rise["111In-oxine"]


@pytest.mark.parametrize("key, value", [("injured_brain_open_fraction", -0.1), ("brain_extracellular_fraction", 1.5)])
def test_bad_values_are_refused(monkeypatch, key, value):
    c = dict(catalogue.detection_constants())
    c[key] = value
    import mscpk.analysis.detection.context as context
    monkeypatch.setattr(context, "detection_constants", lambda: c)
    ctx = make_context(scenario(1.0))
    with pytest.raises(DetectionError, match=f"{key} = {value:g} is not allowed"):
        ctx.extracellular_shares()
