"""Tests of mscpk.nca (mscpk.analysis.nca) against numbers computed independently in the tests (hand formulas,
numpy.polyfit, scipy quadrature, explicit Bailer sums)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from mscpk.errors import DataError
from mscpk.analysis.nca import NCAOptions, OUTPUT_COLUMNS, bailer_auc, clean_blq, nca
from mscpk.inputs.studydata import study_from_frame

LN2 = math.log(2.0)
Z975 = 1.959963984540054  # standard normal 97.5 % quantile (tabulated)


def frame(rows, columns=("ID", "TIME", "DV", "SITE")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def serial(times, values, site="lung", ident="1", **extra) -> pd.DataFrame:
    df = pd.DataFrame({"ID": ident, "TIME": times, "DV": values, "SITE": site})
    for k, v in extra.items():
        df[k] = v
    return df


def param(res: pd.DataFrame, code: str, site: str | None = None, ident: str | None = None,
          group: str | None = None) -> pd.Series:
    sel = res["PPTESTCD"] == code
    if site is not None:
        sel &= res["SITE"] == site
    if ident is not None:
        sel &= res["ID"] == ident
    if group is not None:
        sel &= res["GROUP"] == group
    rows = res[sel]
    assert len(rows) == 1, (code, site, ident, rows)
    return rows.iloc[0]


def val(res, code, **kw) -> float:
    return float(param(res, code, **kw)["PPORRES"])


# --------------------------------------------------------------------------------------
# Output layout
# --------------------------------------------------------------------------------------


def test_output_columns_and_required_codes():
    res = nca(serial([0, 1, 2, 4, 8, 12], [0, 10, 8, 4, 2, 1]))
    assert list(res.columns[:5]) == ["GROUP", "SITE", "PPTESTCD", "PPORRES", "PPORRESU"]
    assert list(res.columns) == list(OUTPUT_COLUMNS)
    codes = set(res["PPTESTCD"])
    for code in ("CMAX", "TMAX", "CLST", "TLST", "AUCLST", "AUCIFO", "AUCIFP", "AUCPEO",
                 "LAMZ", "LAMZHL", "LAMZNPT", "R2ADJ", "MRTEVLST", "EXPOSURE", "PERSIST"):
        assert code in codes, code
    assert "MRTIVLST" not in codes  # no ROUTE -> not intravenous
    assert set(res["GROUP"]) == {"all"}
    assert res["PPORRES"].dtype == float


def test_units_derived_from_dv_unit():
    df = serial([0, 1, 2, 4, 8, 12], [0, 10, 8, 4, 2, 1], DVU="cells/g")
    res = nca(df)
    units = dict(zip(res["PPTESTCD"], res["PPORRESU"]))
    assert units["CMAX"] == "cells/g"
    assert units["TMAX"] == "h"
    assert units["AUCLST"] == "h*cells/g"
    assert units["LAMZ"] == "1/h"
    assert units["LAMZHL"] == "h"
    assert units["AUCPEO"] == "%"
    assert units["EXPOSURE"] == "d*cells/g"
    res2 = nca(serial([0, 1, 2, 4, 8, 12], [0, 10, 8, 4, 2, 1]))
    units2 = dict(zip(res2["PPTESTCD"], res2["PPORRESU"]))
    assert units2["AUCLST"] == "cells*h"
    assert units2["AUMCLST"] == "cells*h^2"
    assert units2["EXPOSURE"] == "cells*d"


# --------------------------------------------------------------------------------------
# Serial NCA: AUC, lambda_z, extrapolation, MRT
# --------------------------------------------------------------------------------------

T = [0.0, 1.0, 2.0, 4.0, 8.0, 12.0]
C = [5.0, 10.0, 8.0, 4.0, 2.0, 1.0]


def lin(t1, t2, c1, c2):
    return (t2 - t1) * (c1 + c2) / 2


def logt(t1, t2, c1, c2):
    return (t2 - t1) * (c1 - c2) / math.log(c1 / c2)


def test_auc_lin_up_log_down_by_hand():
    res = nca(serial(T, C))
    expected = (lin(0, 1, 5, 10) + logt(1, 2, 10, 8) + logt(2, 4, 8, 4) + logt(4, 8, 4, 2)
                + logt(8, 12, 2, 1))
    assert val(res, "AUCLST") == pytest.approx(expected, rel=1e-12)
    assert val(res, "CMAX") == 10 and val(res, "TMAX") == 1
    assert val(res, "CLST") == 1 and val(res, "TLST") == 12
    assert val(res, "EXPOSURE") == pytest.approx(expected / 24, rel=1e-12)


def test_auc_linear_and_log_methods_by_hand():
    lin_total = sum(lin(T[i], T[i + 1], C[i], C[i + 1]) for i in range(5))
    res = nca(serial(T, C), options=NCAOptions(auc_method="linear"))
    assert val(res, "AUCLST") == pytest.approx(lin_total, rel=1e-12)
    # "log": log trapezoid also on the rising interval 5 -> 10
    log_total = sum(logt(T[i], T[i + 1], C[i], C[i + 1]) for i in range(5))
    res = nca(serial(T, C), options=NCAOptions(auc_method="log"))
    assert val(res, "AUCLST") == pytest.approx(log_total, rel=1e-12)
    assert log_total < lin_total


def test_aumc_log_down_against_quadrature():
    # Log-down intervals: exact integrals of t*C(t) for the exponential interpolant
    # (scipy quadrature). Rising (linear) interval: the usual linear-trapezoidal AUMC
    # convention of PKNCA / WinNonlin, (t2 - t1) (t1 C1 + t2 C2) / 2.
    def expo(t, t1, t2, c1, c2):
        return c1 * math.exp(math.log(c2 / c1) * (t - t1) / (t2 - t1))

    aumc = (1 - 0) * (0 * 5 + 1 * 10) / 2
    auc = lin(0, 1, 5, 10)
    for i in range(1, 5):
        args = (T[i], T[i + 1], C[i], C[i + 1])
        aumc += integrate.quad(lambda t: t * expo(t, *args), T[i], T[i + 1])[0]
        auc += integrate.quad(lambda t: expo(t, *args), T[i], T[i + 1])[0]
    res = nca(serial(T, C))
    assert val(res, "AUMCLST") == pytest.approx(aumc, rel=1e-9)
    assert val(res, "AUCLST") == pytest.approx(auc, rel=1e-9)
    assert val(res, "MRTEVLST") == pytest.approx(aumc / auc, rel=1e-9)


def test_aumc_linear_by_hand():
    res = nca(serial(T, C), options=NCAOptions(auc_method="linear"))
    aumc = sum((T[i + 1] - T[i]) * (T[i] * C[i] + T[i + 1] * C[i + 1]) / 2 for i in range(5))
    assert val(res, "AUMCLST") == pytest.approx(aumc, rel=1e-12)


def test_lambda_z_chooses_best_fit_and_derived_parameters():
    # after Tmax (t=1): points 2,4,8,12 with 8,4,2,1. The last three lie exactly on a line
    # in log scale (half-life 4 h); adding t=2 (half-life 2 h there) worsens adj R^2.
    res = nca(serial(T, C))
    x, y = np.array([4.0, 8.0, 12.0]), np.log([4.0, 2.0, 1.0])
    slope, intercept = np.polyfit(x, y, 1)
    lz = -slope
    assert val(res, "LAMZ") == pytest.approx(LN2 / 4, rel=1e-9)
    assert val(res, "LAMZ") == pytest.approx(lz, rel=1e-9)
    assert val(res, "LAMZHL") == pytest.approx(4.0, rel=1e-9)
    assert val(res, "LAMZNPT") == 3
    assert param(res, "LAMZ")["POINTS_USED"] == "4;8;12"
    assert val(res, "R2ADJ") == pytest.approx(1.0, abs=1e-12)
    assert val(res, "LAMZLL") == 4 and val(res, "LAMZUL") == 12
    assert val(res, "LAMZSPN") == pytest.approx((12 - 4) / 4.0)
    # the 4-point fit, for comparison, is clearly worse
    x4, y4 = np.array([2.0, 4, 8, 12]), np.log([8.0, 4, 2, 1])
    r = np.corrcoef(x4, y4)[0, 1]
    adj4 = 1 - (1 - r * r) * 3 / 2
    assert adj4 < 1 - 1e-4
    auclast = val(res, "AUCLST")
    clast_pred = math.exp(intercept + slope * 12)
    assert val(res, "CLSTP") == pytest.approx(clast_pred, rel=1e-9)
    assert val(res, "AUCIFO") == pytest.approx(auclast + 1.0 / lz, rel=1e-9)
    assert val(res, "AUCIFP") == pytest.approx(auclast + clast_pred / lz, rel=1e-9)
    aucifo = auclast + 1.0 / lz
    assert val(res, "AUCPEO") == pytest.approx(100 * (1.0 / lz) / aucifo, rel=1e-9)
    aumcifo = val(res, "AUMCLST") + 1.0 * 12 / lz + 1.0 / lz ** 2
    assert val(res, "AUMCIFO") == pytest.approx(aumcifo, rel=1e-9)
    assert val(res, "MRTEVIFO") == pytest.approx(aumcifo / aucifo, rel=1e-9)


@pytest.mark.parametrize("delta, npts", [(0.002, 4), (0.08, 3)])
def test_lambda_z_prefers_more_points_within_adj_r2_factor(delta, npts):
    # terminal line ln c = ln 16 - 0.2 t; the first point after Tmax is perturbed by delta
    t = [0.0, 2.0, 4.0, 8.0, 12.0]
    c = [100.0] + [16 * math.exp(-0.2 * x) for x in t[1:]]
    c[1] *= math.exp(delta)
    x4, y4 = np.array(t[1:]), np.log(c[1:])
    r = np.corrcoef(x4, y4)[0, 1]
    adj4 = 1 - (1 - r * r) * 3 / 2
    # precondition of the scenario: the 3-point fit is perfect (adj R^2 = 1)
    assert (adj4 > 1 - 1e-4) == (npts == 4)
    res = nca(serial(t, c))
    assert val(res, "LAMZNPT") == npts
    xs, ys = x4[-npts:], y4[-npts:]
    assert val(res, "LAMZ") == pytest.approx(-np.polyfit(xs, ys, 1)[0], rel=1e-9)
    r_n = np.corrcoef(xs, ys)[0, 1]
    assert val(res, "R2ADJ") == pytest.approx(1 - (1 - r_n ** 2) * (npts - 1) / (npts - 2),
                                              abs=1e-9)
    # with adj_r2_factor 0 the strictly best (3-point) fit wins
    res0 = nca(serial(t, c), options=NCAOptions(adj_r2_factor=0.0))
    assert val(res0, "LAMZNPT") == 3


def test_tmax_excluded_from_lambda_z_unless_allowed():
    # exact exponential from Tmax on: with Tmax allowed all 4 points fit perfectly
    t = [0.0, 1.0, 2.0, 3.0, 4.0]
    c = [0.0, 8.0, 4.0, 2.0, 1.0]
    res = nca(serial(t, c))
    assert val(res, "LAMZNPT") == 3
    assert param(res, "LAMZ")["POINTS_USED"] == "2;3;4"
    res = nca(serial(t, c), options=NCAOptions(allow_tmax_in_half_life=True))
    assert val(res, "LAMZNPT") == 4
    assert param(res, "LAMZ")["POINTS_USED"] == "1;2;3;4"
    assert val(res, "LAMZ") == pytest.approx(LN2, rel=1e-12)


def test_min_hl_points_option_and_no_lamz_flag():
    t = [0.0, 1.0, 2.0, 4.0, 8.0]
    c = [0.0, 10.0, 8.0, 4.0, 2.0]
    res = nca(serial(t, c), options=NCAOptions(min_hl_points=4))
    assert math.isnan(val(res, "LAMZ"))
    assert math.isnan(val(res, "AUCIFO"))
    assert "NO_LAMZ" in param(res, "LAMZ")["FLAGS"]
    assert "3 positive points after Tmax (need 4)" in param(res, "LAMZHL")["FLAGS"]
    assert not math.isnan(val(res, "AUCLST"))
    with pytest.raises(ValueError):
        NCAOptions(min_hl_points=2)


def test_rising_terminal_phase_gives_no_lambda_z():
    res = nca(serial([0, 1, 2, 3, 4], [10.0, 1.0, 2.0, 3.0, 4.0]))
    # Tmax is at t=0 (10); the points after it rise: no positive lambda_z
    assert math.isnan(val(res, "LAMZ"))
    assert "NO_LAMZ" in param(res, "LAMZ")["FLAGS"]


def test_intravenous_route_adds_mrtivlst():
    df = serial(T, C, ROUTE="IV")
    res = nca(df)
    assert val(res, "MRTIVLST") == pytest.approx(val(res, "MRTEVLST"))
    assert "MRTIVIFO" in set(res["PPTESTCD"])
    res2 = nca(serial(T, C, ROUTE="ip"))
    assert "MRTIVLST" not in set(res2["PPTESTCD"])


# --------------------------------------------------------------------------------------
# BLQ rules (first / middle / last)
# --------------------------------------------------------------------------------------


def blq_profile() -> pd.DataFrame:
    # t:  0    1   2     4  6  8    10
    # c:  BLQ  10  BLQ   5  2  BLQ  BLQ
    return pd.DataFrame({
        "ID": "1", "SITE": "lung",
        "TIME": [0, 1, 2, 4, 6, 8, 10],
        "DV": [None, 10, None, 5, 2, None, 1],   # the last one is below LLOQ 1.5
        "CENS": [1, 0, 1, 0, 0, 1, 0],
        "LLOQ": [1.5] * 7,
    })


def test_clean_blq_default_rules():
    t, c = clean_blq([0, 1, 2, 4, 6, 8, 10], [0, 10, 0, 5, 2, 0, 0])
    # leading BLQ kept as 0, middle dropped, first trailing kept as 0, later trailing dropped
    assert t.tolist() == [0, 1, 4, 6, 8]
    assert c.tolist() == [0, 10, 5, 2, 0]


def test_clean_blq_configurable_rules():
    times, conc = [0, 1, 2, 4, 6, 8, 10], [0, 10, 0, 5, 2, 0, 0]
    opts = NCAOptions(blq_first="drop", blq_middle="keep", blq_last="keep")
    t, c = clean_blq(times, conc, opts)
    assert t.tolist() == [1, 2, 4, 6, 8, 10] and c.tolist() == [10, 0, 5, 2, 0, 0]
    opts = NCAOptions(blq_first=0.75, blq_middle=0.5, blq_last="drop")
    t, c = clean_blq(times, conc, opts)
    assert t.tolist() == [0, 1, 2, 4, 6] and c.tolist() == [0.75, 10, 0.5, 5, 2]
    # all BLQ: the "first" rule applies to every value
    t, c = clean_blq([0, 1, 2], [0, 0, 0], NCAOptions(blq_first="drop"))
    assert t.tolist() == []
    t, c = clean_blq([0, 1, 2], [0, 0, 0])
    assert t.tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        NCAOptions(blq_middle="keep_first")


def test_blq_rules_in_nca_by_hand():
    res = nca(blq_profile())
    # used: (0,0) (1,10) (4,5) (6,2) and trailing (8,0); (2,BLQ) and (10,BLQ) dropped
    auclast = lin(0, 1, 0, 10) + logt(1, 4, 10, 5) + logt(4, 6, 5, 2)
    assert val(res, "AUCLST") == pytest.approx(auclast, rel=1e-12)
    assert val(res, "AUCALL") == pytest.approx(auclast + lin(6, 8, 2, 0), rel=1e-12)
    assert val(res, "TLST") == 6 and val(res, "CLST") == 2
    assert val(res, "PERSIST") == 6
    assert "PERSIST_AT_LAST_SAMPLE" not in param(res, "PERSIST")["FLAGS"]
    # middle BLQ kept as 0: linear down to 0 and linear up again
    res = nca(blq_profile(), options=NCAOptions(blq_middle="keep"))
    auclast_k = lin(0, 1, 0, 10) + lin(1, 2, 10, 0) + lin(2, 4, 0, 5) + logt(4, 6, 5, 2)
    assert val(res, "AUCLST") == pytest.approx(auclast_k, rel=1e-12)
    # trailing BLQ dropped: AUCALL stops at Tlast
    res = nca(blq_profile(), options=NCAOptions(blq_last="drop"))
    assert val(res, "AUCALL") == pytest.approx(auclast, rel=1e-12)
    # leading BLQ dropped: AUC starts at the first measurable value, flagged
    res = nca(blq_profile(), options=NCAOptions(blq_first="drop"))
    assert val(res, "AUCLST") == pytest.approx(auclast - lin(0, 1, 0, 10), rel=1e-12)
    assert "NO_TIME0" in param(res, "AUCLST")["FLAGS"]


def test_all_blq_profile():
    df = pd.DataFrame({"ID": "1", "SITE": "brain", "TIME": [1, 24, 72], "DV": None,
                       "CENS": 1, "LLOQ": 10})
    res = nca(df)
    assert val(res, "CMAX") == 0 and val(res, "AUCLST") == 0
    assert math.isnan(val(res, "TMAX")) and math.isnan(val(res, "TLST"))
    assert math.isnan(val(res, "PERSIST"))
    assert "ALL_BLQ" in param(res, "CMAX")["FLAGS"]


# --------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------


def test_flag_low_adjusted_r2():
    t = [0, 1, 2, 4, 6, 8]
    c = [0, 100, 30, 60, 10, 20]   # erratic terminal phase
    res = nca(serial(t, c))
    adj = val(res, "R2ADJ")
    assert adj < 0.9
    assert "LOW_R2ADJ" in param(res, "LAMZ")["FLAGS"].split(";")
    assert "LOW_R2ADJ" in param(res, "AUCIFO")["FLAGS"].split(";")
    assert "LOW_R2ADJ" not in param(res, "AUCLST")["FLAGS"]


def test_flag_short_span_and_high_extrapolation():
    # half-life 10 h sampled over 4 h after Tmax: span 0.4 half-lives, > 20 % extrapolated
    t = [0.0, 1, 2, 3, 4, 5]
    c = [0.0] + [100 * math.exp(-LN2 / 10 * x) for x in t[1:]]
    res = nca(serial(t, c))
    assert val(res, "LAMZSPN") == pytest.approx((5 - 2) / 10, rel=1e-6)
    assert "SHORT_SPAN" in param(res, "LAMZ")["FLAGS"].split(";")
    assert val(res, "AUCPEO") > 20
    assert "HIGH_EXTRAP" in param(res, "AUCIFO")["FLAGS"].split(";")
    assert "HIGH_EXTRAP" in param(res, "AUCPEO")["FLAGS"].split(";")
    assert "PERSIST_AT_LAST_SAMPLE" in param(res, "PERSIST")["FLAGS"]


def test_no_flags_for_a_well_sampled_profile():
    t = [0.0, 0.5, 1, 2, 4, 8, 16, 24, 48]
    c = [0.0] + [100 * math.exp(-0.3 * x) for x in t[1:]]
    res = nca(serial(t, c))
    for code in ("LAMZ", "AUCIFO", "AUCPEO", "AUCLST", "CMAX"):
        assert param(res, code)["FLAGS"] == "", code
    assert val(res, "LAMZ") == pytest.approx(0.3, rel=1e-9)
    assert val(res, "LAMZNPT") == 7   # exact exponential: most points win


def test_flag_thresholds_are_options():
    t = [0.0, 1, 2, 3, 4, 5]
    c = [0.0] + [100 * math.exp(-LN2 / 10 * x) for x in t[1:]]
    res = nca(serial(t, c), options=NCAOptions(span_ratio_min=0.1, max_extrap_pct=99))
    assert "SHORT_SPAN" not in param(res, "LAMZ")["FLAGS"]
    assert "HIGH_EXTRAP" not in param(res, "AUCIFO")["FLAGS"]


# --------------------------------------------------------------------------------------
# Sparse (destructive) sampling: Bailer's method
# --------------------------------------------------------------------------------------

SPARSE_T = [1.0, 4.0, 24.0]
SPARSE_V = {1.0: [900.0, 1100.0, 1000.0], 4.0: [500.0, 700.0, 540.0], 24.0: [80.0, 120.0, 70.0]}


def sparse_frame(site="liver") -> pd.DataFrame:
    rows, k = [], 0
    for t, vs in SPARSE_V.items():
        for v in vs:
            k += 1
            rows.append((f"m{k}", t, v, site))
    return frame(rows)


def bailer_by_hand():
    means = [statistics.mean(SPARSE_V[t]) for t in SPARSE_T]
    sds = [statistics.stdev(SPARSE_V[t]) for t in SPARSE_T]
    w = [(4 - 1) / 2, (24 - 1) / 2, (24 - 4) / 2]
    auc = sum(wi * m for wi, m in zip(w, means))
    var = sum(wi ** 2 * s ** 2 / 3 for wi, s in zip(w, sds))
    return means, auc, math.sqrt(var)


def test_sparse_detected_and_bailer_se_by_hand():
    res = nca(sparse_frame())
    means, auc, se = bailer_by_hand()
    row = param(res, "AUCLST")
    assert row["METHOD"] == "sparse"
    assert row["PPORRES"] == pytest.approx(auc, rel=1e-12)
    # linear trapezoid on the means gives the same AUC
    assert auc == pytest.approx(lin(1, 4, means[0], means[1]) + lin(4, 24, means[1], means[2]))
    assert row["SE"] == pytest.approx(se, rel=1e-12)
    assert row["CI_LOW"] == pytest.approx(auc - Z975 * se, rel=1e-9)
    assert row["CI_HIGH"] == pytest.approx(auc + Z975 * se, rel=1e-9)
    assert row["N"] == 9
    assert row["ID"] == ""
    assert val(res, "CMAX") == pytest.approx(means[0]) and val(res, "TMAX") == 1
    assert val(res, "CLST") == pytest.approx(means[2]) and val(res, "TLST") == 24
    e = param(res, "EXPOSURE")
    assert e["PPORRES"] == pytest.approx(auc / 24) and e["SE"] == pytest.approx(se / 24)
    # only AUC-type rows carry an SE
    assert math.isnan(param(res, "CMAX")["SE"])


def test_sparse_ci_level_option():
    res = nca(sparse_frame(), options=NCAOptions(ci_level=0.90))
    _, auc, se = bailer_by_hand()
    z95 = 1.6448536269514722  # 95 % quantile (tabulated)
    assert param(res, "AUCLST")["CI_LOW"] == pytest.approx(auc - z95 * se, rel=1e-9)


def test_bailer_auc_function_against_explicit_sum():
    t = np.array([0.0, 2.0, 5.0, 9.0])
    m = np.array([0.0, 6.0, 4.0, 1.0])
    s = np.array([0.0, 1.0, 2.0, 0.5])
    n = np.array([3, 4, 3, 5])
    auc, se = bailer_auc(t, m, s, n)
    w = [1.0, 2.5, 3.5, 2.0]
    assert auc == pytest.approx(sum(a * b for a, b in zip(w, m)))
    assert se == pytest.approx(math.sqrt(sum(a * a * b * b / c for a, b, c in zip(w, s, n))))


def test_sparse_blq_animals_count_as_zero():
    df = sparse_frame()
    df["CENS"] = 0
    df["LLOQ"] = 75.0
    # the animal with 70 at 24 h is below LLOQ 75 -> censored -> 0 in the mean
    res = nca(df)
    vals24 = [80.0, 120.0, 0.0]
    m24 = statistics.mean(vals24)
    assert val(res, "CLST") == pytest.approx(m24)
    means = [statistics.mean(SPARSE_V[1.0]), statistics.mean(SPARSE_V[4.0]), m24]
    sds = [statistics.stdev(SPARSE_V[1.0]), statistics.stdev(SPARSE_V[4.0]),
           statistics.stdev(vals24)]
    w = [1.5, 11.5, 10.0]
    row = param(res, "AUCLST")
    assert row["PPORRES"] == pytest.approx(sum(a * b for a, b in zip(w, means)))
    assert row["SE"] == pytest.approx(math.sqrt(sum(a * a * s * s / 3 for a, s in zip(w, sds))))


def test_sparse_single_animal_time_point_flags_se():
    df = sparse_frame()
    df = df[~((df["TIME"] == 24) & (df["ID"] != "m7"))]  # one animal left at 24 h
    res = nca(df)
    row = param(res, "AUCLST")
    assert math.isnan(row["SE"])
    assert "SE_NOT_ESTIMABLE" in row["FLAGS"]


def test_sparse_forced_off_gives_per_animal_rows():
    res = nca(sparse_frame(), sparse=False)
    cmax = res[res["PPTESTCD"] == "CMAX"]
    assert len(cmax) == 9 and set(cmax["METHOD"]) == {"serial"}


def test_sparse_forced_on_serial_data_is_flagged():
    df = pd.concat([serial([0, 1, 2], [0, 10, 5], ident="a"),
                    serial([0, 1, 2], [0, 14, 7], ident="b")])
    res = nca(df)   # auto: serial, one profile per animal
    assert set(res.loc[res["PPTESTCD"] == "CMAX", "ID"]) == {"a", "b"}
    assert val(res, "AUCLST", ident="a") == pytest.approx(lin(0, 1, 0, 10) + logt(1, 2, 10, 5))
    res = nca(df, sparse=True)
    row = param(res, "AUCLST")
    assert row["METHOD"] == "sparse" and "SERIAL_POOLED" in row["FLAGS"]
    assert row["PPORRES"] == pytest.approx(lin(0, 1, 0, 12) + lin(1, 2, 12, 6))
    res = nca(df, sparse="yes")
    assert param(res, "AUCLST")["METHOD"] == "sparse"
    with pytest.raises(ValueError):
        nca(df, sparse="sometimes")


def test_detection_is_per_site_blood_serial_tissue_destructive():
    blood = pd.concat([serial([0.1, 1, 4], [500, 100, 20], site="blood", ident=i)
                       for i in ("m1", "m2", "m3")])
    liver = sparse_frame("liver")
    liver["ID"] = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]
    res = nca(pd.concat([blood, liver]))
    methods = res[res["PPTESTCD"] == "CMAX"].groupby("SITE")["METHOD"].agg(set)
    assert methods["blood"] == {"serial"} and methods["liver"] == {"sparse"}


def test_summary_data_use_given_sd_and_n():
    df = pd.DataFrame({
        "ID": "Smith2010", "SITE": "lung",
        "TIME": [0.5, 24.0, 72.0], "DV": [4000.0, 1000.0, 100.0],
        "N": [5, 4, 3], "SD": [800.0, 300.0, 50.0],
    })
    res = nca(df)
    w = [(24 - 0.5) / 2, (72 - 0.5) / 2, (72 - 24) / 2]
    auc = w[0] * 4000 + w[1] * 1000 + w[2] * 100
    se = math.sqrt(w[0] ** 2 * 800 ** 2 / 5 + w[1] ** 2 * 300 ** 2 / 4 + w[2] ** 2 * 50 ** 2 / 3)
    row = param(res, "AUCLST")
    assert row["METHOD"] == "sparse"
    assert row["PPORRES"] == pytest.approx(auc)
    assert row["SE"] == pytest.approx(se)
    assert row["N"] == 12


def test_summary_data_without_sd_flag_the_se():
    df = pd.DataFrame({"ID": "r", "SITE": "lung", "TIME": [1.0, 2.0], "DV": [5.0, 3.0],
                       "N": [3, 3], "SD": [1.0, None]})
    row = param(nca(df), "AUCLST")
    assert math.isnan(row["SE"]) and "SD missing" in row["FLAGS"]


# --------------------------------------------------------------------------------------
# Cell-therapy figures
# --------------------------------------------------------------------------------------


def test_tissue_to_blood_ratio_and_targeting_efficiency():
    opts = NCAOptions(auc_method="linear")
    df = pd.concat([
        serial([0, 1, 2, 4], [0, 40, 20, 10], site="lung", GROUP="A"),
        serial([0, 1, 2, 4], [0, 10, 5, 2], site="blood", GROUP="A"),
        serial([0, 1, 2, 4], [0, 2, 4, 6], site="liver", GROUP="A"),
    ])
    res = nca(df, options=opts)
    auc = {
        "lung": lin(0, 1, 0, 40) + lin(1, 2, 40, 20) + lin(2, 4, 20, 10),
        "blood": lin(0, 1, 0, 10) + lin(1, 2, 10, 5) + lin(2, 4, 5, 2),
        "liver": lin(0, 1, 0, 2) + lin(1, 2, 2, 4) + lin(2, 4, 4, 6),
    }
    total = sum(auc.values())
    assert val(res, "TBRATIO", site="lung") == pytest.approx(auc["lung"] / auc["blood"])
    assert val(res, "TBRATIO", site="liver") == pytest.approx(auc["liver"] / auc["blood"])
    assert not ((res["PPTESTCD"] == "TBRATIO") & (res["SITE"] == "blood")).any()
    for site in auc:
        assert val(res, "TGTEFF", site=site) == pytest.approx(auc[site] / total)
    assert param(res, "TBRATIO", site="lung")["PPORRESU"] == ""


def test_no_tbratio_without_blood_and_mixed_units_for_tgteff():
    df = pd.concat([
        serial([0, 1, 2], [0, 4, 2], site="lung", DVU="cells/g"),
        serial([0, 1, 2], [0, 3, 1], site="liver", DVU="cells"),
    ])
    res = nca(df)
    assert "TBRATIO" not in set(res["PPTESTCD"])
    tg = param(res, "TGTEFF", site="lung")
    assert math.isnan(tg["PPORRES"]) and "MIXED_UNITS" in tg["FLAGS"]


def test_tbratio_units_for_concentrations():
    df = pd.concat([
        serial([0, 1, 2], [0, 4, 2], site="lung", DVU="cells/g"),
        serial([0, 1, 2], [0, 3, 1], site="blood", DVU="cells/mL"),
    ])
    assert param(nca(df), "TBRATIO", site="lung")["PPORRESU"] == "mL/g"


def test_groups_and_assays_are_separate():
    df = pd.concat([
        serial([0, 1, 2], [0, 4, 2], GROUP="low", ASSAY="qpcr"),
        serial([0, 1, 2], [0, 8, 4], GROUP="high", ASSAY="qpcr"),
        serial([0, 1, 2], [0, 9, 3], GROUP="high", ASSAY="flow"),
    ])
    res = nca(df)
    cmax = res[res["PPTESTCD"] == "CMAX"].set_index(["GROUP", "ASSAY"])["PPORRES"]
    assert cmax[("low", "qpcr")] == 4 and cmax[("high", "qpcr")] == 8
    assert cmax[("high", "flow")] == 9


# --------------------------------------------------------------------------------------
# Data NCA refuses
# --------------------------------------------------------------------------------------


def test_several_units_in_one_site_refused():
    df = pd.concat([serial([0, 1], [0, 4], DVU="cells/g"),
                    serial([2], [1], DVU="cells")])
    with pytest.raises(DataError, match="several units"):
        nca(df)


def test_ct_refused():
    with pytest.raises(DataError, match="Ct"):
        nca(serial([0, 1], [30, 28], DVU="Ct"))


def test_bad_frame_is_validated():
    with pytest.raises(DataError, match=r"row 2, column TIME"):
        nca(serial([-1, 1], [3, 4]))


def test_nca_accepts_studydata():
    s = study_from_frame(serial(T, C))
    assert val(nca(s), "CMAX") == 10


def test_zero_at_time0_option():
    t, c = [1.0, 2.0, 4.0], [10.0, 5.0, 2.5]
    res = nca(serial(t, c))
    assert val(res, "AUCLST") == pytest.approx(logt(1, 2, 10, 5) + logt(2, 4, 5, 2.5))
    assert "NO_TIME0" in param(res, "AUCLST")["FLAGS"]
    res = nca(serial(t, c), options=NCAOptions(assume_zero_at_time0=True))
    assert val(res, "AUCLST") == pytest.approx(lin(0, 1, 0, 10) + logt(1, 2, 10, 5)
                                               + logt(2, 4, 5, 2.5))
    assert "NO_TIME0" not in param(res, "AUCLST")["FLAGS"]


def test_invalid_options():
    with pytest.raises(ValueError, match="auc_method"):
        NCAOptions(auc_method="spline")
    with pytest.raises(ValueError):
        NCAOptions(ci_level=1.5)
    assert NCAOptions(auc_method="Lin-Up/Log-Down").auc_method == "lin up/log down"


# --------------------------------------------------------------------------------------
# Property: exact exponential decline
# --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(k=st.floats(0.01, 2.0), c0=st.floats(1.0, 1e8),
       dt=st.lists(st.floats(0.1, 5.0), min_size=4, max_size=8))
def test_exponential_decline_exact(k, c0, dt):
    t = np.cumsum([0.0] + dt)
    c = c0 * np.exp(-k * t)
    res = nca(serial(t, c, ident="x"), options=NCAOptions(allow_tmax_in_half_life=True))
    # log-down trapezoids integrate an exponential exactly: c0 (1 - e^{-k T}) / k
    exact = c0 * (1 - math.exp(-k * t[-1])) / k
    assert val(res, "AUCLST") == pytest.approx(exact, rel=1e-9)
    assert val(res, "LAMZ") == pytest.approx(k, rel=1e-6)
    assert val(res, "AUCIFO") == pytest.approx(c0 / k, rel=1e-6)
    assert val(res, "LAMZNPT") == len(t)
