"""The homing cascade (mscpk.engine.model.homing): product receptor levels and the signal at an
injured site. Expectations are derived from data/homing.toml and data/parameters/default.toml,
read directly, following the cascade of docs/model.md."""

from __future__ import annotations

import math

import pytest

from helpers import data_table, data_value, make
from mscpk.engine.model.context import BuildContext
from mscpk.engine.model.homing import homing_signal, product_levels
from mscpk.inputs.resolve import scenario_parameters, scenario_species

HOMING = data_table("homing.toml")
AXES = [(a["chemokine"], a["receptor"], a["weight"]) for a in HOMING["axis"]]
RECEPTORS = {r for _, r, _ in AXES} | {m["name"] for m in HOMING["molecule"]}
G_CHEM = data_value("Chemokine fold change per unit injury severity [-]")
F_SEL = data_value("E-selectin ligand share of rolling [-]")
F_VLA = data_value("VLA-4 share of firm adhesion [-]")
G_SEL = data_value("E-selectin induction per unit severity [-]")
G_VCAM = data_value("VCAM-1 induction per unit severity [-]")


def ctx_of(sc) -> BuildContext:
    return BuildContext(sc, scenario_species(sc), scenario_parameters(sc))


def signal(site="brain", **kw):
    ctx = ctx_of(make(**kw))
    return homing_signal(ctx, site, product_levels(ctx))


def expected(severity, folds=None, levels=None):
    """(activation, stimulus, arrest per pass, transmigration rate) of the cascade."""
    lv = {r: 1.0 for r in RECEPTORS} | (levels or {})
    a = sum(w * lv[r] * max(0.0, ((folds or {}).get(c, 1.0) if folds else 1 + severity * G_CHEM) - 1)
            for c, r, w in AXES)
    rolling = (1 - F_SEL + F_SEL * lv["ESL"]) * (1 + severity * G_SEL)
    adhesion = (1 - F_VLA + F_VLA * lv["VLA4"]) * (1 + severity * G_VCAM)
    s = a * rolling * adhesion
    e_max = data_value("Maximum homing arrest per pass [-]")
    s50 = data_value("Homing stimulus for half-maximal arrest [-]")
    a50 = data_value("Activation for half-maximal transmigration [-]")
    k_max = data_value("Maximum transmigration rate at injured site [1/h]")
    return a, s, e_max * s / (s + s50), k_max * lv["MMP"] * a / (a + a50)


# ---- receptor levels ------------------------------------------------------------------

def test_typical_product_at_reference_passage_has_unit_levels_of_every_molecule():
    levels = product_levels(ctx_of(make()))
    assert set(levels) == RECEPTORS
    assert all(v == 1.0 for v in levels.values())


def test_scenario_receptor_levels_are_used():
    levels = product_levels(ctx_of(make(receptors={"CXCR4": 3.0, "VLA4": 0.5})))
    assert levels["CXCR4"] == 3.0 and levels["VLA4"] == 0.5 and levels["CCR2"] == 1.0


@pytest.mark.parametrize("pre", sorted(HOMING["preconditioning"]))
def test_preconditioning_multiplies_levels_by_its_fold_changes(pre):
    effects = HOMING["preconditioning"][pre]["effects"]
    levels = product_levels(ctx_of(make(preconditioning=[pre])))
    for name in RECEPTORS:
        assert levels[name] == pytest.approx(effects.get(name, 1.0), rel=1e-12)


def test_two_preconditionings_compound():
    levels = product_levels(ctx_of(make(preconditioning=["hypoxia", "cxcr4_overexpression"])))
    pre = HOMING["preconditioning"]
    assert levels["CXCR4"] == pytest.approx(pre["hypoxia"]["effects"]["CXCR4"]
                                            * pre["cxcr4_overexpression"]["effects"]["CXCR4"])


def test_senescence_lowers_receptors_and_mmp_but_not_adhesion_molecules():
    passage = 9
    factor = math.exp(-data_value("Senescence receptor loss per passage [1/passage]")
                      * (passage - data_value("Reference passage [passage]")))
    levels = product_levels(ctx_of(make(passage=passage)))
    assert factor < 1
    for name in RECEPTORS - {"ESL", "VLA4"}:
        assert levels[name] == pytest.approx(factor, rel=1e-12)
    assert levels["ESL"] == 1.0 and levels["VLA4"] == 1.0
    young = product_levels(ctx_of(make(passage=1)))  # below the reference: no gain
    assert all(v == 1.0 for v in young.values())


