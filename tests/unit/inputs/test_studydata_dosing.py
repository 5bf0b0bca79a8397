"""NONMEM-style dosing records in study data (issue 11, item 5): EVID, AMT, CMT or ROUTE, II,
ADDL, RATE or DUR rows become a scenario's doses (docs/studydata.md, "Dosing records")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.errors import DataError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.resolve import scenario_parameters
from mscpk.inputs.studydata import (DOSING_COLUMNS, doses_from_records, read_study, scenario_with_doses,
                                    study_from_frame)
from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
BASE = {"subject": {"species": "mouse"}, "run": {"end_h": 120.0},
        "dose": [{"route": "iv", "cells": 5e5}]}
HEADER = "ID,TIME,EVID,AMT,CMT,ROUTE,RATE,DUR,II,ADDL,DV,SITE"


def study(*rows: str, header: str = HEADER):
    """Study data from CSV lines (dosing rows and one observation of m1)."""
    lines = [header, *rows]
    if not any(r.split(",")[2] == "0" for r in rows):
        lines.append("m1,1,0,,,,,,,,5e4,lung")
    text = "\n".join(lines)
    return study_from_frame(pd.read_csv(pd.io.common.StringIO(text), dtype=str,
                                        keep_default_na=False))


def test_a_bolus():
    s = study("m1,0,1,1e6,,iv,,,,,,")
    assert doses_from_records(s) == [{"route": "iv", "cells": 1e6, "time_h": 0.0,
                                      "infusion_min": 0.0, "site": None, "every_h": None,
                                      "count": 1}]
    assert s.frame["ROW"].tolist() == [3] and s.frame["DV"].tolist() == [5e4]  # the observation


def test_the_observations_are_the_data_as_without_dosing_records():
    s = study("m1,0,1,1e6,,iv,,,,,,", "m1,1,0,,,,,,,,5e4,lung", "m1,24,0,.,,,,,,,2e3,lung")
    plain = study_from_frame(pd.DataFrame({"ID": ["m1", "m1"], "TIME": [1, 24],
                                           "DV": [5e4, 2e3], "SITE": ["lung", "lung"]}))
    cols = ["ID", "TIME", "SITE", "DV", "CENS"]
    pd.testing.assert_frame_equal(s.frame[cols], plain.frame[cols])
    assert not set(DOSING_COLUMNS) & set(s.frame.columns)  # dosing columns are not carried


@pytest.mark.parametrize("rate, dur, minutes", [("2e6", "", 30.0), ("", "0.25", 15.0),
                                                ("0", "", 0.0)])
def test_an_infusion_by_rate_or_duration(rate, dur, minutes):
    s = study(f"m1,0,1,1e6,,iv,{rate},{dur},,,,")
    assert doses_from_records(s)[0]["infusion_min"] == pytest.approx(minutes, rel=1e-12)


def test_cmt_may_name_the_route_by_any_spelling():
    s = study("m1,0,1,1e6,intraperitoneal,,,,,,,")
    assert doses_from_records(s)[0]["route"] == "ip"


def test_ii_addl_equal_the_scenarios_every_h_count():
    s = study("m1,2,1,1e6,,iv,,,24,2,,")
    [dose] = doses_from_records(s)
    assert (dose["every_h"], dose["count"]) == (24.0, 3)
    from_records = scenario_with_doses(scenario_from_dict(BASE), s)
    written = scenario_from_dict({**BASE, "dose": [{"route": "iv", "cells": 1e6, "time_h": 2.0,
                                                    "every_h": 24.0, "count": 3}]})
    assert from_records.dose == written.dose
    assert [d.time_h for d in from_records.dose] == [2.0, 26.0, 50.0]


def test_a_round_trip_with_a_scenario():
    """A scenario's doses written as records and read back give the same scenario."""
    sc = scenario_from_dict({"subject": {"species": "mouse"}, "run": {"end_h": 200.0}, "dose": [
        {"route": "iv", "cells": 1e6, "infusion_min": 30.0, "every_h": 48.0, "count": 3},
        {"route": "ia", "cells": 2e5, "time_h": 12.0, "site": "kidney"}]})
    rows = [f"m1,{d.time_h:g},1,{d.cells:g},{d.route},,,{d.infusion_min / 60!r},,,,{d.site or ''}"
            for d in sc.dose]
    rebuilt = scenario_with_doses(scenario_from_dict(BASE), study(*rows))
    assert rebuilt.dose == tuple(sorted(sc.dose, key=lambda d: d.time_h))  # in time order
    assert rebuilt.subject == sc.subject and rebuilt.run.end_h == 120.0  # base kept
    assert len(scenario_with_doses(sc, study("m1,0,1,1e6,,iv,,,,,,")).dose) == 1  # replaced


