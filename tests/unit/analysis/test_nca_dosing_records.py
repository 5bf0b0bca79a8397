"""``nca`` takes DOSE (and ROUTE) from NONMEM-style dosing records when the rows give none."""

import numpy as np
import pandas as pd
import pytest

from mscpk.analysis.nca.driver import nca

TIMES = [0.5, 1, 2, 4, 8, 24]


def _frame(doses, *, records=True, addl=0, dose_column=False):
    rows = []
    for i, (group, amt) in enumerate(doses):
        if records:
            rows.append({"ID": f"m{i}", "GROUP": group, "TIME": 0.0, "EVID": 1, "AMT": amt, "ROUTE": "iv",
                         "ADDL": addl, "II": 24.0 if addl else None, "DV": None, "SITE": None})
        for t in TIMES:
            row = {"ID": f"m{i}", "GROUP": group, "TIME": t, "DV": 1e5 * np.exp(-t / 5) * amt / 1e6, "SITE": "blood"}
            if records:
                row.update(EVID=0)
            else:
                row.update(ROUTE="iv")
            if dose_column:
                row.update(DOSE=amt)
            rows.append(row)
    return pd.DataFrame(rows)


def _param(pp, code):
    return pp[pp.PPTESTCD == code].groupby("GROUP")["PPORRES"].mean()


def test_record_doses_give_what_a_dose_column_gives():
    doses = [("A", 1e6), ("A", 1e6), ("B", 4e6)]
    from_records = nca(_frame(doses))
    from_column = nca(_frame(doses, records=False, dose_column=True))
    for code in ("CLO", "AUCLSTD", "CMAXD"):
        pd.testing.assert_series_equal(_param(from_records, code), _param(from_column, code))
    assert _param(from_records, "CLO").notna().all()


def test_repeated_administrations_count_in_the_dose():
    once = _param(nca(_frame([("A", 1e6)])), "CLO")["A"]
    three = _param(nca(_frame([("A", 1e6)], addl=2)), "CLO")["A"]
    assert three == pytest.approx(3 * once, rel=1e-12)


def test_without_records_or_a_dose_column_there_is_no_dose():
    pp = nca(_frame([("A", 1e6)], records=False))
    assert "CLO" not in set(pp.PPTESTCD) or _param(pp, "CLO").isna().all()


def test_a_dose_given_on_the_rows_wins_over_the_records():
    df = _frame([("A", 1e6)], dose_column=True)
    df.loc[df.EVID == 0, "DOSE"] = 2e6
    assert _param(nca(df), "CLO")["A"] == pytest.approx(2 * _param(nca(_frame([("A", 1e6)])), "CLO")["A"], rel=1e-12)
