"""Label fate after release (issue 9): free hydrophilic label in the extracellular fluid,
radiometal kept by the phagocytes that ingest dead cells, published label retention.

Each test checks a pathway against the model's own ground truth (conservation, what the
label kinetics hold) or against the published number it comes from (labels.toml sources).
"""

from __future__ import annotations

import numpy as np
import pytest

from mscpk.analysis.detection import label_info, label_kinetics, label_per_cell, observe
from mscpk.analysis.detection.context import make_context
from mscpk.errors import DetectionError
from mscpk.inputs import catalogue
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.physiology.parse import load_species


def scenario(label, species="mouse", end=48.0, times=None):
    raw = {"name": "label-fate", "subject": {"species": species, "immune": "immunocompetent"},
           "product": {"origin": "syngeneic", "label": label}, "dose": [{"route": "iv", "cells": 5e5}],
           "run": {"end_h": end}}
    if times is not None:
        raw["run"]["times_h"] = list(times)
    return scenario_from_dict(raw)


# ------------------------------------------------------------------------------------------
# free hydrophilic label spreads through the extracellular fluid
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("species", ["mouse", "rat", "dog", "pig", "human"])
def test_extracellular_fluid_has_the_published_size(species):
    # extracellular fluid ~0.2 L/kg: sodium space of the reference mouse 0.232 mL/g (Durbin PW
    # et al. 1992 Health Phys 63:427); a fifth of body weight in man (inulin / bromide spaces
    # 0.16-0.27 L/kg)
    sc = scenario("99mTc-HMPAO", species=species, end=1.0, times=[0.0, 1.0])
    ctx = make_context(sc)
    for regions in (False, True):
        shares = ctx.extracellular_shares(regions)
        assert sum(shares.values()) == pytest.approx(1.0, rel=1e-12)
        assert min(shares.values()) >= 0.0
    shares = ctx.extracellular_shares()
    sp = load_species(species)
    plasma_L = 0.58 * sp.blood_volume_L  # Davies & Morris 1993: plasma / blood 0.58
    ecf_per_kg = plasma_L / shares["blood"] / sp.body_weight_kg
    assert 0.16 <= ecf_per_kg <= 0.27
    # the blood-brain barrier keeps a hydrophilic complex out of the brain's interstitium;
    # with regions the brain holds only the plasma of its own blood
    assert shares["brain"] == 0.0
    assert ctx.extracellular_shares(True)["brain"] == pytest.approx(
        ctx.region_blood_shares()["brain"] * shares["blood"], rel=1e-12)


def test_free_99mtc_in_extracellular_fluid_is_read_in_the_organs():
    sc = scenario("99mTc-HMPAO", end=4.0, times=[0.0, 1.0, 2.0, 4.0])
    obs = observe(sc, "spect").set_index(["time_h", "site"])["expected"]
    lk = label_kinetics(sc)
    ctx = make_context(sc)
    share = ctx.extracellular_shares(regions=True)
    i = int(np.flatnonzero(lk.times_h == 2.0)[0])
    given = 100.0 / float(lk.administered[i])
    free = lk.by_site(parts=("unbound",))["blood"][i]
    assert free * given > 1.0  # a few %ID are free at 2 h
    for organ in ("lung", "liver", "muscle", "skin", "brain"):
        region = lk.by_site(regions=True)[organ][i] + share[organ] * free
        assert obs[(2.0, organ)] == pytest.approx(region * given, rel=1e-9)
    # muscle and skin hold most of the interstitium: their regions see a larger share of the
    # free label than their blood would give them (a plasma-bound label), the brain a smaller
    blood_share = ctx.region_blood_shares()
    for organ in ("muscle", "skin"):
        assert share[organ] > blood_share[organ]
    assert share["brain"] < blood_share["brain"]
    # plasma keeps only its part of the pool; the whole-body region holds all of it
    tissue_free_blood = lk.by_site(regions=True, parts=("live", "dead", "host"))["blood"][i] + share["blood"] * free
    assert obs[(2.0, "blood")] == pytest.approx(tissue_free_blood * given, rel=1e-9)
    body = sum(v[i] for v in lk.by_site().values())
    assert obs[(2.0, "whole_body")] == pytest.approx(body * given, rel=1e-9)
    sites = [s for s in obs.loc[2.0].index if s != "whole_body"]
    assert sum(obs[(2.0, s)] for s in sites) == pytest.approx(obs[(2.0, "whole_body")], rel=1e-9)


