"""Simulation results (mscpk.engine.result): the INTERFACE result table, xarray and dict views,
mass balance, immutability, occlusion fraction and depot sites."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import mscpk
from helpers import data_table, data_value, make
from mscpk.engine.result import ALL_QUANTITIES, Result

TIMES = [0.0, 0.05, 1.0, 24.0, 72.0]
ORGANS = tuple(data_table("species/mouse.toml")["organs"])


@pytest.fixture(scope="module")
def iv():
    return mscpk.simulate(make(route="iv", cells=2e6, times=TIMES, end=72.0))


@pytest.fixture(scope="module")
def myo():
    return mscpk.simulate(make(species="rat",
                               doses=[{"route": "intramyocardial", "cells": 1e6},
                                      {"route": "ip", "cells": 5e5, "time_h": 1.0}],
                               times=TIMES, end=72.0))


def test_sites_are_organs_then_depots_then_blood_and_eliminated(iv, myo):
    assert iv.sites == ORGANS + ("blood", "eliminated")
    rat_organs = tuple(data_table("species/rat.toml")["organs"])
    assert myo.sites == rat_organs + ("peritoneum", "blood", "eliminated")  # the myocardial depot is the heart's


def test_to_frame_columns_and_one_row_per_time_site_quantity(iv):
    df = iv.to_frame()
    assert list(df.columns[:4]) == ["time_h", "site", "quantity", "value"]
    assert not df.duplicated(["time_h", "site", "quantity"]).any()
    per_time = df.groupby("time_h").size()
    assert list(per_time.index) == TIMES and per_time.nunique() == 1
    assert set(df["site"]) == set(iv.sites)
    for site in iv.sites:
        assert {"live_cells", "dead_cells"} <= set(df.loc[df.site == site, "quantity"])
    for organ in ORGANS:
        assert set(df.loc[df.site == organ, "quantity"]) == set(ALL_QUANTITIES) - {"depot_cells"}  # no depot
    assert "occlusion_fraction" not in set(df.loc[df.site == "blood", "quantity"])


def test_mass_balance_over_sites_equals_the_dose(iv, myo):
    for res, dose_at in ((iv, lambda t: 2e6), (myo, lambda t: 1e6 + (5e5 if t >= 1.0 else 0.0))):
        df = res.to_frame()
        cells = df[df.quantity.isin(["live_cells", "dead_cells"])].groupby("time_h")["value"].sum()
        expected = np.array([dose_at(t) for t in cells.index])
        np.testing.assert_allclose(cells.to_numpy(), expected, rtol=1e-9)
        np.testing.assert_allclose(res.administered, [dose_at(t) for t in res.times_h], rtol=1e-12)
        assert res.mass_balance_error() < 1e-9


def test_live_cells_decline_after_an_iv_bolus(iv):
    live = iv.live_total()
    assert live[0] == pytest.approx(2e6 * 0.95 * (1 - data_value("IBMIR kill fraction at reference passage [-]")))
    assert all(b < a for a, b in zip(live[1:], live[2:]))


def test_blood_counts_every_circulating_cell(iv):
    circulating = sum(iv.state(n) for n in iv.state_names
                      if n.split("__")[1] in ("venous", "arterial", "vascular"))
    np.testing.assert_allclose(iv.quantity("blood", "live_cells"), circulating, rtol=1e-12)
    # an organ's live cells exclude those in transit through its vessels
    np.testing.assert_allclose(iv.quantity("lung", "live_cells"),
                               iv.state("lung__arrested") + iv.state("lung__engrafted"), rtol=1e-12)


def test_occlusion_fraction_is_arrested_over_the_bed_capacity(iv):
    lung_g = data_table("species/mouse.toml")["organs"]["lung"]["volume"]["value"] \
        * data_value("Tissue density [g/mL]")
    d_ref = data_value("Reference cell diameter for embolic capacity [um]")
    cap = data_value("Lung embolic capacity [cells/g]") * lung_g * (d_ref / 18.0) ** 3
    assert iv.capacities["lung"] == pytest.approx(cap, rel=1e-12)
    occ = iv.quantity("lung", "occlusion_fraction")
    np.testing.assert_allclose(occ, iv.quantity("lung", "arrested_cells") / cap, rtol=1e-12)
    assert 0 < occ.max() < 1
    df = iv.to_frame()
    table = df[(df.site == "lung") & (df.quantity == "occlusion_fraction")]["value"].to_numpy()
    np.testing.assert_allclose(table, occ, rtol=1e-12)
    with pytest.raises(KeyError):
        iv.quantity("blood", "occlusion_fraction")


def test_depot_sites_are_in_the_table(myo):
    df = myo.to_frame()
    live = df[(df.site == "peritoneum") & (df.quantity == "live_cells")].set_index("time_h")["value"]
    assert live[24.0] > 0
    assert "occlusion_fraction" not in set(df.loc[df.site == "peritoneum", "quantity"])
    assert myo.quantity("peritoneum", "live_cells")[0] == 0.0  # the ip dose comes at 1 h


def test_a_depot_inside_an_organ_counts_in_the_organ_and_as_its_depot_cells(myo):
    """INTERFACE.md: an intramyocardial depot is part of the heart's site; the heart also
    reports the depot's cells as depot_cells; injection_site is not a site here."""
    depot = myo.state("heart__depot")
    np.testing.assert_allclose(myo.quantity("heart", "depot_cells"), depot)
    own = myo.state("heart__arrested") + myo.state("heart__engrafted")
    lymph = myo.state("heart__lymph")  # cells draining from the depot through the heart's lymphatics
    np.testing.assert_allclose(myo.quantity("heart", "live_cells"), own + depot + lymph)
    lost = data_value("Intramyocardial leak-back fraction [-]") + data_value("Intramyocardial spill fraction [-]")
    assert depot[0] == pytest.approx(0.95 * (1 - lost) * 1e6, rel=1e-12)  # default viability 0.95
    assert "injection_site" not in myo.sites
    df = myo.to_frame()
    assert "depot_cells" in set(df.loc[df.site == "heart", "quantity"])
    assert "depot_cells" not in set(df.loc[df.site == "lung", "quantity"])


