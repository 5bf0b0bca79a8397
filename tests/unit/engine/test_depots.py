"""Routes and depots (mscpk.engine.model.depots): where a dose goes, which depot states and
transitions exist, the IBMIR kill fraction. Expected values come from data/parameters/default.toml,
data/routes.toml and the species files, read directly."""

from __future__ import annotations

import math

import pytest

from helpers import data_table, data_value, make
from mscpk.engine.model.build import build_network
from mscpk.engine.model.context import BuildContext
from mscpk.engine.model.depots import dose_inputs, ibmir_kill_fraction
from mscpk.engine.network import split_state
from mscpk.inputs.resolve import scenario_parameters, scenario_species

LN2 = math.log(2.0)
#: Live states then dead material of each depot (docs/model.md, module docstring of depots.py).
DEPOT_STATES = {"peritoneum": {"free", "aggregated", "attached", "lymph", "dead"},
                "joint": {"free", "attached", "lymph", "dead"}, "csf": {"free", "attached", "lymph", "dead"},
                "airway": {"free", "dead"}, "injection_site": {"free", "lymph", "dead"}}
ROUTES = data_table("routes.toml")["route"]


def ctx_of(sc) -> BuildContext:
    return BuildContext(sc, scenario_species(sc), scenario_parameters(sc))


def ibmir_expected(passage: int, source: str) -> float:
    """The kill fraction from the parameter file: base x source factor x (1 + per x extra)."""
    base = data_value("IBMIR kill fraction at reference passage [-]")
    per = data_value("IBMIR increase per passage [1/passage]")
    ref = data_value("Reference passage [passage]")
    factor = data_value(f"IBMIR factor, {source} source [-]")
    return min(base * factor * (1.0 + per * max(0.0, passage - ref)), 1.0)


def only_input(sc):
    (inp,) = dose_inputs(ctx_of(sc))
    return inp


# ---- dose_inputs --------------------------------------------------------------------------

def test_iv_live_fraction_is_viability_minus_the_ibmir_kill():
    inp = only_input(make(route="iv", cells=2e6, viability=0.8, passage=6))
    kill = ibmir_expected(6, "bone_marrow")
    assert kill == pytest.approx(0.05 * 1.3)  # 2 passages above the reference, +15 % each
    lodge = data_value("Lodging share of dead cells given into blood [-]")
    assert inp.targets["blood__venous"] == pytest.approx(0.8 * (1 - kill), rel=1e-12)
    # dead cells: the lodging share in the lung (the first bed), the rest debris in blood
    assert inp.targets["lung__dead"] == pytest.approx(lodge * (0.2 + 0.8 * kill), rel=1e-12)
    assert inp.targets.get("blood__dead", 0.0) == pytest.approx((1 - lodge) * (0.2 + 0.8 * kill), abs=1e-15)
    assert inp.cells == 2e6 and inp.time_h == 0.0 and inp.duration_h == 0.0


def test_ia_enters_the_vessels_of_its_organ():
    inp = only_input(make(route="ia", site="brain", viability=0.9))
    kill = ibmir_expected(4, "bone_marrow")
    assert {"brain__vascular", "brain__dead"} <= set(inp.targets) <= {"brain__vascular", "brain__dead", "blood__dead"}
    assert inp.targets["brain__vascular"] == pytest.approx(0.9 * (1 - kill), rel=1e-12)


def test_intracoronary_defaults_to_the_heart():
    inp = only_input(make(route="intracoronary"))
    assert ROUTES["intracoronary"]["default_site"] == "heart"
    assert "heart__vascular" in inp.targets


@pytest.mark.parametrize("route, site, own", [("local", "liver", "local"), ("intramyocardial", None, "intramyocardial"),
                                              ("local", "heart", "intramyocardial")])
def test_local_injections_leak_back_and_spill_the_parameter_fractions(route, site, own):
    """Leak-back enters venous blood, spill leaves the tissue (eliminated); a local injection
    into the heart uses the beating heart's fractions (routes.toml by_site)."""
    leak = data_value(ROUTES[own]["leak_back"])
    spill = data_value(ROUTES[own]["spill"])
    assert 0 < leak < 1 and 0 < spill < 1 - leak
    viab = 0.9
    inp = only_input(make(route=route, site=site, viability=viab, source="adipose"))
    kill = ibmir_expected(4, "adipose")
    assert kill == pytest.approx(0.05 * 2.0)
    t = inp.targets
    organ = site or ROUTES[route]["default_site"]  # the depot lies inside the injected organ
    assert set(t) == {f"{organ}__depot", f"{organ}__dead", "blood__venous", "lung__dead",
                      "eliminated__degraded"}  # default lodging 1
    assert t[f"{organ}__depot"] == pytest.approx(viab * (1 - leak - spill), rel=1e-12)
    assert t["eliminated__degraded"] == pytest.approx(viab * spill, rel=1e-12)
    assert t["blood__venous"] == pytest.approx(viab * leak * (1 - kill), rel=1e-12)
    assert t["lung__dead"] == pytest.approx(viab * leak * kill, rel=1e-12)  # IBMIR on the leak only, lodged
    assert t[f"{organ}__dead"] == pytest.approx(1 - viab, rel=1e-12)
    assert sum(t.values()) == pytest.approx(1.0, rel=1e-12)