def test_protein_bound_label_stays_in_plasma():
    # 111In binds transferrin: free label is read in an organ only through the organ's blood
    assert label_info("111In-oxine").unbound_space == "plasma"
    assert label_info("99mTc-HMPAO").unbound_space == "extracellular"
    sc = scenario("111In-oxine", end=24.0, times=[0.0, 24.0])
    obs = observe(sc, "spect").set_index(["time_h", "site"])["expected"]
    lk = label_kinetics(sc)
    share = make_context(sc).region_blood_shares()
    given = 100.0 / float(lk.administered[-1])
    free = lk.by_site(parts=("unbound",))["blood"][-1]
    assert obs[(24.0, "muscle")] == pytest.approx((lk.by_site(regions=True)["muscle"][-1]
                                                   + share["muscle"] * free) * given, rel=1e-9)


def test_unknown_unbound_space_is_refused(monkeypatch):
    raw = dict(catalogue._labels_raw())
    raw["99mTc-HMPAO"] = {**raw["99mTc-HMPAO"], "unbound_space": "lymph"}
    monkeypatch.setattr(catalogue, "_labels_raw", lambda: raw)
    catalogue.label_info.cache_clear()
    try:
        with pytest.raises(DetectionError, match=r"99mTc-HMPAO.*unbound_space 'lymph'.*plasma, extracellular"):
            catalogue.label_info("99mTc-HMPAO")
    finally:
        monkeypatch.undo()
        catalogue.label_info.cache_clear()


# ------------------------------------------------------------------------------------------
# 111In of dead cells: kept by the phagocytes that ingest them
# ------------------------------------------------------------------------------------------
def test_indium_of_dead_lung_cells_stays_in_lung_macrophages():
    # debris degraded in the lung leaves 111In in the lung's macrophages (Peters 1982:
    # phagocytes keep 111In, ~2 %/day lost); 51Cr of the same debris is freed to plasma
    times = [0.0, 24.0, 72.0, 168.0]
    held = {}
    for label in ("111In-oxine", "51Cr"):
        lk = label_kinetics(scenario(label, end=168.0, times=times))
        np.testing.assert_allclose(lk.total(), lk.administered, rtol=1e-9, atol=1e-6)
        held[label] = lk.by_site(parts=("host",))["lung"]
    assert held["51Cr"].max() == 0.0
    assert held["111In-oxine"][2] > 0.01 * 5e5  # > 1 % of the dose at 72 h
    # after the lung's cells and debris are gone, the lung's label is macrophage-held and
    # falls with the host half-life (plus nothing else)
    lk = label_kinetics(scenario("111In-oxine", end=2000.0, times=[0.0, 1500.0, 2000.0]))
    lung_host = lk.by_site(parts=("host",))["lung"]
    lung_all = lk.by_site()["lung"]
    assert lung_host[1] == pytest.approx(lung_all[1], rel=1e-3)
    k = np.log(lung_host[1] / lung_host[2]) / 500.0
    assert k == pytest.approx(np.log(0.98) / -24.0, rel=0.02)  # Peters 1982: 2 % per day


def test_published_retention_of_99mtc_hmpao_and_fdg():
    # 99mTc-HMPAO: 9 % released from mixed leucocytes in 1 h (Nucl Med Commun 1988;9:465)
    assert float(label_per_cell(1.0, "99mTc-HMPAO")) == pytest.approx(0.91, abs=0.005)
    # 18F-FDG: 26.6 % still cell-bound at 4 h (Zhang Y et al. 2012 Cell Transplant 21:1821)
    assert float(label_per_cell(4.0, "18F-FDG")) == pytest.approx(0.266, abs=0.01)