def test_to_xarray_dims_and_values(iv):
    da = iv.to_xarray()
    assert da.dims == ("time_h", "site", "quantity")
    assert list(da.coords["site"].values) == list(iv.sites)
    assert list(da.coords["quantity"].values) == ["live_cells", "dead_cells"]
    np.testing.assert_allclose(da.sel(site="liver", quantity="dead_cells").values, iv.quantity("liver", "dead_cells"))
    full = iv.to_xarray("all")
    assert list(full.coords["quantity"].values) == list(ALL_QUANTITIES)
    assert np.isnan(full.sel(site="blood", quantity="occlusion_fraction").values).all()
    np.testing.assert_allclose(full.sel(site="lung", quantity="occlusion_fraction").values,
                               iv.quantity("lung", "occlusion_fraction"))
    with pytest.raises(KeyError, match="unknown quantity"):
        iv.to_xarray(["live_cell"])


def test_to_dict_is_json_and_from_dict_restores_the_result(iv):
    d = json.loads(json.dumps(iv.to_dict()))
    back = Result.from_dict(d)
    for f in ("scenario_name", "state_names", "solver", "species"):
        assert getattr(back, f) == getattr(iv, f)
    for f in ("times_h", "states", "administered"):
        np.testing.assert_array_equal(getattr(back, f), getattr(iv, f))
    assert dict(back.capacities) == dict(iv.capacities) and dict(back.metadata) == dict(iv.metadata)
    assert back.to_frame().equals(iv.to_frame())


def test_results_compare_equal_after_a_round_trip(iv):
    assert Result.from_dict(iv.to_dict()) == iv


def test_results_are_immutable(iv):
    for arr in (iv.times_h, iv.states, iv.administered):
        with pytest.raises(ValueError):
            arr[0] = 1.0
    with pytest.raises(TypeError):
        iv.capacities["lung"] = 1.0
    with pytest.raises(TypeError):
        iv.metadata["peak_occlusion"] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        iv.solver = "bdf"


def test_unknown_site_or_quantity_raises(iv):
    with pytest.raises(KeyError):
        iv.quantity("peritoneum")  # no ip dose: no such depot
    with pytest.raises(KeyError):
        iv.quantity("lung", "depot_cells_typo")
