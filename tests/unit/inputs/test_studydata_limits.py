"""Study-data numbers are finite and of a possible size (issue 14, class 1): TIME within the
longest scenario time, DV, LLOQ, SD, DOSE and N below the packaged largest value."""

from __future__ import annotations

import pytest

from mscpk.errors import DataError
from mscpk.inputs.scenario import MAX_TIME_H
from mscpk.inputs.studydata import MAX_VALUE, read_study

HEADER = "ID,TIME,DV,SITE,LLOQ,DOSE,N,SD\n"
GOOD = "1,1,100,lung,10,1e6,3,20\n"


def error_of(tmp_path, row: str) -> str:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + GOOD + row, encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_study(path)
    return str(exc.value)


@pytest.mark.parametrize("time", ["1e300", "inf", "nan", "-inf", str(MAX_TIME_H * 2)])
def test_time_out_of_range_is_refused_naming_row_value_and_range(tmp_path, time):
    msg = error_of(tmp_path, f"2,{time},100,lung,10,1e6,3,20\n")
    assert "row 3, column TIME" in msg
    if "n" not in time:  # NaN is a missing value, inf text not a number (their own messages)
        assert time in msg and f"{MAX_TIME_H:g}" in msg


def test_time_at_the_limit_is_accepted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(HEADER + GOOD + f"2,{MAX_TIME_H:g},100,lung,10,1e6,3,20\n", encoding="utf-8")
    assert read_study(path).frame["TIME"].max() == MAX_TIME_H


@pytest.mark.parametrize("column", ["DV", "LLOQ", "DOSE", "N", "SD"])
def test_absurd_sizes_are_refused(tmp_path, column):
    values = dict(zip(HEADER.strip().split(","), "2,1,100,lung,10,1e6,3,20".split(",")))
    values[column] = "1e300"
    msg = error_of(tmp_path, ",".join(values.values()) + "\n")
    assert f"row 3, column {column}" in msg and "1e300" in msg and f"{MAX_VALUE:g}" in msg


@pytest.mark.parametrize("column", ["DV", "LLOQ", "DOSE", "SD"])
def test_infinite_values_are_refused(tmp_path, column):
    values = dict(zip(HEADER.strip().split(","), "2,1,100,lung,10,1e6,3,20".split(",")))
    values[column] = "inf"
    msg = error_of(tmp_path, ",".join(values.values()) + "\n")
    assert f"row 3, column {column}" in msg and "inf" in msg
