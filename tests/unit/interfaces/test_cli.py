"""The command line: main job, parameter listing, and user errors (exit 2, one line, no file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "iv_mouse.toml"
runner = CliRunner()

GOOD = """
name = "t"
[subject]
species = "mouse"
[product]
origin = "xenogeneic"
[[dose]]
route = "iv"
cells = 1e6
[run]
end_h = 48.0
"""


def test_simulate_writes_table_and_plot(tmp_path):
    out, png = tmp_path / "out.csv", tmp_path / "out.png"
    res = runner.invoke(app, ["simulate", str(EXAMPLE), "-o", str(out), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert list(df.columns[:4]) == ["time_h", "site", "quantity", "value"]
    assert {"lung", "liver", "spleen", "blood", "eliminated", "rest"} <= set(df.site)
    assert png.stat().st_size > 10_000
    assert "lung" in res.output


def test_simulate_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "out.parquet"
    assert runner.invoke(app, ["simulate", str(EXAMPLE), "-o", str(out)]).exit_code == 0
    assert list(pd.read_parquet(out).columns[:4]) == ["time_h", "site", "quantity", "value"]


def test_params_csv_has_exactly_four_columns():
    res = runner.invoke(app, ["params", str(EXAMPLE), "--format", "csv"])
    assert res.exit_code == 0
    from io import StringIO

    df = pd.read_csv(StringIO(res.stdout))
    assert list(df.columns) == ["name", "value", "unit", "source"]
    assert df["source"].str.len().min() > 0
    assert "Lung arrested cell death half-life [h]" in set(df.name)
    assert "Cardiac output [L/h]" in set(df.name)


def test_parameter_override_by_listed_name_changes_result(tmp_path):
    base = tmp_path / "a.toml"
    base.write_text(GOOD)
    over = tmp_path / "b.toml"
    over.write_text(GOOD + '\n[parameters]\n"Lung arrested cell death half-life [h]" = 60.0\n"Cardiac output [L/h]" = 1.2\n')
    outs = []
    for f in (base, over):
        out = tmp_path / (f.stem + ".csv")
        assert runner.invoke(app, ["simulate", str(f), "-o", str(out)]).exit_code == 0
        df = pd.read_csv(out)
        outs.append(df.query("site == 'lung' and quantity == 'live_cells' and time_h == 48").value.item())
    assert outs[1] > 2 * outs[0]


BAD = {
    "unknown key": (GOOD.replace("species", "specie"), "subject.specie: unknown key; did you mean 'species'?"),
    "unknown species": (GOOD.replace('"mouse"', '"mose"'), "subject.species: unknown value 'mose'"),
    "unknown route": (GOOD.replace('"iv"', '"intravenous"'), "dose[1].route"),
    "value out of range": (GOOD.replace("cells = 1e6", "cells = -5"), "dose[1].cells"),
    "unknown site": (GOOD.replace('route = "iv"', 'route = "ia"\nsite = "brian"'), "dose[1].site: unknown value 'brian'"),
    "missing site": (GOOD.replace('route = "iv"', 'route = "ia"'), "needs 'site'"),
    "unknown parameter": (GOOD + '\n[parameters]\n"Lung death [h]" = 3\n', "unknown parameter 'Lung death [h]'"),
    "parameter out of range": (GOOD + '\n[parameters]\n"Liver share of dead-material uptake [-]" = 2\n', "above the allowed maximum"),
    "bad toml": ("name = \n", "not valid TOML"),
    "missing section": ('name = "x"\n[subject]\nspecies = "mouse"\n', "dose: required key is missing"),
    "unknown chemokine": (GOOD.replace("[product]", '[[subject.injury]]\nsite = "heart"\nchemokines = { CXCL99 = 2.0 }\n[product]'), "chemokines: unknown value 'CXCL99'"),
    "unknown label": (GOOD.replace('origin = "xenogeneic"', 'origin = "xenogeneic"\nlabel = "gold"'), "product.label: unknown value 'gold'"),
    "both amounts": (GOOD.replace("cells = 1e6", "cells = 1e6\ncells_per_kg = 1e8"), "exactly one of 'cells' or 'cells_per_kg'"),
    "site for a route without one": (GOOD.replace('route = "iv"', 'route = "iv"\nsite = "liver"'), "route 'iv' does not take a site"),
    "output time after end": (GOOD.replace("end_h = 48.0", "end_h = 48.0\ntimes_h = [1, 100]"), "run.times_h: 100 is after run.end_h = 48"),
    "wrong type": (GOOD.replace("end_h = 48.0", 'end_h = "long"'), "run.end_h"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_user_errors_exit_2_one_line_no_file(tmp_path, case):
    text, expected = BAD[case]
    sc = tmp_path / "bad.toml"
    sc.write_text(text)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["simulate", str(sc), "-o", str(out)])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [sc]


def test_missing_file_and_bad_output_folder(tmp_path):
    res = runner.invoke(app, ["simulate", str(tmp_path / "nope.toml"), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "does not exist" in res.stderr
    res = runner.invoke(app, ["simulate", str(EXAMPLE), "-o", str(tmp_path / "no" / "o.csv")])
    assert res.exit_code == 2 and "folder" in res.stderr
    res = runner.invoke(app, ["simulate", str(EXAMPLE), "-o", str(tmp_path / "o.txt")])
    assert res.exit_code == 2 and "unsupported file type" in res.stderr


def test_console_script_end_to_end(tmp_path):
    out = tmp_path / "o.csv"
    proc = subprocess.run([sys.executable, "-m", "mscpk.interfaces.cli", "simulate", str(EXAMPLE), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("species", "specie"))
    proc = subprocess.run([sys.executable, "-m", "mscpk.interfaces.cli", "simulate", str(bad), "-o", str(tmp_path / "x.csv")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_flat_api_names_are_functions_even_after_submodules_load():
    """Public verbs must not be shadowed by submodules of the same name."""
    import importlib

    import mscpk

    for name in ("simulate", "scan", "nca", "fit", "observe", "summarize", "simulate_batch"):
        mod, _ = mscpk._LAZY[name]
        importlib.import_module(mod)
        assert callable(getattr(mscpk, name)), name
    for sub in [m for m in __import__("pkgutil").iter_modules(mscpk.__path__)]:
        assert sub.name not in mscpk._LAZY, f"module mscpk.{sub.name} shadows the function mscpk.{sub.name}"


def _new_file_mode() -> int:
    import os

    old = os.umask(0)
    os.umask(old)
    return 0o666 & ~old


def test_params_table_keeps_square_brackets():
    """Units in brackets are text, not rich markup: names can be copied from the table."""
    res = runner.invoke(app, ["params", str(EXAMPLE)])
    assert res.exit_code == 0, res.output
    assert "Lung arrested cell release half-life [h]" in res.output
    assert "[um]" in res.output
    assert "[cells/g]" in res.output


def test_simulate_help_shows_units_and_no_double_percent():
    res = runner.invoke(app, ["simulate", "--help"])
    assert res.exit_code == 0, res.output
    assert "times [h] for % of dose" in " ".join(res.output.split())
    assert "%%" not in res.output
    res = runner.invoke(app, ["detection-window", "--help"])
    assert res.exit_code == 0, res.output
    assert "[cells]" in res.output and "[photons/s]" in res.output


def test_simulate_summary_header_and_output_modes(tmp_path):
    import stat

    out, png = tmp_path / "o.csv", tmp_path / "o.png"
    res = runner.invoke(app, ["simulate", str(EXAMPLE), "-o", str(out), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "t peak [h]" in res.output
    for f in (out, png):
        assert stat.S_IMODE(f.stat().st_mode) == _new_file_mode(), f
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv", "o.png"]


def test_summary_uses_dense_grid_when_table_times_are_coarse(tmp_path):
    sc = tmp_path / "coarse.toml"
    sc.write_text(GOOD.replace("end_h = 48.0", "end_h = 48.0\ntimes_h = [24, 48]"))
    out = tmp_path / "o.csv"
    res = runner.invoke(app, ["simulate", str(sc), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(set(pd.read_csv(out).time_h)) == [24.0, 48.0]  # the table honours run.times_h
    # not a terminal: a plain table, one row per line, columns separated by blanks
    cells = next(line.split() for line in res.stdout.splitlines() if line.split()[:1] == ["lung"])
    assert float(cells[2]) < 1.0  # lung peaks in the first hour, not at the first table time (24 h)


def test_estimate_names_may_hold_commas(tmp_path):
    """--estimate splits only after a name's "[unit]": "Immunogenicity, syngeneic [-]" is one
    name (it used to be cut at its comma, and 'Immunogenicity' refused as unknown)."""
    res = runner.invoke(app, ["fit", "examples/intramyocardial_mi_rat_luc.toml",
                              "examples/data/intramyocardial_mi_rat_qpcr.csv", "--estimate",
                              "Immunogenicity, syngeneic [-],Nope [h]", "-o", str(tmp_path / "fit.json")])
    assert res.exit_code == 2
    assert "'Nope [h]'" in res.output and "'Immunogenicity'" not in res.output
    assert not (tmp_path / "fit.json").exists()


def test_fit_through_values_the_model_refuses_stays_finite(tmp_path):
    """Where the search reaches a value the model refuses, the likelihood is the worst finite
    value (it was -inf: L-BFGS-B's finite differences became NaN, scipy warned - an error
    here - and the search stopped at a poor point)."""
    import json

    out = tmp_path / "fit.json"
    res = runner.invoke(app, ["fit", "examples/intramyocardial_mi_rat_luc.toml",
                              "examples/data/intramyocardial_mi_rat_qpcr.csv", "--estimate",
                              "Immunogenicity, syngeneic [-]", "--n-starts", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    fit = json.loads(out.read_text())
    p = fit["parameters"]["Immunogenicity, syngeneic [-]"]
    assert fit["converged"] and p["ci_low"] < p["estimate"] < p["ci_high"]
