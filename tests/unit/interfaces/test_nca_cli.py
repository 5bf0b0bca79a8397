"""Tests of the `nca` command (mscpk.interfaces.cli.analysis.nca_command) through a small typer app."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mscpk.interfaces.cli.analysis import excluded_path_for, nca_command

app = typer.Typer()
app.command("nca")(nca_command)


@app.command("version")
def _version() -> None:  # a second command so that "nca" stays a subcommand
    typer.echo("test")


runner = CliRunner()

GOOD = (
    "ID,TIME,DV,SITE,GROUP,DVU\n"
    "1,0,0,lung,A,cells\n"
    "1,1,1000,lung,A,cells\n"
    "1,2,500,lung,A,cells\n"
    "1,4,250,lung,A,cells\n"
)


def write(folder: Path, text: str, name: str = "data.csv") -> Path:
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def run(*args: str):
    return runner.invoke(app, ["nca", *map(str, args)])


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_writes_parameters_csv(tmp_path):
    data = write(tmp_path, GOOD)
    out = tmp_path / "pp.csv"
    r = run(data, "-o", out)
    assert r.exit_code == 0, r.output
    pp = pd.read_csv(out)
    assert list(pp.columns[:5]) == ["GROUP", "SITE", "PPTESTCD", "PPORRES", "PPORRESU"]
    row = pp[pp["PPTESTCD"] == "AUCLST"].iloc[0]
    # linear up 0->1, then log down 1->2->4 (halving each time)
    expected = 1 * 1000 / 2 + 1 * 500 / math.log(2) + 2 * 250 / math.log(2)
    assert row["PPORRES"] == pytest.approx(expected, rel=1e-9)
    assert row["PPORRESU"] == "cells*h"
    assert "NCA summary" in r.stdout and "pp.csv" in r.stdout
    assert files_in(tmp_path) == {"data.csv", "pp.csv"}  # no temp file, no excluded report


def test_options_reach_the_analysis(tmp_path):
    data = write(tmp_path, GOOD)
    out = tmp_path / "pp.csv"
    r = run(data, "--out", out, "--auc-method", "linear", "--sparse", "no")
    assert r.exit_code == 0, r.output
    pp = pd.read_csv(out)
    auc = pp.loc[pp["PPTESTCD"] == "AUCLST", "PPORRES"].iloc[0]
    assert auc == pytest.approx(1000 / 2 + (1000 + 500) / 2 + 2 * (500 + 250) / 2)


def test_sparse_yes_on_destructive_data_gives_se(tmp_path):
    rows = ["ID,TIME,DV,SITE"]
    vals = {1: [10, 12, 14], 2: [6, 8, 10], 4: [2, 3, 4]}
    k = 0
    for t, vs in vals.items():
        for v in vs:
            k += 1
            rows.append(f"m{k},{t},{v},liver")
    data = write(tmp_path, "\n".join(rows) + "\n")
    out = tmp_path / "pp.csv"
    r = run(data, "-o", out, "--sparse", "yes")
    assert r.exit_code == 0, r.output
    row = pd.read_csv(out).set_index("PPTESTCD").loc["AUCLST"]
    w = [(2 - 1) / 2, (4 - 1) / 2, (4 - 2) / 2]   # Bailer weights
    sds = [2.0, 2.0, 1.0]                          # sample SDs of the three triplets
    se = math.sqrt(sum(wi ** 2 * s ** 2 / 3 for wi, s in zip(w, sds)))
    assert row["SE"] == pytest.approx(se)
    assert row["PPORRES"] == pytest.approx(0.5 * 12 + 1.5 * 8 + 1.0 * 3)


def test_excluded_rows_report(tmp_path):
    data = write(tmp_path, GOOD + "1,8,,lung,A,cells\n")
    out = tmp_path / "pp.csv"
    r = run(data, "-o", out)
    assert r.exit_code == 0, r.output
    report = excluded_path_for(out)
    assert report.name == "pp.excluded.csv"
    ex = pd.read_csv(report)
    assert ex["ROW"].tolist() == [6]
    assert "DV missing" in ex["REASON"].iloc[0]
    assert "excluded" in r.stdout and "pp.excluded.csv" in r.stdout


def test_xlsx_input(tmp_path):
    df = pd.DataFrame({"ID": [1, 1, 1], "TIME": [0, 1, 2], "DV": [0, 8, 4],
                       "SITE": ["lung"] * 3})
    xlsx = tmp_path / "data.xlsx"
    df.to_excel(xlsx, index=False, engine="openpyxl")
    out = tmp_path / "pp.csv"
    r = run(xlsx, "-o", out)
    assert r.exit_code == 0, r.output
    pp = pd.read_csv(out).set_index("PPTESTCD")
    assert pp.loc["CMAX", "PPORRES"] == 8


BAD = {
    "missing_column": ("ID,TIME,SITE\n1,0,lung\n", ["missing required column DV"]),
    "text_in_dv": ("ID,TIME,DV,SITE\n1,0,0,lung\n1,1,lots,lung\n",
                   ["row 3, column DV", "'lots'"]),
    "negative_time": ("ID,TIME,DV,SITE\n1,-1,5,lung\n", ["row 2, column TIME", "negative"]),
    "unknown_unit": ("ID,TIME,DV,SITE,DVU\n1,1,5,lung,mg\n", ["row 2, column DVU", "'mg'"]),
    "duplicated": ("ID,TIME,DV,SITE\n1,1,5,lung\n1,1,6,lung\n", ["rows 2 and 3"]),
    "empty": ("", ["empty"]),
    "header_only": ("ID,TIME,DV,SITE\n", ["no data rows"]),
    "mixed_units": ("ID,TIME,DV,SITE,DVU\n1,1,5,lung,cells\n1,2,5,lung,cells/g\n",
                    ["several units"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_exit_2_one_line_no_file(tmp_path, case):
    text, needles = BAD[case]
    data = write(tmp_path, text)
    out = tmp_path / "pp.csv"
    r = run(data, "-o", out)
    assert r.exit_code == 2, (r.exit_code, r.output)
    err = r.stderr.strip()
    assert err.startswith("error: ")
    assert len(err.splitlines()) == 1
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Traceback" not in r.output
    assert not out.exists()
    assert files_in(tmp_path) == {"data.csv"}  # no output, no temp, no report


def test_several_problems_joined_on_one_line(tmp_path):
    data = write(tmp_path, "ID,TIME,DV,SITE\n1,-1,5,lung\n1,2,x,lung\n")
    r = run(data, "-o", tmp_path / "pp.csv")
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "row 2, column TIME" in err and "row 3, column DV" in err


def test_existing_output_untouched_on_error(tmp_path):
    out = tmp_path / "pp.csv"
    out.write_text("previous results\n")
    data = write(tmp_path, "ID,TIME,DV,SITE\n1,x,5,lung\n")
    r = run(data, "-o", out)
    assert r.exit_code == 2
    assert out.read_text() == "previous results\n"


@pytest.mark.parametrize("args, needle", [
    (["--sparse", "maybe"], "--sparse"),
    (["--auc-method", "spline"], "auc_method"),
    (["--blq-middle", "keep_first"], "blq_middle"),
    (["--min-hl-points", "2"], "min_hl_points"),
])
def test_bad_options_exit_2(tmp_path, args, needle):
    data = write(tmp_path, GOOD)
    out = tmp_path / "pp.csv"
    r = run(data, "-o", out, *args)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and needle in r.stderr
    assert not out.exists()


def test_missing_input_and_missing_output_folder(tmp_path):
    r = run(tmp_path / "nope.csv", "-o", tmp_path / "pp.csv")
    assert r.exit_code == 2 and "does not exist" in r.stderr
    data = write(tmp_path, GOOD)
    r = run(data, "-o", tmp_path / "no_such_dir" / "pp.csv")
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_refuses_to_overwrite_the_input(tmp_path):
    data = write(tmp_path, GOOD)
    r = run(data, "-o", data)
    assert r.exit_code == 2
    assert data.read_text() == GOOD


def test_summary_is_plain_unwrapped_text_when_piped(tmp_path):
    """Issue 14 (class 7): the summary table wrapped flags mid-word in a boxed table when
    stdout was a pipe; piped it is plain aligned text, one line per profile."""
    data = write(tmp_path, GOOD.replace("1,0,0,lung", "1,0.5,2000,lung"))
    r = run(data, "-o", tmp_path / "pp.csv")
    assert r.exit_code == 0, r.output
    assert not set("┃│┏━") & set(r.output)
    line = next(ln for ln in r.output.splitlines() if " lung " in ln)
    assert "NO_TIME0" in line and "PERSIST_AT_LAST_SAMPLE" in line


SPARSE_ONE_ANIMAL = ("ID,TIME,DV,SITE\n" "a,1,100,lung\n" "b,1,120,lung\n" "c,4,60,lung\n"
                     "d,8,30,lung\n" "e,8,20,lung\n")


def test_sparse_se_not_estimable_is_said_with_what_was_assumed(tmp_path):
    """Issue 14 (class 8): one animal at TIME 4 leaves the Bailer SE undefined; the command
    says so and what was done (as PKNCA: no variance assumed, SE empty)."""
    data = write(tmp_path, SPARSE_ONE_ANIMAL)
    out = tmp_path / "pp.csv"
    r = run(data, "-o", out)
    assert r.exit_code == 0, r.output
    assert ("note: GROUP all, SITE lung: the SE of the sparse AUCLST is not estimable "
            "(a single animal at TIME 4 h" in r.output)
    assert "as in PKNCA" in r.output
    auc = pd.read_csv(out).set_index("PPTESTCD").loc["AUCLST"]
    assert math.isnan(auc["SE"]) and "SE_NOT_ESTIMABLE" in auc["FLAGS"]


def test_iv_bolus_convention_option(tmp_path):
    text = ("ID,TIME,DV,SITE,ROUTE,DOSE\n" "1,0.5,100,blood,iv,1e6\n" "1,1,50,blood,iv,1e6\n"
            "1,2,25,blood,iv,1e6\n" "1,4,12,blood,iv,1e6\n")
    data = write(tmp_path, text)
    r = run(data, "-o", tmp_path / "on.csv")
    assert r.exit_code == 0, r.output
    on = pd.read_csv(tmp_path / "on.csv").set_index("PPTESTCD")
    assert on.loc["C0", "PPORRES"] == pytest.approx(200.0) and "CLO" in on.index
    r = run(data, "-o", tmp_path / "off.csv", "--no-iv-bolus-c0")
    assert r.exit_code == 0, r.output
    assert "C0" not in set(pd.read_csv(tmp_path / "off.csv")["PPTESTCD"])
