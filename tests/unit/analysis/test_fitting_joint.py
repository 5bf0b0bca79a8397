"""Joint fitting: several groups (doses, routes) sharing parameters, assays through the
detection layer's observation models (qpcr + bli), summary (mean/SD/N) data, and the errors
of group mapping via the CLI."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.interfaces.cli import app  # the real CLI, where `fit` is registered
from mscpk.analysis.detection import observe
from mscpk.errors import FitError
from mscpk.analysis.fitting import FIT_UNIT_OPTIONS, derive_scenario, fit, group_scenarios
from mscpk.inputs.resolve import scenario_parameters
from mscpk.inputs.studydata import read_study, study_from_frame
from mscpk.interfaces.plots.fit import plot_fit

ROOT = Path(__file__).resolve().parents[3]
LUNG_DEATH = "Lung arrested cell death half-life [h]"
TRUE = 12.0  # default 6 h
TIMES = [0.5, 2.0, 6.0, 24.0, 48.0, 96.0, 168.0]
CV = 0.3
SD_LOG = math.sqrt(math.log(1 + CV ** 2))

runner = CliRunner()


def _product(sc, **upd):
    return sc.model_copy(update={"product": sc.product.model_copy(update=upd)})


@lru_cache(maxsize=None)
def base():
    """hMSC (xenogeneic, so qPCR of human Alu can see it), IV in a mouse."""
    return _product(mscpk.load_scenario(ROOT / "examples" / "iv_mouse.toml"), origin="xenogeneic")


@lru_cache(maxsize=None)
def luc_base():
    return _product(base(), label="luciferase")


def truth(sc, site: str, assay: str, times=TIMES) -> np.ndarray:
    """Noise-free observation of the true model (public API: simulate / observe)."""
    p = scenario_parameters(sc).updated({LUNG_DEATH: TRUE})
    if assay == "":
        return mscpk.simulate(sc, times_h=times, params=p).quantity(site, "live_cells")
    df = observe(sc, assay, times_h=times, params=p)
    return df[df["site"] == site]["expected"].to_numpy()


def individual_rows(sc, group, rng, design, *, n_animals=3, route=None, dose=None):
    """Destructive sampling: n animals per time; design = [(site, assay, lloq, unit)]."""
    rows = []
    for site, assay, lloq, unit in design:
        y = truth(sc, site, assay)
        for i, t in enumerate(TIMES):
            for a in range(n_animals):
                dv = float(y[i] * math.exp(rng.normal(0.0, SD_LOG)))
                cens = int(dv < lloq)
                row = {"GROUP": group, "ID": f"{group}-{i}-{a}", "TIME": t, "SITE": site,
                       "ASSAY": assay, "DV": math.nan if cens else dv, "DVU": unit,
                       "CENS": cens, "LLOQ": lloq}
                if route is not None:
                    row["ROUTE"] = route
                if dose is not None:
                    row["DOSE"] = dose
                rows.append(row)
    return rows


CELL_DESIGN = [("lung", "", 2000.0, "cells"), ("liver", "qpcr", 2000.0, "cells")]
# doses 2.5e5 and 1e6 IV stay in the linear (matrix-exponential) regime of the engine; 2e6 IV
# in a mouse switches to the saturating BDF solver (~0.2 s per simulation): see the slow test
GROUPS = {"iv_low": ("iv", 2.5e5), "iv_high": ("iv", 1e6), "ip": ("ip", 1e6)}


def joint_frame(seed: int, groups=GROUPS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g, (route, dose) in groups.items():
        sc = derive_scenario(base(), route=route, dose=dose)
        rows += individual_rows(sc, g, rng, CELL_DESIGN, route=route, dose=dose)
    return pd.DataFrame(rows)


@lru_cache(maxsize=None)
def joint_fits(seed: int):
    df = joint_frame(seed)
    joint = fit(base(), df, [LUNG_DEATH], n_starts=2, seed=seed)
    alone = {g: fit(base(), df[df["GROUP"] == g], [LUNG_DEATH], n_starts=2, seed=seed)
             for g in GROUPS}
    return joint, alone


def width(p):
    return math.log(p["ci_high"]) - math.log(p["ci_low"])


def test_groups_map_to_scenario_variants():
    df = joint_frame(0)
    scen, names = group_scenarios(base(), study_from_frame(df).frame)
    assert set(scen) == set(GROUPS)
    for g, (route, dose) in GROUPS.items():
        (d,) = scen[g].dose
        assert d.route == route and d.cells == dose and d.cells_per_kg is None
    # data without GROUP: split by (ROUTE, DOSE)
    scen2, names2 = group_scenarios(base(), study_from_frame(df.drop(columns="GROUP")).frame)
    assert len(scen2) == 3 and len(set(names2)) == 3


def test_joint_recovery_and_narrower_ci():
    hits = 0
    for seed in range(3):
        joint, alone = joint_fits(seed)
        p = joint.parameters[LUNG_DEATH]
        assert joint.converged
        assert set(joint.groups) == set(GROUPS)
        assert p["identifiable"] is True
        assert TRUE / 1.5 < p["estimate"] < TRUE * 1.5, p
        hits += p["ci_low"] <= TRUE <= p["ci_high"]
        # measured: the joint interval is strictly narrower than each IV group's alone
        # (log-width 0.09-0.14 vs 0.13-0.23); the IP group alone (lung data mostly below the
        # LLOQ) cannot identify the lung parameter at all
        for g in ("iv_low", "iv_high"):
            assert width(p) < width(alone[g].parameters[LUNG_DEATH]), (g, p, alone[g].parameters)
        assert alone["ip"].parameters[LUNG_DEATH]["identifiable"] is False
    assert hits >= 2


def test_scenarios_mapping_and_pairs_equal_derived_groups():
    df = joint_frame(0)
    joint, _ = joint_fits(0)
    scen = {g: derive_scenario(base(), route=r, dose=d) for g, (r, d) in GROUPS.items()}
    by_map = fit(scenarios=scen, data=df.drop(columns=["ROUTE", "DOSE"]),
                 estimate=[LUNG_DEATH], n_starts=2, seed=0)
    assert by_map.parameters[LUNG_DEATH]["estimate"] == pytest.approx(
        joint.parameters[LUNG_DEATH]["estimate"], rel=1e-3)
    pairs = [(scen[g], df[df["GROUP"] == g].drop(columns=["ROUTE", "DOSE", "GROUP"]))
             for g in GROUPS]
    by_pairs = fit(scenarios=pairs, estimate=[LUNG_DEATH], n_starts=2, seed=0, profile=False)
    assert set(by_pairs.groups) == {"dataset 1", "dataset 2", "dataset 3"}
    assert by_pairs.parameters[LUNG_DEATH]["estimate"] == pytest.approx(
        joint.parameters[LUNG_DEATH]["estimate"], rel=1e-3)


# --------------------------------------------------------------------------------------------
# qPCR + BLI through both observation models
# --------------------------------------------------------------------------------------------

LUC_DESIGN = [("liver", "qpcr", 2000.0, "cells"), ("lung", "qpcr", 2000.0, "cells"),
              ("lung", "bli", 1e4, "photons/s"), ("whole_body", "bli", 1e4, "photons/s")]


def luc_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(individual_rows(luc_base(), "luc", rng, LUC_DESIGN))


@lru_cache(maxsize=None)
def luc_fit(seed: int):
    return fit(luc_base(), luc_frame(seed), [LUNG_DEATH], n_starts=2, seed=seed)


def test_qpcr_and_bli_fitted_through_observation_models(tmp_path):
    hits = 0
    for seed in range(3):
        r = luc_fit(seed)
        p = r.parameters[LUNG_DEATH]
        assert TRUE / 1.5 < p["estimate"] < TRUE * 1.5, p
        hits += p["ci_low"] <= TRUE <= p["ci_high"]
        assert r.sigma_mode == "per_assay" and set(r.sigmas) == {"qpcr", "bli"}
        for s in r.sigmas.values():
            assert 0.15 < s < 0.5  # simulated CV 30 % -> sdlog 0.29
    assert hits >= 2
    r = luc_fit(0)
    pred = r.predictions
    assert set(pred.loc[pred["ASSAY"] == "bli", "UNIT"]) == {"photons_per_s"}
    assert set(pred.loc[pred["ASSAY"] == "qpcr", "UNIT"]) == {"cells"}
    # the bli prediction is the detection layer's expected signal at the fitted value
    p = scenario_parameters(luc_base()).updated(
        {LUNG_DEATH: r.parameters[LUNG_DEATH]["estimate"]})
    exp = observe(luc_base(), "bli", times_h=TIMES, params=p)
    exp = exp[exp["site"] == "whole_body"]["expected"].to_numpy()
    rows = pred[(pred["ASSAY"] == "bli") & (pred["SITE"] == "whole_body")]
    np.testing.assert_allclose(rows["PRED"].to_numpy()[::3], exp, rtol=1e-9)
    # photons: orders of magnitude above cells, yet one consistent fit
    assert rows["PRED"].max() > 1e5
    doc = json.loads(r.to_json())
    assert doc["groups"]["luc"]["label"] == "luciferase"
    assert set(doc["sigmas"]) == {"qpcr", "bli"}
    assert plot_fit(r, tmp_path / "d.png").stat().st_size > 1000


def test_cli_qpcr_bli_csv(tmp_path):
    sc = tmp_path / "luc.toml"
    sc.write_text((ROOT / "examples" / "iv_mouse.toml").read_text()
                  .replace('origin = "syngeneic"', 'origin = "xenogeneic"')
                  .replace('label = "none"', 'label = "luciferase"'))
    data = tmp_path / "d.csv"
    luc_frame(1).to_csv(data, index=False)
    st = read_study(data, unit_options=FIT_UNIT_OPTIONS)
    assert set(st.frame["DVU_REPORTED"]) == {"cells", "photons/s"}
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(sc), str(data), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "1"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert TRUE / 1.5 < doc["parameters"][LUNG_DEATH]["estimate"] < TRUE * 1.5
    assert doc["sigma_mode"] == "per_assay"


# --------------------------------------------------------------------------------------------
# summary (literature) data
# --------------------------------------------------------------------------------------------

def summary_frame(seed: int, n: int = 5) -> pd.DataFrame:
    """Group means and SDs of n animals per time (destructive), as a paper reports them."""
    rng = np.random.default_rng(seed)
    rows = []
    for site, assay in (("lung", ""), ("liver", "qpcr")):
        y = truth(base(), site, assay)
        for i, t in enumerate(TIMES):
            vals = y[i] * np.exp(rng.normal(0.0, SD_LOG, n))
            rows.append({"ID": f"mean-{site}-{i}", "TIME": t, "SITE": site, "ASSAY": assay,
                         "DV": float(vals.mean()), "SD": float(vals.std(ddof=1)), "N": n})
    return pd.DataFrame(rows)


def test_summary_data_recover_parameter():
    hits = 0
    for seed in range(3):
        data = study_from_frame(summary_frame(seed))
        assert data.is_summary
        r = fit(base(), data, [LUNG_DEATH], n_starts=2, seed=seed)
        p = r.parameters[LUNG_DEATH]
        assert r.n_summary == 14
        assert TRUE / 1.5 < p["estimate"] < TRUE * 1.5, p
        assert p["identifiable"] is True
        hits += p["ci_low"] <= TRUE <= p["ci_high"]
    assert hits >= 2


def test_summary_likelihood_uses_log_scale_mean():
    from mscpk.analysis.fitting import ForwardModel, LogLikelihood, Problem

    df = pd.DataFrame([{"ID": "a", "TIME": 24.0, "SITE": "lung", "DV": 1000.0, "SD": 500.0,
                        "N": 4}])
    prob = Problem(ForwardModel(base(), [LUNG_DEATH]), study_from_frame(df))
    ll = LogLikelihood(prob)
    sdlog2 = math.log(1 + 0.25)
    pred = 900.0
    sigma = 0.3
    var = (sigma ** 2 + sdlog2) / 4
    mu = math.log(1000.0) - sdlog2 / 2
    expect = (-0.5 * (mu - math.log(pred)) ** 2 / var - 0.5 * math.log(var)
              - 0.5 * math.log(2 * math.pi) - math.log(1000.0))
    assert ll.from_prediction(np.array([pred]), math.log(sigma)) == pytest.approx(expect)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

def test_group_errors_name_group_and_rows():
    df = joint_frame(0)
    bad = df.copy()
    bad.loc[bad["GROUP"] == "ip", "ROUTE"] = "oral"
    with pytest.raises(FitError, match=r"GROUP 'ip' \(rows .*ROUTE 'oral' is not a known route"):
        fit(base(), bad, [LUNG_DEATH], n_starts=1, profile=False)
    mixed = df.copy()
    mixed.loc[mixed.index[:3], "DOSE"] = 3e5
    with pytest.raises(FitError, match="GROUP 'iv_low' has several DOSE/ROUTE"):
        fit(base(), mixed, [LUNG_DEATH], n_starts=1, profile=False)
    ia = df.copy()
    ia.loc[ia["GROUP"] == "ip", "ROUTE"] = "ia"
    with pytest.raises(FitError, match="needs a target organ"):
        fit(base(), ia, [LUNG_DEATH], n_starts=1, profile=False)
    with pytest.raises(FitError, match="GROUP 'ip' .* has no scenario"):
        fit(scenarios={"iv_low": base(), "iv_high": base()}, data=df, estimate=[LUNG_DEATH])
    wrong_unit = df.copy()
    wrong_unit.loc[wrong_unit["ASSAY"] == "qpcr", "DVU"] = "%ID"
    with pytest.raises(FitError, match="column DVU"):
        fit(base(), wrong_unit, [LUNG_DEATH], n_starts=1, profile=False)


def _cli(tmp_path, frame, scenario=ROOT / "examples" / "iv_mouse.toml"):
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "fit.json"
    r = runner.invoke(app, ["fit", str(scenario), str(data), "--estimate", LUNG_DEATH,
                            "-o", str(out), "--n-starts", "1"])
    return r, out


def test_cli_unknown_route_exit_2(tmp_path):
    df = joint_frame(0)
    df.loc[df["GROUP"] == "ip", "ROUTE"] = "oral"
    r, out = _cli(tmp_path, df)
    assert r.exit_code == 2 and "error:" in r.output
    assert "ROUTE 'oral'" in r.output and "GROUP 'ip'" in r.output and "row" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_assay_label_cannot_support_exit_2(tmp_path):
    # iv_mouse.toml: syngeneic, label none -> bli cannot see it
    df = pd.DataFrame(individual_rows(luc_base(), "g", np.random.default_rng(0),
                                      [("lung", "bli", 1e4, "photons/s")], n_animals=1))
    r, out = _cli(tmp_path, df)
    assert r.exit_code == 2
    assert "error:" in r.output and "'bli' cannot see" in r.output and "row" in r.output
    assert not out.exists()


@pytest.mark.slow
def test_joint_with_saturating_dose_slow():
    """5e5 and 2e6 IV (2e6 uses the engine's saturating BDF solver) and 1e6 IP."""
    groups = {"iv_5e5": ("iv", 5e5), "iv_2e6": ("iv", 2e6), "ip": ("ip", 1e6)}
    covered = 0
    for seed in (0, 1, 2):  # a 95 % interval misses now and then: require 2 of 3, as elsewhere
        r = fit(base(), joint_frame(seed, groups), [LUNG_DEATH], n_starts=1, seed=0)
        p = r.parameters[LUNG_DEATH]
        assert TRUE / 1.5 < p["estimate"] < TRUE * 1.5
        covered += p["ci_low"] <= TRUE <= p["ci_high"]
    assert covered >= 2