def test_a_scaffold_does_not_leak_back():
    assert data_value(ROUTES["scaffold"]["leak_back"]) == 0.0
    inp = only_input(make(route="scaffold", site="muscle", viability=0.9))
    assert set(inp.targets) == {"injection_site__free", "injection_site__dead"}
    assert inp.targets["injection_site__free"] == pytest.approx(0.9)


@pytest.mark.parametrize("route", ["ip", "intra_articular", "intrathecal", "intratracheal"])
def test_depot_routes_put_live_and_dead_cells_into_their_depot(route):
    depot = ROUTES[route]["depot"]
    inp = only_input(make(route=route, viability=0.7))
    assert inp.targets == pytest.approx({f"{depot}__free": 0.7, f"{depot}__dead": 0.3}, rel=1e-12)


def test_fully_viable_cells_give_no_dead_target():
    inp = only_input(make(route="ip", viability=1.0))
    assert inp.targets == {"peritoneum__free": 1.0}


def test_cells_per_kg_use_the_species_body_weight_and_infusions_last_their_minutes():
    bw = data_table("species/rat.toml")["body"]["body_weight"]
    assert bw["unit"] == "kg"
    sc = make(species="rat", doses=[{"route": "iv", "cells_per_kg": 4e6, "infusion_min": 30.0, "time_h": 2.0}])
    inp = only_input(sc)
    assert inp.cells == pytest.approx(4e6 * bw["value"], rel=1e-12)
    assert inp.duration_h == pytest.approx(0.5) and inp.time_h == 2.0


# ---- IBMIR ---------------------------------------------------------------------------------

def test_ibmir_kill_fraction_is_flat_up_to_the_reference_passage_then_rises():
    ref = int(data_value("Reference passage [passage]"))
    kills = [ibmir_kill_fraction(ctx_of(make(passage=p))) for p in range(0, ref + 6)]
    assert kills[: ref + 1] == [pytest.approx(data_value("IBMIR kill fraction at reference passage [-]"))] * (ref + 1)
    assert all(b > a for a, b in zip(kills[ref:], kills[ref + 1:]))
    for p in (ref + 3, ref + 5):
        assert kills[p] == pytest.approx(ibmir_expected(p, "bone_marrow"), rel=1e-12)


@pytest.mark.parametrize("source", ["bone_marrow", "adipose", "umbilical_cord", "cord_blood", "placenta"])
def test_ibmir_kill_fraction_scales_with_the_tissue_factor_of_the_source(source):
    kill = ibmir_kill_fraction(ctx_of(make(source=source, passage=6)))
    assert kill == pytest.approx(ibmir_expected(6, source), rel=1e-12)


def test_ibmir_ranking_of_sources_follows_the_parameter_file():
    # bone marrow lowest, placenta highest tissue factor (Moll 2019, as the parameter file says)
    kill = {s: ibmir_kill_fraction(ctx_of(make(source=s))) for s in
            ("bone_marrow", "cord_blood", "adipose", "umbilical_cord", "placenta")}
    assert kill["bone_marrow"] < kill["cord_blood"] < kill["adipose"] == kill["umbilical_cord"] < kill["placenta"]


def test_ibmir_kill_fraction_is_capped_at_one():
    assert ibmir_expected(50, "placenta") == 1.0  # uncapped it would exceed 1
    assert ibmir_kill_fraction(ctx_of(make(source="placenta", passage=50))) == 1.0


# ---- depot states and transitions ----------------------------------------------------------

def _sites_of(names):
    return {split_state(n)[0] for n in names}


@pytest.mark.parametrize("route", [r for r in ROUTES if ROUTES[r]["kind"] == "depot"])
def test_each_depot_route_adds_exactly_its_depot_states(route):
    depot = ROUTES[route]["depot"]
    site = "liver" if ROUTES[route].get("needs_site") else None
    net = build_network(make(route=route, site=site))
    if depot == "organ":  # a depot inside the injected organ: one state beside the organ's own
        organ = site or ROUTES[route]["default_site"]
        assert f"{organ}__depot" in net.names
        assert [n for n in net.names if n.endswith("__depot")] == [f"{organ}__depot"]
        assert not _sites_of(net.names) & set(DEPOT_STATES)
        return
    kinds = {split_state(n)[1] for n in net.names if split_state(n)[0] == depot}
    assert kinds == DEPOT_STATES[depot]
    assert _sites_of(net.names) & set(DEPOT_STATES) == {depot}  # no other depot


def test_vascular_routes_add_no_depot():
    for route, site in (("iv", None), ("ia", "kidney"), ("intracoronary", None)):
        net = build_network(make(route=route, site=site))
        assert not _sites_of(net.names) & set(DEPOT_STATES)


