"""Detection layer, issue 14: numbers a user would call wrong, options that do nothing, and
detection settings that must be physically possible.

Each test states the physical rule (a %ID limit cannot exceed the injected activity, a
whole-body region holds every site, ...) and checks it against the model's own ground truth.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mscpk.analysis.detection import (design_study, detection_windows, label_kinetics, observe,
                                      simulate_study)
from mscpk.analysis.detection.context import make_context
from mscpk.errors import DetectionError
from mscpk.inputs.detection import DetectionParameterError, apply_detection_overrides
from mscpk.inputs.load import scenario_from_dict


def scenario(label="luciferase", origin="syngeneic", cells=5e5, end=168.0, times=None, params=None):
    raw = {"name": "det-checks", "subject": {"species": "mouse", "immune": "immunocompetent"},
           "product": {"origin": origin, "label": label}, "dose": [{"route": "iv", "cells": cells}],
           "run": {"end_h": end}, "parameters": params or {}}
    if times is not None:
        raw["run"]["times_h"] = list(times)
    return scenario_from_dict(raw)


def with_parameters(sc, overrides):
    return sc.model_copy(update={"parameters": {**sc.parameters, **overrides}})


# ------------------------------------------------------------------------------------------
# numbers a user would call wrong
# ------------------------------------------------------------------------------------------
def test_pet_limit_stays_within_the_injected_activity():
    # 18F decays with a 1.83 h half-life: by 168 h (92 half-lives) no amount of the injected
    # activity can reach the detection limit, which must still read as a %ID (<= 100)
    sc = scenario(label="18F-FDG", times=[1, 24, 168])
    df = observe(sc, "pet")
    assert df["limit"].between(0, 100).all(), df["limit"].max()
    late = df[df.time_h > 1]
    assert not late["detectable"].any()
    assert (late["limit"] == 100).all() and (late["value"] < 100).all()
    assert any("all of the injected activity" in n for n in df.attrs["notes"])
    # not decay-corrected the limit does not grow; early the real limit is kept (below 100)
    assert df[df.time_h == 1]["limit"].lt(100).all()
    # the virtual study reports the same limit as LLOQ and reads back as study data
    from mscpk.inputs.studydata import study_from_frame
    data = simulate_study(sc, assay="pet", times_h=[1, 24], sites=["lung"], seed=1)
    assert data["LLOQ"].le(100).all() and (data[data.TIME == 24]["CENS"] == 1).all()
    assert len(study_from_frame(data).frame) == len(data)
    # weeks later the decayed activity is ~1e-300 cell equivalents: noisy readings stay finite
    # and quiet (was an overflow: inf per count, NaN values)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        late = observe(scenario(label="18F-FDG", end=2000.0, times=[1, 2000]), "pet", seed=1)
    assert np.isfinite(late["value"]).all() and (late[late.time_h == 2000]["value"] == 0).all()


def test_whole_body_window_holds_every_site_window():
    # the whole-body region of a BLI image holds the lung: it cannot be detectable for less long
    sc = scenario(label="luciferase", times=[0, 0.25, 1, 4, 8, 24, 48, 72, 168])
    win = detection_windows(sc, assays=["bli"]).set_index("site")
    sites = win.drop(index="whole_body").dropna(subset=["first_h"])
    assert len(sites) >= 1
    assert win.loc["whole_body", "first_h"] <= sites["first_h"].min()
    assert win.loc["whole_body", "last_h"] >= sites["last_h"].max()
    # observe: whenever a site is detectable the whole body is
    obs = observe(sc, "bli", seed=3)
    for _, g in obs.groupby("time_h"):
        body = g[g.site == "whole_body"]["detectable"].item()
        assert body or not g[g.site != "whole_body"]["detectable"].any()


def _shares(text: str) -> dict[str, float]:
    return {what: float(v) for v, what in re.findall(r"(\d+) % ([A-Za-z' -]+?)(?=,|\)|$)", text)}


def test_design_study_says_what_the_signal_is():
    sc = scenario(label="111In-oxine", end=168.0)
    plan = design_study(sc, assays=["spect"], items=["persistence"]).iloc[0]
    # the row names the site where live cells stay detectable longest and says what the
    # signal is when last seen: the live share agrees with the label kinetics
    assert plan.can_show and plan.sites == "lung" and "live cells in lung are detectable until" in plan.caveat
    t = float(re.search(r"\(at ([\d.]+) h:", plan.caveat).group(1))
    lk = label_kinetics(sc)
    i = int(np.argmin(np.abs(lk.times_h - t)))
    # the lung's image region: the lung's label (cells in its vessels included) and its share
    # of the free label in blood
    live = lk.by_site(decay_correct=False, parts=("live",), regions=True)["lung"][i]
    free = lk.by_site(decay_correct=False, parts=("unbound",))["blood"][i]
    share = make_context(sc).region_blood_shares()["lung"]
    total = lk.by_site(decay_correct=False, regions=True)["lung"][i] + share * free
    assert _shares(plan.caveat)["live cells"] == pytest.approx(100 * live / total, abs=0.5)
    # qPCR where the live cells never arrive: not homing, and it says so
    inj = scenario_from_dict({"name": "inj", "subject": {"species": "mouse", "immune": "immunodeficient",
                                                         "injury": [{"site": "liver", "severity": 3.0}]},
                              "product": {"origin": "xenogeneic", "label": "none"},
                              "dose": [{"route": "iv", "cells": 5e5}], "run": {"end_h": 168.0}})
    homing = design_study(inj, assays=["qpcr", "flow"], items=["homing"]).set_index("assay")
    assert not homing.loc["qpcr", "can_show"]
    assert "not live cells" in homing.loc["qpcr", "caveat"]
    assert _shares(homing.loc["qpcr", "caveat"])["DNA of dead cells"] >= 99


def test_detection_window_of_an_unlabelled_product_is_an_error():
    with pytest.raises(DetectionError, match="no assay can see a product labelled 'none'"):
        detection_windows(scenario(label="none", end=24.0))
    with pytest.raises(DetectionError, match="not among the assays evaluated"):  # not silently dropped
        detection_windows(scenario(end=24.0), assays=["bli"], detection_limits={"qpcr": 10})


# ------------------------------------------------------------------------------------------
# options that do nothing or cannot be used
# ------------------------------------------------------------------------------------------
def test_division_time_is_refused_where_it_changes_nothing():
    sc = scenario(label="luciferase", end=72.0, times=[1, 24, 72])
    with pytest.raises(DetectionError, match="changes nothing for bli"):
        observe(sc, "bli", division_time_h=24.0)
    with pytest.raises(DetectionError, match="changes none of the assays"):
        detection_windows(sc, division_time_h=24.0)
    with pytest.raises(DetectionError, match="changes none of the assays"):
        design_study(sc, assays=["bli", "qpcr"], consider_other_labels=False, division_time_h=24.0)
    with pytest.raises(DetectionError, match="changes nothing for qpcr"):
        simulate_study(sc, assay="qpcr", times_h=[1.0], division_time_h=24.0)
    # a dye: flow counts dye-positive cells (diluted), fluorescence sees all dye (not); said so
    dye = scenario(label="DiR", end=168.0, times=[1, 24, 168])
    w = detection_windows(dye, division_time_h=12.0)
    assert any("applies to flow, ihc" in n for n in w.attrs["notes"])
    w0 = detection_windows(dye).set_index(["assay", "site"])
    w1 = w.set_index(["assay", "site"])
    assert w1.loc[("flow", "lung"), "last_h"] < w0.loc[("flow", "lung"), "last_h"]
    np.testing.assert_array_equal(w1.loc["fluorescence", "last_h"], w0.loc["fluorescence", "last_h"])


def test_virtual_study_samples_the_whole_body_observe_reports():
    sc = scenario(label="111In-oxine", end=72.0)
    sites = ["lung", "liver", "spleen", "bone_marrow", "rest", "blood", "heart", "brain", "gut", "kidney",
             "muscle", "skin", "adipose"]
    data = simulate_study(sc, assay="spect", times_h=[24.0], animals_per_time=200, sites=sites + ["whole_body"],
                          seed=2, between_animal_cv=0.1)
    truth = observe(sc, "spect", times_h=[24.0]).set_index("site")["expected"]
    body = data[data.SITE == "whole_body"]
    assert (body.CENS == 0).all()
    se = body.DV.std(ddof=1) / math.sqrt(len(body))
    assert abs(body.DV.mean() - truth["whole_body"]) < 4 * se
    # each animal's whole body holds its quantified sites
    per_animal = data[(data.SITE != "whole_body")].groupby("ID")["DV"].sum()
    assert (body.set_index("ID")["DV"] >= per_animal.loc[body.ID].to_numpy() * (1 - 1e-12)).all()
    with pytest.raises(DetectionError, match="whole_body"):  # ex vivo assays have no whole-body region
        simulate_study(scenario(origin="xenogeneic", label="none", end=24.0), assay="qpcr", times_h=[1.0],
                       sites=["whole_body"])


# ------------------------------------------------------------------------------------------
# detection settings must be finite and physically possible
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, bad, words", [
    ("IHC sections per organ [-]", 0.5, "whole number >= 1"),
    ("Flow cytometry events acquired [cells]", 2.5, "whole number >= 1"),
    ("PET sensitivity [counts/decay]", 1.5, "(0, 1]"),
    ("qPCR measurement CV [-]", -0.1, ">= 0"),
    ("qPCR detection limit [cells]", math.inf, "finite"),
    ("Luciferase labelled fraction [-]", True, "not a number"),
])
def test_detection_overrides_must_be_physically_possible(name, bad, words):
    with pytest.raises(DetectionParameterError) as exc:
        apply_detection_overrides({name: bad})
    assert name in str(exc.value) and words in str(exc.value)


def test_label_options_follow_the_same_rules():
    sc = scenario(label="reporter_PET", end=24.0, times=[1, 24])
    with pytest.raises(DetectionError, match=r"probe_uptake_per_cell: value 5.0 must be in \(0, 1\]"):
        observe(sc, "pet", label_options={"probe_uptake_per_cell": 5.0})
    with pytest.raises(DetectionError, match="label option 'kind' is unknown"):
        observe(sc, "pet", label_options={"kind": "dye"})
    # within (0, 1] per cell, but 5e5 cells would trap more than all of the probe
    with pytest.raises(DetectionParameterError, match="Reporter PET probe uptake per cell"):
        observe(with_parameters(sc, {"Reporter PET probe uptake per cell [-]": 1e-5}), "pet")


@pytest.mark.parametrize("assay, label, name, v", [
    ("flow", "DiR", "DiR per-cell label CV [-]", 1e300),
    ("bli", "luciferase", "BLI measurement CV [-]", 1e300),
    ("fluorescence", "GFP", "GFP photons per cell [photons/s]", 1e-300),
])
def test_extreme_but_allowed_settings_give_finite_readouts(assay, label, name, v):
    df = observe(with_parameters(scenario(label=label, end=24.0, times=[1, 24]), {name: v}), assay, seed=1)
    for col in ("value", "expected", "limit", "detection_limit_cells"):
        assert np.isfinite(df[col]).all() and (df[col] >= 0).all(), col


def test_reference_depth_must_lie_in_the_body():
    sc = with_parameters(scenario(label="luciferase", end=24.0, times=[1]), {"BLI reference depth [mm]": 1e30})
    with pytest.raises(DetectionParameterError, match=r"'BLI reference depth \[mm\]': value 1e\+30 mm is deeper"):
        observe(sc, "bli")


@pytest.mark.parametrize("call, words", [
    (lambda: design_study(scenario(end=24.0), assays=["qpcr"], between_animal_cv=math.inf), "between_animal_cv"),
    (lambda: design_study(scenario(end=24.0), assays=["qpcr"], precision=1e-200), "more animals than can be counted"),
    (lambda: simulate_study(scenario(end=24.0), assay="qpcr", times_h=[1], animals_per_time=True), "whole number"),
    (lambda: simulate_study(scenario(end=24.0), assay="qpcr", times_h=[1], between_animal_cv=math.nan), "finite"),
])
def test_study_design_numbers_must_be_finite(call, words):
    # were a crash (OverflowError from an infinite group size), one True animal, or NaN data
    with pytest.raises(DetectionError, match=words):
        call()


def test_spect_region_holds_the_label_in_the_organ_blood():
    # an organ's image region holds the organ's tissue label, the cells in its vessels and its
    # share of the free label in blood (residual blood x organ volume / blood volume); the
    # whole-body region still holds all the label in the body. A label bound to plasma proteins
    # (111In on transferrin); a hydrophilic one spreads further (test_detection_label_fate.py)
    sc = scenario(label="111In-oxine", end=4.0, times=[0.0, 1.0, 2.0, 4.0])
    obs = observe(sc, "spect").set_index(["time_h", "site"])["expected"]
    lk = label_kinetics(sc)
    share = make_context(sc).region_blood_shares()
    i = int(np.flatnonzero(lk.times_h == 2.0)[0])
    given = 100.0 / float(lk.administered[i])
    free = lk.by_site(parts=("unbound",))["blood"][i]
    assert free * given > 1.0  # a few % ID circulate free at 2 h
    for organ in ("lung", "liver", "brain"):
        region = lk.by_site(regions=True)[organ][i] + share[organ] * free
        assert obs[(2.0, organ)] == pytest.approx(region * given, rel=1e-9)
    assert obs[(2.0, "brain")] > lk.by_site()["brain"][i] * given  # blood adds to the brain region
    body = sum(v[i] for v in lk.by_site().values())
    assert obs[(2.0, "whole_body")] == pytest.approx(body * given, rel=1e-9)
    assert 0.0 < sum(share.values()) < 1.0
