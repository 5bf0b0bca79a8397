"""Death, immune clearance, priming and debris removal (mscpk.engine.model.fate). Expected
values come from data/parameters/default.toml, read directly."""

from __future__ import annotations

import math

import pytest

from helpers import data_value, make
from mscpk.engine.model.build import build_network
from mscpk.engine.model.context import BuildContext
from mscpk.engine.model.fate import cell_fate, debris, immune_hazard
from mscpk.inputs.resolve import scenario_parameters, scenario_species

LN2 = math.log(2.0)
K_XENO = data_value("Immune clearance rate of xenogeneic cells [1/h]")
ALPHA = data_value("Immune activity, immunodeficient host [-]")
PRIMED = data_value("Primed immune hazard factor [-]")


def ctx_of(sc, primed=False) -> BuildContext:
    return BuildContext(sc, scenario_species(sc), scenario_parameters(sc), primed=primed)


def rate(transitions, source, target):
    rates = [t.rate for t in transitions if t.source == source and t.target == target]
    assert len(rates) == 1, (source, target, rates)
    return rates[0]


# ---- immune hazard --------------------------------------------------------------------

@pytest.mark.parametrize("origin", ["autologous", "syngeneic", "allogeneic", "xenogeneic"])
@pytest.mark.parametrize("immune", ["immunocompetent", "immunodeficient"])
def test_immune_hazard_is_rate_times_immunogenicity_times_host_activity(origin, immune):
    host = 1.0 if immune == "immunocompetent" else ALPHA
    expected = K_XENO * data_value(f"Immunogenicity, {origin} [-]") * host
    assert immune_hazard(ctx_of(make(origin=origin, immune=immune))) == pytest.approx(expected, rel=1e-12)


def test_immune_hazard_ranks_self_below_allogeneic_below_xenogeneic():
    h = {o: immune_hazard(ctx_of(make(origin=o))) for o in ("autologous", "syngeneic", "allogeneic", "xenogeneic")}
    assert h["autologous"] == h["syngeneic"] < h["allogeneic"] < h["xenogeneic"] == pytest.approx(K_XENO)
    assert immune_hazard(ctx_of(make(immune="immunodeficient"))) < 0.05 * h["xenogeneic"]


def test_priming_multiplies_the_immune_hazard_by_the_primed_factor():
    sc = make(origin="allogeneic")
    assert PRIMED > 1
    assert immune_hazard(ctx_of(sc, primed=True)) == pytest.approx(PRIMED * immune_hazard(ctx_of(sc)), rel=1e-12)


def test_calibrated_immune_constants_reproduce_their_stated_targets():
    # parameter file: immunodeficient hazard k x alpha kept at 1.489e-4 /h; immunocompetent IP
    # persistence 480 h = integrated hazard ln(5000) with priming after the delay
    assert K_XENO * ALPHA == pytest.approx(1.489e-4, rel=1e-3)
    h_eng = LN2 / data_value("Engrafted cell death half-life [h]")
    d = data_value("Immune priming delay [h]")
    assert h_eng * 480 + K_XENO * (d + PRIMED * (480 - d)) == pytest.approx(math.log(5000), rel=1e-3)


# ---- priming in the built network -----------------------------------------------------

def test_immunocompetent_host_is_primed_after_the_delay_from_the_first_dose():
    delay = data_value("Immune priming delay [h]")
    net = build_network(make(origin="allogeneic", doses=[{"route": "iv", "cells": 1e6, "time_h": 10.0},
                                                          {"route": "iv", "cells": 1e6, "time_h": 300.0}]))
    assert net.schedule == ((10.0 + delay, math.inf, "primed"),)
    h_imm = K_XENO * data_value("Immunogenicity, allogeneic [-]")
    base = rate(net.modes["base"], "lung__engrafted", "lung__dead")
    primed = rate(net.modes["primed"], "lung__engrafted", "lung__dead")
    assert primed - base == pytest.approx((PRIMED - 1) * h_imm, rel=1e-9)


