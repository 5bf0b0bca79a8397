"""The IV bolus convention of NCA (issue 14, class 8), checked against a published output of
Phoenix WinNonlin 6.3/7.0 on public data: R's ``Indometh`` dataset (6 subjects, IV bolus of
25 mg, concentrations in mg/L), tables "Indometh (n=6), Linear, IV Bolus" and "..., Log, IV
Bolus" of S. Han, "Validation of Noncompartmental Analysis Performed by NonCompart R package"
(2018; github.com/asancpt/NonCompart-tests, validation.md, WinNonlin column). WinNonlin's
settings there: best-fit lambda_z (adjusted R^2 within 1e-4, most points, Tmax allowed for a
bolus), C0 back-extrapolated log-linearly from the first two points, areas from time 0, dose
25. Here the same numbers are read as cells/mL and a dose of 25 cells.

Tissue profiles and profiles without ROUTE iv keep today's convention (no C0, no CL/V)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mscpk.analysis.nca import NCAOptions, nca

TIMES = (0.25, 0.5, 0.75, 1, 1.25, 2, 3, 4, 5, 6, 8)
#: R datasets::Indometh, conc [mg/L] of subjects 1-6 at TIMES [h]
INDOMETH = {
    1: (1.5, 0.94, 0.78, 0.48, 0.37, 0.19, 0.12, 0.11, 0.08, 0.07, 0.05),
    2: (2.03, 1.63, 0.71, 0.7, 0.64, 0.36, 0.32, 0.2, 0.25, 0.12, 0.08),
    3: (2.72, 1.49, 1.16, 0.8, 0.8, 0.39, 0.22, 0.12, 0.11, 0.08, 0.08),
    4: (1.85, 1.39, 1.02, 0.89, 0.59, 0.4, 0.16, 0.11, 0.1, 0.07, 0.07),
    5: (2.05, 1.04, 0.81, 0.39, 0.3, 0.23, 0.13, 0.11, 0.08, 0.1, 0.06),
    6: (2.31, 1.44, 1.03, 0.84, 0.64, 0.42, 0.24, 0.17, 0.13, 0.1, 0.09),
}
#: WinNonlin, linear trapezoidal (Test 3 of the validation), subjects 1-6
LINEAR = {
    "C0": (2.3936170, 2.5281595, 4.9653691, 2.4622302, 4.0408654, 3.7056250),
    "CMAX": (1.5, 2.03, 2.72, 1.85, 2.05, 2.31),
    "TMAX": (0.25,) * 6,
    "LAMZNPT": (3, 9, 10, 11, 8, 9),
    "LAMZ": (0.1583205, 0.3022800, 0.4218926, 0.4554455, 0.2527478, 0.3535205),
    "LAMZLL": (5.0, 0.75, 0.5, 0.25, 1.0, 0.75),
    "R2ADJ": (0.9941335, 0.9401933, 0.8603043, 0.8586943, 0.8544516, 0.8902329),
    "AUCLST": (2.0404521, 3.2485199, 3.5544211, 2.7852788, 2.4588582, 3.3357031),
    "AUCIFO": (2.3562672, 3.5131752, 3.7440428, 2.9389745, 2.6962490, 3.5902852),
    "AUCIFP": (2.3578369, 3.4958268, 3.6491670, 2.8554521, 2.6549884, 3.4947956),
    "AUCPEO": (13.4031956, 7.5332215, 5.0646241, 5.2295685, 8.8044838, 7.0908603),
    "AUCPBEO": (20.6556421, 16.2180906, 25.6586578, 18.3407098, 28.2376805, 20.9441054),
    "AUMCLST": (3.2712500, 6.3987500, 5.0062500, 4.3818750, 3.7075000, 5.5325000),
    "AUMCIFO": (7.7925545, 9.3915223, 6.9726784, 5.9489028, 6.5458663, 8.2892908),
    "MRTIVLST": (1.6031986, 1.9697432, 1.4084572, 1.5732267, 1.5078137, 1.6585709),
    "MRTIVIFO": (3.3071607, 2.6732291, 1.8623394, 2.0241424, 2.4277678, 2.3088112),
    "CMAXD": (0.06, 0.0812, 0.1088, 0.074, 0.082, 0.0924),
    "AUCIFOD": (0.0942507, 0.1405270, 0.1497617, 0.1175590, 0.1078500, 0.1436114),
    "CLO": (10.6100020, 7.1160698, 6.6772740, 8.5063686, 9.2721407, 6.9632351),
    "VZO": (67.0159780, 23.5413171, 15.8269504, 18.6770303, 36.6853493, 19.6968341),
    "VSSO": (35.0889819, 19.0228851, 12.4353504, 17.2181012, 22.5106044, 16.0767951),
}
#: WinNonlin, linear up / log down (Test 4), the values the AUC rule changes
LOG_DOWN = {
    "AUCLST": (2.0098984, 3.2028878, 3.4743971, 2.7483832, 2.3983736, 3.2908266),
    "AUCIFO": (2.3257135, 3.4675431, 3.6640188, 2.9020789, 2.6357645, 3.5454087),
    "AUCPBEO": (20.5542573, 16.3658871, 25.4552663, 18.4484084, 27.8259014, 20.8230657),
    "VZO": (67.8963898, 23.8511160, 16.1726192, 18.9144805, 37.5271908, 19.9461495),
    "CLO": (10.7493892,),
}


def indometh(site: str = "blood", route: str = "iv") -> pd.DataFrame:
    return pd.DataFrame([{"ID": str(s), "TIME": t, "DV": c, "SITE": site, "DVU": "cells/mL",
                          "ROUTE": route, "DOSE": 25.0}
                         for s, conc in INDOMETH.items() for t, c in zip(TIMES, conc)])


def table(pp: pd.DataFrame) -> pd.DataFrame:
    return pp[pp["METHOD"] == "serial"].pivot(index="ID", columns="PPTESTCD", values="PPORRES")


@pytest.mark.parametrize("method, expected", [("linear", LINEAR),
                                              ("lin up/log down", LOG_DOWN)])
def test_iv_bolus_blood_profiles_match_winnonlin(method, expected):
    opts = NCAOptions(auc_method=method, allow_tmax_in_half_life=True)
    got = table(nca(indometh(), options=opts))
    for code, values in expected.items():
        np.testing.assert_allclose(got[code].to_numpy()[:len(values)], values, rtol=2e-6,
                                   atol=5e-8, err_msg=code)


def test_convention_is_named_and_has_units():
    pp = nca(indometh(), options=NCAOptions(allow_tmax_in_half_life=True))
    one = pp[pp["ID"] == "1"].set_index("PPTESTCD")
    assert one.loc["C0", "FLAGS"] == "IV_BOLUS_C0:logslope"
    assert "IV_BOLUS_C0:logslope" in one.loc["AUCLST", "FLAGS"].split(";")
    assert "NO_TIME0" not in one.loc["AUCLST", "FLAGS"]
    assert one.loc["CLO", "PPORRESU"] == "mL/h" and one.loc["VZO", "PPORRESU"] == "mL"
    assert one.loc["VSSO", "PPORRESU"] == "mL" and one.loc["AUCIFOD", "PPORRESU"] == "h/mL"
    assert one.loc["CMAXD", "PPORRESU"] == "1/mL" and one.loc["C0", "PPORRESU"] == "cells/mL"


def test_tissue_profiles_stay_as_today():
    """The same numbers in the liver: no C0, area from the first sample (NO_TIME0), no CL/V;
    the per-dose exposures still come with DOSE."""
    pp = nca(indometh(site="liver"), options=NCAOptions(auc_method="linear",
                                                         allow_tmax_in_half_life=True))
    codes = set(pp["PPTESTCD"])
    assert not codes & {"C0", "AUCPBEO", "CLO", "VZO", "VSSO"}
    assert {"CMAXD", "AUCLSTD", "AUCIFOD"} <= codes
    got = table(pp)
    first = (INDOMETH[1][0] + INDOMETH[1][1]) / 2 * 0.25  # today's area starts at 0.25 h
    assert got.loc["1", "AUCLST"] == pytest.approx(LINEAR["AUCLST"][0]
                                                   - (LINEAR["C0"][0] + 1.5) / 2 * 0.25)
    assert first > 0
    assert "NO_TIME0" in pp.loc[(pp["ID"] == "1") & (pp["PPTESTCD"] == "AUCLST"),
                                "FLAGS"].iloc[0]


def test_extravascular_blood_profile_has_no_c0():
    codes = set(nca(indometh(route="ip"))["PPTESTCD"])
    assert "C0" not in codes and "CLO" not in codes


def test_convention_can_be_switched_off():
    pp = nca(indometh(), options=NCAOptions(iv_bolus_c0=False))
    assert "C0" not in set(pp["PPTESTCD"])


def test_c0_falls_back_to_the_first_value_when_the_profile_rises():
    """PKNCA's order: C0 observed at time 0, else log-linear from the first two points when
    they fall, else the first value."""
    df = pd.DataFrame({"ID": "a", "TIME": [1.0, 2.0, 4.0, 8.0], "DV": [50.0, 80.0, 40.0, 10.0],
                       "SITE": "blood", "ROUTE": "iv"})
    one = nca(df).set_index("PPTESTCD")
    assert one.loc["C0", "PPORRES"] == 50.0 and one.loc["C0", "FLAGS"] == "IV_BOLUS_C0:c1"
    assert "CLO" not in one.index  # no DOSE: no clearance
    df0 = pd.DataFrame({"ID": "a", "TIME": [0.0, 1.0, 2.0, 4.0], "DV": [0.0, 80.0, 40.0, 10.0],
                        "SITE": "blood", "ROUTE": "iv"})
    one = nca(df0).set_index("PPTESTCD")  # a measured 0 at time 0 is the pre-dose sample
    assert one.loc["C0", "PPORRES"] == pytest.approx(160.0)
    assert one.loc["AUCLST", "PPORRES"] == pytest.approx(
        80 / math.log(2) + 40 / math.log(2) + 2 * 30 / math.log(4))
