"""Detection layer, second pass: named detection parameters (scenario overrides), optical
background, detection intervals with gaps, and BLI / fluorescence virtual studies.

Each test compares against an exact relation of the observation model (signal proportional
to photons per cell; limit = max(Table 2 limit, k x background)) or against the engine's
ground truth, so each can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import mscpk
from mscpk.analysis.detection import (design_study, detection_windows, label_kinetics, observe,
                             simulate_study)
from mscpk.analysis.detection import format_intervals, intervals
from mscpk.inputs.detection import DetectionParameterError, apply_detection_overrides, detection_parameter_names, detection_parameter_rows, is_detection_parameter
from mscpk.inputs.resolve import cell_scenario
from mscpk.errors import DataError, DetectionError, ParameterError, ScenarioError
from mscpk.inputs.load import scenario_from_dict


def raw_scenario(label="luciferase", cells=5e5, end=168.0, times=None, doses=None, params=None):
    raw = {"name": "det-params", "subject": {"species": "mouse", "immune": "immunocompetent"},
           "product": {"origin": "syngeneic", "label": label},
           "dose": doses or [{"route": "iv", "cells": cells}], "run": {"end_h": end},
           "parameters": params or {}}
    if times is not None:
        raw["run"]["times_h"] = list(times)
    return raw


def scenario(**kw):
    return scenario_from_dict(raw_scenario(**kw))


def with_detection_parameters(sc, overrides):
    """The scenario with detection names in [parameters] (bypassing the validator, which
    accepts them only once the lead's change to validation.py is in)."""
    return sc.model_copy(update={"parameters": {**sc.parameters, **overrides}})


def value(df, site, t, col="value"):
    row = df[(df["site"] == site) & np.isclose(df["time_h"], t)]
    assert len(row) == 1, (site, t)
    return float(row[col].iloc[0])


def win(df, assay, site):
    r = df[(df.assay == assay) & (df.site == site)].iloc[0]
    return float(r.first_h), float(r.last_h)


# ------------------------------------------------------------------------------------------
# 1. named detection parameters
# ------------------------------------------------------------------------------------------
def test_detection_parameter_rows_name_value_unit_source():
    rows = detection_parameter_rows()
    by = {r[0]: r for r in rows}
    assert len(by) == len(rows) == len(detection_parameter_names())
    assert by["111In-oxine label efflux half-life [h]"][1:3] == (22.4, "h")
    assert by["Luciferase photons per cell [photons/s]"][1:3] == (100.0, "photons/s")
    assert by["Luciferase tissue attenuation [1/mm]"][1:3] == (1.0, "1/mm")
    assert by["qPCR detection limit [cells]"][1:3] == (100.0, "cells")
    assert by["BLI detection limit [cells]"][1:3] == (1000.0, "cells")
    assert by["GFP optical background per site [photons/s]"][1:3] == (1e6, "photons/s")
    for name, v, unit, source in rows:
        assert name.endswith(f"[{unit}]") and source, name
        assert isinstance(v, float)
    # every packaged sampling / counting setting of a method has a parameter name
    from mscpk.inputs.catalogue import ASSAYS, method_info
    from mscpk.inputs.detection import METHOD_FIELDS
    assert all(f"sample.{k}" in METHOD_FIELDS for a in ASSAYS for k in method_info(a).sample)
    # physical half-lives (C11) are constants, not parameters
    assert not any("physical" in n or n.startswith("111In-oxine half-life") for n in by)
    # no clash with model or physiology names (one [parameters] table holds all three)
    from mscpk.inputs.parameters import load_parameter_set
    from mscpk.inputs.physiology import load_species
    others = set(load_parameter_set("default")) | {r[0] for r in load_species("mouse", 0.025).parameter_rows()}
    assert not others & set(by)
    # values in force with a scenario's overrides; labels= filters label rows only
    mine = {r[0]: r for r in detection_parameter_rows({"BLI detection limit [cells]": 500, "Lung volume [L]": 1},
                                                      labels="luciferase")}
    assert mine["BLI detection limit [cells]"][1:] == (500.0, "cells", "scenario override")
    assert "DiR photons per cell [photons/s]" not in mine and "Luciferase photons per cell [photons/s]" in mine


def test_apply_detection_overrides_sets_values_ignores_other_names_and_checks_values():
    s = apply_detection_overrides({"111In-oxine label efflux half-life [h]": 30, "qPCR detection limit [cells]": 50,
                                   "BLI exposure [s]": 120, "Lung volume [L]": 2e-4, "no such name": 1})
    assert set(s.overrides) == {"111In-oxine label efflux half-life [h]", "qPCR detection limit [cells]",
                                "BLI exposure [s]"}
    assert s.label("111In-oxine").efflux_half_life_h == 30.0
    assert s.label("89Zr-oxine").efflux_half_life_h == 76.9  # others untouched
    assert s.method("qpcr").detection_limit_cells == 50.0
    assert s.method("bli").sample["exposure_s"] == 120.0
    assert s.method("bli").sample["collection_efficiency"] == 0.01
    assert not apply_detection_overrides({"Lung volume [L]": 1.0})
    assert is_detection_parameter("qPCR detection limit [cells]") and not is_detection_parameter("Lung volume [L]")
    # a half-life may be inf (never)
    assert math.isinf(apply_detection_overrides({"SPIO label efflux half-life [h]": math.inf})
                      .label("SPIO").efflux_half_life_h)
    for name, bad, words in (("qPCR detection limit [cells]", -1, "must be > 0"),
                             ("Luciferase labelled fraction [-]", 1.5, "(0, 1]"),
                             ("BLI measurement CV [-]", float("nan"), "finite"),
                             ("Luciferase photons per cell [photons/s]", "many", "not a number")):
        with pytest.raises(DetectionParameterError) as exc:
            apply_detection_overrides({name: bad})
        assert name in str(exc.value) and words in str(exc.value)
        assert isinstance(exc.value, DetectionError) and isinstance(exc.value, ParameterError)


def test_scenario_detection_parameters_change_the_observed_signal_not_the_cells():
    sc = scenario(label="luciferase", end=72.0, times=[1, 24, 72])
    base = observe(sc, "bli")
    over = observe(with_detection_parameters(sc, {"Luciferase photons per cell [photons/s]": 400.0}), "bli")
    # the engine's cells are unchanged, the photons per cell scale the signal exactly
    np.testing.assert_allclose(over["true_live_cells"], base["true_live_cells"])
    np.testing.assert_allclose(over["expected"], 4.0 * base["expected"], rtol=1e-12)
    assert value(over, "lung", 1.0) > value(over, "lung", 1.0, "limit")  # a real, detectable signal
    # the same as the label option
    opt = observe(sc, "bli", label_options={"photons_per_cell_per_s": 400.0})
    np.testing.assert_allclose(over["expected"], opt["expected"], rtol=1e-12)


def test_scenario_detection_parameters_reach_label_kinetics_windows_and_design():
    # a model parameter in the same table still reaches the engine
    model = {"Lung arrested cell release half-life [h]": 12.0}
    sc = scenario(label="111In-oxine", end=168.0, params=model)
    det = {"111In-oxine label efflux half-life [h]": 4.0, "qPCR detection limit [cells]": 1e4,
           "qPCR measurement CV [-]": 0.8}
    sc2 = with_detection_parameters(sc, det)
    assert cell_scenario(sc2).parameters == model
    res = mscpk.simulate(sc)
    lk0 = label_kinetics(sc)
    lk2 = label_kinetics(sc2)
    np.testing.assert_allclose(lk2.administered, res.administered)
    i24 = int(np.argmin(np.abs(lk0.times_h - 24.0)))
    # faster efflux: less label inside live lung cells
    live0 = lk0.by_site(parts=("live",))["lung"][i24]
    live2 = lk2.by_site(parts=("live",))["lung"][i24]
    assert live2 < 0.5 * live0
    s0 = observe(sc, "spect", times_h=[24.0])
    s2 = observe(sc2, "spect", times_h=[24.0])
    assert value(s2, "lung", 24.0) < value(s0, "lung", 24.0)
    opt = observe(sc, "spect", times_h=[24.0], label_options={"efflux_half_life_h": 4.0})
    np.testing.assert_allclose(s2["expected"], opt["expected"], rtol=1e-9)
    # method parameters: a higher qPCR limit shrinks the window (xenogeneic-free: transgene qPCR)
    w0 = detection_windows(with_detection_parameters(sc, {}), label="luciferase", assays=["qpcr"])
    w2 = detection_windows(sc2, label="luciferase", assays=["qpcr"])
    assert float(w2[w2.site == "lung"].detection_limit_cells.iloc[0]) == 1e4
    f0, l0 = win(w0, "qpcr", "lung")
    f2, l2 = win(w2, "qpcr", "lung")
    assert l2 < l0 and f2 >= f0
    # a higher method CV needs more animals
    p0 = design_study(sc, items=["persistence"], assays=["qpcr"])
    p2 = design_study(sc2, items=["persistence"], assays=["qpcr"])
    assert float(p2.cv.iloc[0]) == pytest.approx(0.8) and float(p0.cv.iloc[0]) == pytest.approx(0.35)
    assert p2.animals_per_time.iloc[0] > p0.animals_per_time.iloc[0]


def test_scenario_file_with_detection_parameters_once_the_validator_accepts_them():
    raw = raw_scenario(label="luciferase", end=72.0, times=[1, 24],
                       params={"Luciferase photons per cell [photons/s]": 400.0})
    # the validator accepts detection names (mscpk params lists them): no skip, a regression fails
    sc = scenario_from_dict(raw)
    base = observe(scenario(label="luciferase", end=72.0, times=[1, 24]), "bli")
    np.testing.assert_allclose(observe(sc, "bli")["expected"], 4.0 * base["expected"], rtol=1e-12)
    with pytest.raises(ScenarioError, match="Luciferase photons per cell"):
        scenario_from_dict(raw_scenario(params={"Luciferase photons per cell [photons/s]": -1.0}))


# ------------------------------------------------------------------------------------------
# 3. detection intervals with gaps
# ------------------------------------------------------------------------------------------
def test_intervals_interpolate_every_crossing():
    t = np.array([0.0, 1, 2, 3, 4, 5])
    y = np.array([10.0, 10, 0.1, 0.1, 10, 10])
    spans = intervals(t, y, 1.0)
    assert len(spans) == 2
    assert spans[0][0] == 0.0 and 1 < spans[0][1] < 2 and 3 < spans[1][0] < 4 and spans[1][1] == 5.0
    # log-linear crossing: 10 -> 0.1 over 1 h hits 1 at half-way
    assert spans[0][1] == pytest.approx(1.5)
    # a dose between grid times: the signal rises from the dose time
    assert intervals(t, y, 1.0, dose_times_h=[3.9])[1][0] == pytest.approx(3.9 + 0.1 * 0.1)
    assert intervals(t, np.zeros(6), 1.0) == []
    assert format_intervals([(0.0, 17.83), (48.0, 72.0), (1008.4, 1344.0)]) == "0-17.8;48-72;1008-1344"


def test_detection_window_lists_every_interval_after_a_second_dose():
    doses = [{"route": "iv", "cells": 1e5, "time_h": 0.0}, {"route": "iv", "cells": 1e5, "time_h": 96.0}]
    sc = scenario(label="luciferase", doses=doses, end=168.0)
    w = detection_windows(sc, assays=["bli", "qpcr"])
    assert list(w.columns[:4]) == ["assay", "site", "first_h", "last_h"] and "intervals" in w.columns
    r = w[(w.assay == "bli") & (w.site == "lung")].iloc[0]
    spans = [tuple(float(x) for x in part.split("-")) for part in r.intervals.split(";")]
    assert len(spans) == 2, r.intervals
    (a1, b1), (a2, b2) = spans
    assert a1 < b1 < 96.0 <= a2 < b2 < 168.0  # detectable, lost, detectable again after dose 2
    assert a2 == pytest.approx(96.0, abs=0.1)
    assert r.first_h == pytest.approx(a1, rel=1e-2) and r.last_h == pytest.approx(b2, rel=1e-2)
    # the gap is real: BLI says not detectable in the lung between the doses
    mid = observe(sc, "bli", times_h=[0.5 * (b1 + 96.0)])
    assert not bool(mid[mid.site == "lung"].detectable.iloc[0])
    # qPCR (live + dead cells) of the same animals has no gap in the lung
    q = w[(w.assay == "qpcr") & (w.site == "lung")].iloc[0]
    assert ";" not in q.intervals and bool(q.until_end)
    # never detectable: empty intervals
    assert (w[w.first_h.isna()].intervals == "").all()


def test_detection_window_command_and_gantt_chart_show_the_gap(tmp_path):
    import typer
    from typer.testing import CliRunner

    from mscpk.interfaces.cli import detection as c

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("detection-window")(c.detection_window_command)
    app.command("other")(c.knowledge_command)
    sc = tmp_path / "two_doses.toml"
    sc.write_text('name = "two doses"\n[subject]\nspecies = "mouse"\nimmune = "immunocompetent"\n'
                  '[product]\norigin = "syngeneic"\nlabel = "luciferase"\n'
                  '[[dose]]\nroute = "iv"\ncells = 1e5\n[[dose]]\nroute = "iv"\ncells = 1e5\ntime_h = 96\n'
                  '[run]\nend_h = 168\n')
    out, png = tmp_path / "w.csv", tmp_path / "w.png"
    r = CliRunner().invoke(app, ["detection-window", str(sc), "-o", str(out), "--assay", "bli", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 1000
    import pandas as pd
    df = pd.read_csv(out, keep_default_na=False)
    assert ";" in df[df.site == "lung"].intervals.iloc[0]
    import re
    assert re.search(r"bli: lung [0-9.e-]+-[0-9.]+, 96-[0-9.]+ h", r.output), r.output


# ------------------------------------------------------------------------------------------
# 4. optical background
# ------------------------------------------------------------------------------------------
def test_raising_the_optical_background_shortens_the_window():
    sc = scenario(label="luciferase", cells=8e5, end=336.0)
    prev = None
    for bg in (0.0, 3e5, 1e6):
        w = detection_windows(sc, assays=["bli"], label_options={"background_photons_per_s": bg})
        r = w[w.site == "lung"].iloc[0]
        # limit = max(Table 2 limit, 1 x background / photons per cell) in cells at the surface
        assert r.detection_limit_cells == pytest.approx(max(1000.0, bg / 100.0))
        if prev is not None:
            assert r.last_h < prev.last_h and r.first_h >= prev.first_h
        prev = r
    # the same through the scenario's parameters
    sc_bg = with_detection_parameters(sc, {"Luciferase optical background per site [photons/s]": 1e6})
    w = detection_windows(sc_bg, assays=["bli"])
    assert float(w[w.site == "lung"].last_h.iloc[0]) == pytest.approx(float(prev.last_h))
    # the criterion can be switched off (minimum signal-to-background ratio 0)
    off = detection_windows(with_detection_parameters(sc_bg, {"BLI minimum signal-to-background ratio [-]": 0.0}),
                            assays=["bli"])
    assert float(off[off.site == "lung"].detection_limit_cells.iloc[0]) == 1000.0
    # observe: the background and the background-aware limit are in the table
    o = observe(sc_bg, "bli", times_h=[1.0, 24.0])
    lung = o[o.site == "lung"]
    assert (lung.background == 1e6).all() and (lung.limit == 1e6).all()
    assert (lung.detectable == (lung.value >= 1e6)).all()
    body = o[o.site == "whole_body"]
    assert (body.background == 1e6 * (o.site.nunique() - 1)).all()  # every site's region
    # non-optical assays have no background
    assert (observe(sc, "qpcr", times_h=[1.0]).background == 0).all()


def test_green_autofluorescence_limits_gfp_more_than_near_infrared_dir():
    sc = scenario(label="GFP", cells=8e5, end=168.0)
    g = observe(sc, "fluorescence", times_h=[1.0])
    d = observe(sc, "fluorescence", label="DiR", times_h=[1.0])
    # GFP: 1e6 photons/s background / 100 photons/s per cell = 1e4 cells > Table 2 (1e3)
    assert float(g[g.site == "lung"].detection_limit_cells.iloc[0]) == pytest.approx(1e4)
    # DiR: 1e5 / 1000 = 100 cells < Table 2: the Table 2 limit stays
    assert float(d[d.site == "lung"].detection_limit_cells.iloc[0]) == pytest.approx(1e3)
    with pytest.raises(DetectionError, match="background_photons_per_s"):
        observe(sc, "fluorescence", label_options={"background_photons_per_s": -1.0})


# ------------------------------------------------------------------------------------------
# 2. BLI / fluorescence virtual studies (photons/s in the Study data format)
# ------------------------------------------------------------------------------------------
def test_bli_virtual_study_reports_photons_per_s_and_reproduces_the_model():
    from mscpk.inputs.studydata import ALLOWED_UNITS, study_from_frame, to_cells

    assert "photons/s" in ALLOWED_UNITS
    sc = scenario(label="luciferase", cells=8e5, end=72.0)
    times = [1.0, 4.0, 72.0]
    n = 300
    data = simulate_study(sc, assay="bli", times_h=times, animals_per_time=n, seed=11, sites=["lung", "liver"])
    assert (data.DVU == "photons/s").all() and (data.ASSAY == "bli").all()
    truth = observe(sc, "bli", times_h=times)
    for t in (1.0, 4.0):
        d = data[(data.TIME == t) & (data.SITE == "lung")]
        assert (d.CENS == 0).all()
        se = d.DV.std(ddof=1) / math.sqrt(len(d))
        assert abs(d.DV.mean() - value(truth, "lung", t)) < 4 * se, t
    # LLOQ is the background-aware limit of the readout; deep liver and late lung are BLQ
    assert np.allclose(data.LLOQ, [value(truth, s, t, "limit") for s, t in zip(data.SITE, data.TIME)])
    late = data[(data.TIME == 72.0) & (data.SITE == "lung")]
    assert (late.CENS == 1).all() and late.DV.isna().all()
    study = study_from_frame(data)
    assert (study.frame.DVU == "photons/s").all() and len(study.frame) == len(data)
    with pytest.raises(DataError, match="photons/s"):
        to_cells(study)
    # serial fluorescence imaging of a membrane dye: the same animals at every time
    fl = simulate_study(sc, assay="fluorescence", label="DiR", times_h=[1.0, 24.0], animals_per_time=4,
                        seed=2, serial=True, sites=["liver"])
    assert fl.ID.nunique() == 4 and (fl.DVU == "photons/s").all()