@pytest.mark.parametrize("kw", [{"immune": "immunodeficient"},
                                {"params": {"Primed immune hazard factor [-]": 1.0}}])
def test_no_priming_in_immunodeficient_hosts_or_with_factor_one(kw):
    net = build_network(make(origin="allogeneic", **kw))
    assert net.schedule == () and set(net.modes) == {"base"}


# ---- cell fate transitions ----------------------------------------------------------------

def test_death_hazards_are_base_hazard_plus_immune_hazard():
    ctx = ctx_of(make(origin="xenogeneic"))
    trs = cell_fate(ctx)
    h = K_XENO

    def k(name):
        return LN2 / data_value(name) + h

    assert rate(trs, "blood__venous", "blood__dead") == pytest.approx(k("Circulating cell death half-life [h]"))
    assert rate(trs, "blood__arterial", "blood__dead") == pytest.approx(k("Circulating cell death half-life [h]"))
    assert rate(trs, "liver__vascular", "blood__dead") == pytest.approx(k("Circulating cell death half-life [h]"))
    assert rate(trs, "lung__arrested", "lung__dead") == pytest.approx(k("Lung arrested cell death half-life [h]"))
    for o in ("liver", "kidney", "brain"):
        assert rate(trs, f"{o}__arrested", f"{o}__dead") == pytest.approx(k("Systemic arrested cell death half-life [h]"))
        assert rate(trs, f"{o}__engrafted", f"{o}__dead") == pytest.approx(k("Engrafted cell death half-life [h]"))
    # arrested cells die faster in the lung than elsewhere (C2 vs C3)
    assert rate(trs, "lung__arrested", "lung__dead") > rate(trs, "liver__arrested", "liver__dead")


def test_healthy_organs_extravasate_at_the_baseline_rate_and_injured_ones_faster():
    k_base = LN2 / data_value("Baseline extravasation half-life [h]")
    trs = cell_fate(ctx_of(make(injury=[{"site": "brain"}])))
    assert rate(trs, "kidney__arrested", "kidney__engrafted") == pytest.approx(k_base)
    assert rate(trs, "brain__arrested", "brain__engrafted") > k_base


def test_every_organ_gets_the_four_fate_transitions():
    ctx = ctx_of(make())
    trs = cell_fate(ctx)
    for o in ctx.organs:
        for src, dst in ((f"{o}__vascular", "blood__dead"), (f"{o}__arrested", f"{o}__dead"),
                         (f"{o}__arrested", f"{o}__engrafted"), (f"{o}__engrafted", f"{o}__dead")):
            rate(trs, src, dst)  # exactly one


# ---- dead material ---------------------------------------------------------------------

def test_debris_in_blood_is_taken_up_by_liver_and_spleen_in_the_stated_shares():
    trs = debris(ctx_of(make()), ["blood"])
    k = LN2 / data_value("Dead material uptake from blood half-life [h]")
    f = data_value("Liver share of dead-material uptake [-]")
    assert rate(trs, "blood__dead", "liver__dead") == pytest.approx(k * f)
    assert rate(trs, "blood__dead", "spleen__dead") == pytest.approx(k * (1 - f))
    assert len(trs) == 2


def test_phagocytic_organs_degrade_and_other_sites_degrade_or_export():
    trs = debris(ctx_of(make()), ["liver", "lung", "peritoneum"])
    k_res = LN2 / data_value("Dead material degradation half-life in liver and spleen [h]")
    k_loc = LN2 / data_value("Dead material local degradation half-life [h]")
    k_tr = LN2 / data_value("Dead material transfer to phagocytic organs half-life [h]")
    assert rate(trs, "liver__dead", "eliminated__degraded") == pytest.approx(k_res)
    assert not [t for t in trs if t.source == "liver__dead" and t.target != "eliminated__degraded"]
    for site in ("lung", "peritoneum"):
        assert rate(trs, f"{site}__dead", "eliminated__degraded") == pytest.approx(k_loc)
        assert rate(trs, f"{site}__dead", "blood__dead") == pytest.approx(k_tr)