def _touching(net, sites):
    return [t for t in net.modes["base"]
            if split_state(t.source)[0] in sites or split_state(t.target)[0] in sites]


def test_depot_transitions_exist_only_for_used_depots():
    iv = build_network(make(route="iv"))
    assert _touching(iv, set(DEPOT_STATES)) == []
    ip = build_network(make(route="ip"))
    assert _touching(ip, set(DEPOT_STATES) - {"peritoneum"}) == []
    assert _touching(ip, {"peritoneum"})


def _rate(net, source, target, mode="base"):
    rates = [t.rate for t in net.modes[mode] if t.source == source and t.target == target]
    assert len(rates) == 1, (source, target, rates)
    return rates[0]


def test_peritoneal_rates_come_from_their_half_lives():
    net = build_network(make(route="ip"))
    assert _rate(net, "peritoneum__free", "peritoneum__aggregated") == pytest.approx(
        LN2 / data_value("Peritoneal aggregation half-life [h]"))
    assert _rate(net, "peritoneum__aggregated", "peritoneum__attached") == pytest.approx(
        LN2 / data_value("Peritoneal attachment half-life [h]"))
    assert _rate(net, "peritoneum__free", "peritoneum__lymph") == pytest.approx(
        LN2 / data_value("Peritoneal lymphatic drainage half-life [h]"))
    assert _rate(net, "peritoneum__lymph", "blood__venous") == pytest.approx(
        LN2 / data_value("Depot lymphatic transit half-life [h]"))


@pytest.mark.parametrize("route, site, source", [
    ("ip", None, "peritoneum__free"), ("intra_articular", None, "joint__free"), ("intrathecal", None, "csf__free"),
    ("local", "muscle", "muscle__depot"), ("scaffold", "skin", "injection_site__free")])
def test_cells_leave_a_depot_only_through_its_lymphatics(route, site, source):
    """No depot feeds venous blood directly (leak-back at injection aside): drained cells pass
    the depot's lymph state, which reaches blood at the lymphatic transit rate or dies."""
    net = build_network(make(route=route, site=site))
    lymph = f"{split_state(source)[0]}__lymph"
    assert not [t for t in net.modes["base"] if t.source == source and t.target == "blood__venous"]
    assert _rate(net, source, lymph) > 0
    out = {t.target: t.rate for t in net.modes["base"] if t.source == lymph}
    assert out["blood__venous"] == pytest.approx(LN2 / data_value("Depot lymphatic transit half-life [h]"))
    assert set(out) == {"blood__venous", f"{split_state(source)[0]}__dead"}


def test_injured_peritoneal_organ_recruits_cells_only_when_injured():
    healthy = build_network(make(route="ip"))
    assert not [t for t in healthy.modes["base"] if t.target == "gut__engrafted"
                and t.source.startswith("peritoneum")]
    colitis = build_network(make(route="ip", injury=[{"site": "gut"}]))
    k = _rate(colitis, "peritoneum__aggregated", "gut__engrafted")
    assert 0 < k < data_value("Maximum depot-to-injured-organ transfer rate [1/h]")
    assert _rate(colitis, "peritoneum__attached", "gut__engrafted") == k
    assert not [t for t in colitis.modes["base"] if t.target == "liver__engrafted"
                and t.source.startswith("peritoneum")]  # liver is not injured


def test_inflamed_joint_attaches_faster_by_its_severity():
    k0 = LN2 / data_value("Joint attachment half-life [h]")
    gain = data_value("Joint attachment increase per unit inflammation [-]")
    healthy = build_network(make(route="intra_articular"))
    inflamed = build_network(make(route="intra_articular", injury=[{"site": "joint", "severity": 2.0}]))
    assert _rate(healthy, "joint__free", "joint__attached") == pytest.approx(k0)
    assert _rate(inflamed, "joint__free", "joint__attached") == pytest.approx(k0 * (1 + 2.0 * gain))


def test_injection_site_engrafts_into_the_injected_organ():
    net = build_network(make(route="local", site="kidney"))
    assert _rate(net, "kidney__depot", "kidney__engrafted") == pytest.approx(
        LN2 / data_value("Injection site engraftment half-life [h]"))
    assert not [t for t in net.modes["base"] if t.source == "kidney__depot"
                and t.target.endswith("__engrafted") and t.target != "kidney__engrafted"]
    # a scaffold is a depot outside every organ: its own site
    scaffold = build_network(make(route="scaffold", site="kidney"))
    assert _rate(scaffold, "injection_site__free", "kidney__engrafted") == pytest.approx(
        LN2 / data_value("Injection site engraftment half-life [h]"))


def test_airway_cells_engraft_in_lung_or_are_cleared():
    net = build_network(make(route="intratracheal"))
    assert _rate(net, "airway__free", "lung__engrafted") == pytest.approx(
        LN2 / data_value("Airway engraftment half-life [h]"))
    assert _rate(net, "airway__free", "eliminated__degraded") == pytest.approx(
        LN2 / data_value("Airway mucociliary clearance half-life [h]"))