def test_a_spreadsheet_file(tmp_path):
    path = tmp_path / "d.xlsx"
    pd.DataFrame({"ID": ["m1", "m1"], "TIME": [0, 6], "EVID": [1, 0], "AMT": [3e5, None],
                  "ROUTE": ["ip", None], "DV": [None, 1e3], "SITE": [None, "peritoneum"]}
                 ).to_excel(path, index=False)
    assert doses_from_records(read_study(path))[0] == {
        "route": "ip", "cells": 3e5, "time_h": 0.0, "infusion_min": 0.0, "site": None,
        "every_h": None, "count": 1}


def test_doses_per_group_and_the_same_for_every_id():
    h = "GROUP," + HEADER
    s = study("low,m1,0,1,1e5,,iv,,,,,,", "low,m1,1,0,,,,,,,,5e4,lung",
              "high,m2,0,1,1e6,,iv,,,,,,", "high,m2,1,0,,,,,,,,5e5,lung", header=h)
    assert doses_from_records(s, "low")[0]["cells"] == 1e5
    assert doses_from_records(s, "high")[0]["cells"] == 1e6
    with pytest.raises(DataError, match=r"different doses \(ID 'low/m1', rows 2; ID 'high/m2'"):
        doses_from_records(s)
    with pytest.raises(DataError, match="GROUP 'mid' has no dosing records; groups with doses: "
                                        "'low', 'high'"):
        doses_from_records(s, "mid")


def test_an_observed_id_without_doses_is_an_error():
    s = study("m1,0,1,1e6,,iv,,,,,,", "m2,1,0,,,,,,,,5e4,lung")
    with pytest.raises(DataError, match=r"observed IDs without dosing records .*ID 'm2' "
                                        r"\(first in rows 3\)"):
        doses_from_records(s)


def test_no_dosing_records():
    s = study_from_frame(pd.DataFrame({"ID": ["m1"], "TIME": [1], "DV": [1.0], "SITE": ["lung"]}))
    assert len(s.dosing) == 0
    with pytest.raises(DataError, match=r"no dosing records \(rows with EVID 1\)"):
        doses_from_records(s)


@pytest.mark.parametrize("row, message", [
    ("m1,0,4,1e6,,iv,,,,,,", "row 2, column EVID: EVID '4' is not allowed; allowed: "
                             "0 (observation), 1 (dose)"),
    ("m1,0,1,,,iv,,,,,,", "row 2, column AMT: a dosing row (EVID 1) needs AMT"),
    ("m1,0,1,0,,iv,,,,,,", "row 2, column AMT: AMT 0 on a dosing row"),
    ("m1,0,1,2e12,,iv,,,,,,", "row 2, column AMT: not a valid dose: AMT gives cells = "
                              "2000000000000.0: Input should be less than or equal to"),
    ("m1,0,1,1e6,2,,,,,,,", "row 2, column CMT: CMT '2' is a compartment number; mscpk doses "
                            "go by route, so CMT must name a route; allowed: iv, ia"),
    ("m1,0,1,1e6,,oral,,,,,,", "row 2, column ROUTE: ROUTE 'oral' is not a known route; "
                               "allowed: iv"),
    ("m1,0,1,1e6,,,,,,,,", "row 2, column ROUTE: a dosing row (EVID 1) needs its route in "
                           "ROUTE or CMT"),
    ("m1,0,1,1e6,ip,iv,,,,,,", "row 2, column CMT: CMT names route 'ip' but ROUTE names 'iv'"),
    ("m1,0,1,1e6,,iv,-1,,,,,", "row 2, column RATE: RATE '-1': modelled rates"),
    ("m1,0,1,1e6,,iv,1e6,2,,,,", "row 2, column DUR: RATE 1e+06 and DUR 2 both given"),
    ("m1,0,1,1e6,,iv,,,,2,,", "row 2, column II: ADDL 2 additional doses need II > 0"),
    ("m1,0,1,1e6,,iv,,,24,1.5,,", "row 2, column ADDL: ADDL '1.5' on a dosing row "
                                  "(EVID 1) must be a whole number >= 0"),
    ("m1,0,1,1e6,,iv,,1,0.5,2,,", "row 2, column II: not a valid dose: every_h = 0.5 h is "
                                  "shorter than the infusion"),
    ("m1,0,1,1e6,,iv,,,,,,lung", "row 2, column SITE: route 'iv' takes no site"),
    ("m1,0,1,1e6,,ia,,,,,,", "row 2, column SITE: route 'ia' needs SITE"),
    ("m1,0,1,1e6,,iv,,,,,7,", "row 2, column DV: DV '7' on a dosing row (EVID 1)"),
    ("m1,-1,1,1e6,,iv,,,,,,", "row 2, column TIME: TIME '-1' on a dosing row"),
    ("m1,1,0,5,,,,,,,5e4,lung", "row 2, column AMT: AMT '5' on an observation row (EVID 0 "
                                "or empty); a dose needs EVID 1"),
])
def test_bad_rows_are_named(row, message):
    with pytest.raises(DataError, match=re.escape(message)) as err:
        study(row)
    assert str(err.value).count("\n  ") == 1  # one problem, nothing else reported


