"""Animal random effect in fit (``animal_effect=True``, CLI ``--animal-effect``).

With destructive sampling each animal gives one value per site and a between-animal factor
multiplies all of them, so the rows of an animal are correlated; the independent likelihood
then gives too narrow profile intervals. The random effect eta_i ~ N(0, omega^2) per ID is
integrated out: closed-form multivariate normal for animals without censored rows, adaptive
Gauss-Hermite quadrature for animals with censored rows.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import mscpk
from mscpk.analysis.detection import simulate_study
from mscpk.analysis.fitting import ForwardModel, LogLikelihood, Problem, fit
from mscpk.inputs.studydata import study_from_frame

from helpers import LIVER_INJURY, LUNG_DEATH, TRUE


@pytest.fixture(scope="module")
def sc(tmp_path_factory):
    path = tmp_path_factory.mktemp("re") / "liver_injury.toml"
    path.write_text(LIVER_INJURY)
    return mscpk.load_scenario(path)


@pytest.fixture(scope="module")
def study(sc):
    """3 sites x 5 animals per time, between-animal CV 0.5 (with a few BLQ rows)."""
    return simulate_study(sc, assay="qpcr", animals_per_time=5, sites=["lung", "liver", "spleen"],
                          seed=1, between_animal_cv=0.5)


def _loglik(sc, data, **kw):
    return LogLikelihood(Problem(ForwardModel(sc, [LUNG_DEATH]), study_from_frame(data)), **kw)


def _pred(ll, data):
    # a prediction near, not at, the data: the residuals must not be all zero
    rng = np.random.default_rng(3)
    dv = data["DV"].fillna(data["LLOQ"]).to_numpy(float)
    return dv * np.exp(rng.normal(0.0, 0.3, len(dv)))


@pytest.mark.parametrize("centre", ["median", "mean"])
def test_omega_to_zero_equals_independent_likelihood(sc, study, centre):
    assert study.CENS.sum() > 0  # both the closed form and the quadrature are exercised
    ind = _loglik(sc, study, centre=centre)
    re = _loglik(sc, study, centre=centre, animal_effect=True)
    pred = _pred(ind, study)
    for sigma in (0.2, 0.5):
        a = ind.from_prediction(pred, math.log(sigma))
        b = re.from_prediction(pred, [math.log(sigma), math.log(1e-7)])
        assert b == pytest.approx(a, abs=1e-8, rel=0)
        c = re.from_prediction(pred, [math.log(sigma), math.log(1e-7)], method="quadrature")
        assert c == pytest.approx(a, abs=1e-8, rel=0)


@pytest.mark.parametrize("centre", ["median", "mean"])
def test_closed_form_equals_quadrature_on_uncensored_data(sc, study, centre):
    data = study[study.CENS == 0]
    re = _loglik(sc, data, centre=centre, animal_effect=True)
    plain = _loglik(sc, data, centre=centre, animal_effect=True, adaptive=False,
                    quadrature_nodes=40)
    pred = _pred(re, data)
    for sigma, omega in ((0.35, 0.47), (0.5, 0.2), (0.3, 1.0)):
        x = [math.log(sigma), math.log(omega)]
        closed = re.from_prediction(pred, x)
        assert re.from_prediction(pred, x, method="quadrature") == pytest.approx(
            closed, abs=1e-6, rel=0)
        # plain (non-adaptive) Gauss-Hermite over the prior of eta, 40 nodes: less accurate
        # (the posterior of eta is narrower than its prior), ~3e-5 over 45 animals
        # (omega 1: off by ~1; only the adaptive nodes are used by the fit)
        if omega < 0.5:
            assert plain.from_prediction(pred, x, method="quadrature") == pytest.approx(
                closed, abs=1e-4, rel=0)


def test_closed_form_is_the_multivariate_normal_and_summary_rows_have_no_effect(sc):
    rows = [
        {"ID": "a", "TIME": 24.0, "SITE": s, "DV": v, "ASSAY": "qpcr", "CENS": 0, "LLOQ": 10.0,
         "N": 1}
        for s, v in (("lung", 1000.0), ("liver", 3000.0), ("spleen", 200.0))
    ] + [
        {"ID": "b", "TIME": 24.0, "SITE": "lung", "DV": 800.0, "ASSAY": "qpcr", "CENS": 0,
         "LLOQ": 10.0, "N": 1},
        {"ID": "lit", "TIME": 24.0, "SITE": "lung", "DV": 900.0, "ASSAY": "qpcr", "CENS": 0,
         "LLOQ": 10.0, "N": 5, "SD": 300.0},
    ]
    data = pd.DataFrame(rows)
    pred = np.array([900.0, 2500.0, 300.0, 900.0, 900.0])
    sigma, omega = 0.4, 0.6
    from scipy import stats
    for centre in ("median", "mean"):
        re = _loglik(sc, data, centre=centre, animal_effect=True)
        assert re.n_animals == 2
        y = np.log(data.DV.to_numpy(float))
        mu = np.log(pred[:4]) - (0.5 * (sigma ** 2 + omega ** 2) if centre == "mean" else 0.0)
        cov_a = sigma ** 2 * np.eye(3) + omega ** 2
        expect = (stats.multivariate_normal(mu[:3], cov_a).logpdf(y[:3])
                  + stats.norm(mu[3], math.hypot(sigma, omega)).logpdf(y[3]) - y[:4].sum())
        # the summary row keeps its independent contribution (as when it is fitted alone)
        only_summary = _loglik(sc, data.iloc[[4]], centre=centre).from_prediction(
            pred[4:], math.log(sigma))
        got = re.from_prediction(pred, [math.log(sigma), math.log(omega)])
        assert got == pytest.approx(expect + only_summary, abs=1e-9)


def test_fit_with_animal_effect_reports_omega(sc, study, tmp_path):
    r = fit(sc, study, LUNG_DEATH, centre="mean", n_starts=2, seed=1, animal_effect=True)
    assert r.animal_effect and r.n_animals == 45
    lo, hi = r.omega_ci
    assert lo < r.omega < hi
    d = json.loads(r.to_json())
    assert d["animal_effect"] is True and d["omega"] == pytest.approx(r.omega)
    assert "omega" in d["error_model"]
    r0 = fit(sc, study, LUNG_DEATH, centre="mean", n_starts=1, seed=1, profile=False)
    assert r0.omega is None and json.loads(r0.to_json())["animal_effect"] is False


def test_cli_animal_effect(sc, study, tmp_path):
    from typer.testing import CliRunner

    from mscpk.interfaces.cli import app

    path = tmp_path / "sc.toml"
    path.write_text(LIVER_INJURY)
    data = tmp_path / "study.csv"
    study.to_csv(data, index=False)
    out = tmp_path / "fit.json"
    res = CliRunner().invoke(app, ["fit", str(path), str(data), "--estimate", LUNG_DEATH,
                                   "-o", str(out), "--centre", "mean", "--n-starts", "1",
                                   "--animal-effect"])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["animal_effect"] is True and d["omega"] > 0
    assert "omega" in res.output


@pytest.mark.slow
def test_coverage_of_virtual_studies_with_correlated_sites(sc):
    """8 virtual studies: qPCR, 3 sites per animal, 5 animals per time on the standard grid,
    between-animal CV 0.5 (true sdlog 0.472).

    Measured (seeds 1-8), estimate [95 % CI] of the lung death half-life (true 6 h):
    independent rows  7.81 [5.37, 10.82], 4.89 [3.19, 7.11], 6.26 [4.52, 8.34],
    4.53 [3.11, 6.59], 6.56 [4.51, 9.08], 4.90 [3.05, 7.50], 5.23 [3.59, 7.24],
    7.34 [5.05, 10.16] -> 8/8, sigma 0.52-0.67 (absorbs omega);
    animal effect     6.92 [5.00, 8.99], 5.42 [3.73, 7.50], 6.07 [4.55, 7.89],
    6.03 [4.35, 8.03], 5.90 [4.42, 7.67], 4.72 [3.09, 6.87], 5.48 [3.77, 7.58],
    8.92 [6.69, 11.31] -> 7/8, sigma 0.29-0.37, omega 0.39-0.58.
    """
    true_sdlog = math.sqrt(math.log1p(0.5 ** 2))
    hits = 0
    for seed in range(1, 9):
        data = simulate_study(sc, assay="qpcr", animals_per_time=5,
                              sites=["lung", "liver", "spleen"], seed=seed,
                              between_animal_cv=0.5)
        r = fit(sc, data, LUNG_DEATH, centre="mean", n_starts=2, seed=seed, animal_effect=True)
        p = r.parameters[LUNG_DEATH]
        assert p["identifiable"] is True
        hits += p["ci_low"] <= TRUE <= p["ci_high"]
        assert true_sdlog / 2 < r.omega < 2 * true_sdlog, (seed, r.omega)
    assert hits >= 7