# ---- homing signal --------------------------------------------------------------------

def test_no_signal_without_an_injury_or_at_another_site():
    zero = (0.0, 0.0, 0.0, 0.0)
    s = signal("brain")
    assert (s.activation, s.stimulus, s.arrest_per_pass, s.transmigration_rate) == zero
    s = signal("liver", injury=[{"site": "brain"}])
    assert (s.activation, s.stimulus, s.arrest_per_pass, s.transmigration_rate) == zero
    s = signal("brain", injury=[{"site": "brain", "severity": 0.0}])
    assert (s.activation, s.stimulus, s.arrest_per_pass, s.transmigration_rate) == zero


@pytest.mark.parametrize("severity", [0.25, 1.0, 3.0])
def test_signal_from_severity_follows_the_cascade(severity):
    s = signal(injury=[{"site": "brain", "severity": severity}])
    a, stim, e, k = expected(severity)
    assert s.activation == pytest.approx(a, rel=1e-12)
    assert s.stimulus == pytest.approx(stim, rel=1e-12)
    assert s.arrest_per_pass == pytest.approx(e, rel=1e-12)
    assert s.transmigration_rate == pytest.approx(k, rel=1e-12)


def test_typical_acute_injury_gives_the_capture_the_parameter_file_states():
    # "a typical acute injury (severity 1) gives ~1/4 of maximal capture" and
    # "~30 % of maximal MMP-driven transmigration"
    s = signal(injury=[{"site": "brain", "severity": 1.0}])
    assert 0.15 < s.arrest_per_pass / data_value("Maximum homing arrest per pass [-]") < 0.35
    assert 0.2 < s.transmigration_rate / data_value("Maximum transmigration rate at injured site [1/h]") < 0.4


def test_signal_rises_with_severity():
    sigs = [signal(injury=[{"site": "brain", "severity": s}]) for s in (0.1, 0.5, 1.0, 2.0, 5.0)]
    for field in ("activation", "stimulus", "arrest_per_pass", "transmigration_rate"):
        vals = [getattr(s, field) for s in sigs]
        assert all(b > a for a, b in zip(vals, vals[1:])), field
    assert sigs[-1].arrest_per_pass < data_value("Maximum homing arrest per pass [-]")


def test_chemokine_folds_override_severity_and_raise_the_signal():
    folds = [2.0, 5.0, 20.0]
    sigs = [signal(injury=[{"site": "brain", "severity": 1.0, "chemokines": {"CXCL12": f}}]) for f in folds]
    for f, s in zip(folds, sigs):
        a, stim, e, k = expected(1.0, folds={"CXCL12": f})
        assert s.activation == pytest.approx(a, rel=1e-12)
        assert s.activation == pytest.approx(f - 1.0)  # only the CXCL12/CXCR4 axis (weight 1) is raised
        assert s.arrest_per_pass == pytest.approx(e, rel=1e-12)
    assert sigs[0].arrest_per_pass < sigs[1].arrest_per_pass < sigs[2].arrest_per_pass


def test_a_chemokine_below_baseline_gives_no_activation():
    s = signal(injury=[{"site": "brain", "chemokines": {"CXCL12": 0.5}}])
    assert s.activation == 0.0 and s.arrest_per_pass == 0.0 and s.transmigration_rate == 0.0


def test_receptor_levels_scale_their_axis_and_adhesion():
    folds = {"CXCL12": 5.0, "CCL2": 3.0}
    levels = {"CXCR4": 2.0, "CCR2": 0.0, "VLA4": 0.0, "ESL": 3.0, "MMP": 2.0}
    s = signal(injury=[{"site": "brain", "chemokines": folds}], receptors=levels)
    a, stim, e, k = expected(1.0, folds=folds, levels=levels)
    assert a == pytest.approx(2.0 * 4.0)  # CCR2 absent: CCL2 adds nothing
    assert (s.activation, s.stimulus) == (pytest.approx(a, rel=1e-12), pytest.approx(stim, rel=1e-12))
    assert s.arrest_per_pass == pytest.approx(e, rel=1e-12)
    assert s.transmigration_rate == pytest.approx(k, rel=1e-12)


def test_cxcr4_knockdown_lowers_and_overexpression_raises_homing():
    inj = [{"site": "brain"}]
    plain = signal(injury=inj).arrest_per_pass
    assert signal(injury=inj, preconditioning=["cxcr4_knockdown"]).arrest_per_pass < plain
    assert signal(injury=inj, preconditioning=["cxcr4_overexpression"]).arrest_per_pass > plain