def test_every_bad_row_is_reported_together():
    with pytest.raises(DataError, match=r"2 problems\n  row 2, column AMT.*\n  row 3, column "
                                        r"EVID"):
        study("m1,0,1,0,,iv,,,,,,", "m1,1,9,,,,,,,,5e4,lung")


def test_dosing_columns_need_evid():
    with pytest.raises(DataError, match="row 1, column AMT: dosing columns AMT, II need an "
                                        r"EVID column \(1 = dose, 0 = observation\)"):
        study_from_frame(pd.DataFrame({"ID": ["m1"], "TIME": [1], "AMT": [1e6], "II": [24],
                                       "DV": [1.0], "SITE": ["lung"]}))


def test_doses_that_do_not_fit_the_scenario_are_a_data_error():
    s = study("m1,0,1,1e6,,iv,,,48,4,,")  # the last administration at 192 h > end_h 120 h
    with pytest.raises(DataError, match="the dosing records do not fit scenario 'scenario': "
                                        r"dose\[1\].count: administration 5 of 5 at 192 h"):
        scenario_with_doses(scenario_from_dict(BASE), s)


DEATH = "Lung arrested cell death half-life [h]"


def test_fit_doses_from_data_equals_the_scenario_with_those_doses(tmp_path):
    """`mscpk fit --doses-from-data`: the records' doses replace the scenario's, so the fit
    equals the fit of a scenario file that writes the same doses."""
    times = (1.0, 6.0, 24.0, 30.0, 48.0)
    dosed = mscpk.load_scenario(ROOT / "examples" / "iv_mouse.toml").model_dump()
    dosed["dose"] = [{"route": "iv", "cells": 1e6, "every_h": 24.0, "count": 2}]
    truth = scenario_from_dict(dosed)
    lung = mscpk.simulate(truth, times_h=list(times)).quantity("lung", "live_cells")
    data = tmp_path / "d.csv"
    data.write_text("ID,TIME,EVID,AMT,ROUTE,II,ADDL,DV,SITE\n"
                    + "".join(f"m{i},0,1,1e6,iv,24,1,,\n" for i in range(len(times)))
                    + "".join(f"m{i},{t:g},0,,,,,{float(v)!r},lung\n"
                              for i, (t, v) in enumerate(zip(times, lung))), encoding="utf-8")
    own = tmp_path / "dosed.toml"
    own.write_text('[subject]\nspecies = "mouse"\n[product]\norigin = "syngeneic"\n'
                   '[[dose]]\nroute = "iv"\ncells = 1e6\nevery_h = 24.0\ncount = 2\n',
                   encoding="utf-8")
    fits = {}
    for label, scenario, extra in (("records", ROOT / "examples" / "iv_mouse.toml",
                                    ["--doses-from-data"]), ("file", own, [])):
        out = tmp_path / f"{label}.json"
        r = CliRunner().invoke(app, ["fit", str(scenario), str(data), "--estimate", DEATH,
                                     "-o", str(out), "--n-starts", "1", *extra])
        assert r.exit_code == 0, r.output
        fits[label] = (json.loads(out.read_text()), r.output)
    records, file_ = fits["records"][0], fits["file"][0]
    assert "dosing record(s) (EVID 1) in the data not used" in fits["file"][1]
    assert "not used" not in fits["records"][1]
    assert records["parameters"][DEATH]["estimate"] == pytest.approx(
        file_["parameters"][DEATH]["estimate"], rel=1e-9)
    assert records["objective"] == pytest.approx(file_["objective"], rel=1e-9, abs=1e-9)
    default = scenario_parameters(truth)[DEATH]  # the value the data were simulated with
    assert records["parameters"][DEATH]["estimate"] == pytest.approx(default, rel=1e-2)
