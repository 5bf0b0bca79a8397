"""The conversion inputs of the CLI (issue 14, class 6): `fit` takes cells/g, cells/mL,
copies/ug and Ct data and `nca` Ct data, with tissue masses, fluid volumes, DNA masses, cells
per gram and qPCR standard curves as options (the fit defaults to the scenario's organ masses,
blood volume and cells per gram, and says so)."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.interfaces.cli import app

SCENARIO = Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml"
DEATH = "Lung arrested cell death half-life [h]"
TIMES = (1.0, 6.0, 24.0, 48.0)
LUNG_G = 0.1825  # mouse lung volume 0.0001825 L at 1 g/mL
CELLS_PER_G = 1e8  # mouse species file
DNA_PER_CELL_PG = 6.6

runner = CliRunner()


@lru_cache(maxsize=None)
def lung() -> tuple[float, ...]:
    res = mscpk.simulate(mscpk.load_scenario(SCENARIO), times_h=list(TIMES))
    return tuple(float(v) for v in res.quantity("lung", "live_cells"))


def data(folder: Path, values, unit: str) -> Path:
    path = folder / "d.csv"
    rows = [f"m{i},{t:g},{v!r},lung,{unit}" for i, (t, v) in enumerate(zip(TIMES, values))]
    path.write_text("ID,TIME,DV,SITE,DVU\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def fit(folder: Path, path: Path, *options: str):
    out = folder / "fit.json"
    r = runner.invoke(app, ["fit", str(SCENARIO), str(path), "--estimate", DEATH, "-o",
                            str(out), "--n-starts", "1", *options])
    return r, (json.loads(out.read_text()) if out.exists() else None)


def estimate(doc) -> float:
    return doc["parameters"][DEATH]["estimate"]


@lru_cache(maxsize=None)
def reference() -> float:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        r, doc = fit(Path(d), data(Path(d), lung(), "cells"))
        assert r.exit_code == 0, r.output
        return estimate(doc)


def test_cells_per_gram_with_the_scenario_organ_mass(tmp_path):
    r, doc = fit(tmp_path, data(tmp_path, [v / LUNG_G for v in lung()], "cells/g"))
    assert r.exit_code == 0, r.output
    assert "converted 4 row(s) in cells/g to cells using lung mass 0.1825 g" in r.output
    assert estimate(doc) == pytest.approx(reference(), rel=1e-3)


def test_cells_per_gram_with_a_given_mass(tmp_path):
    r, doc = fit(tmp_path, data(tmp_path, [v / 0.3 for v in lung()], "cells/g"),
                 "--tissue-mass", "lung=0.3")
    assert r.exit_code == 0, r.output
    assert "lung mass" not in r.output  # nothing taken from the scenario
    assert estimate(doc) == pytest.approx(reference(), rel=1e-3)


def test_copies_per_ug_needs_copies_per_cell(tmp_path):
    dna_ug = LUNG_G * CELLS_PER_G * DNA_PER_CELL_PG * 1e-6
    path = data(tmp_path, [v / dna_ug for v in lung()], "copies/ug")
    r, doc = fit(tmp_path, path)
    assert r.exit_code == 2 and doc is None
    assert "copies_per_cell" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r, doc = fit(tmp_path, path, "--copies-per-cell", "1")
    assert r.exit_code == 0, r.output
    assert "1e+08 cells per g of tissue (the scenario's species)" in r.output
    assert estimate(doc) == pytest.approx(reference(), rel=1e-3)


def test_ct_with_a_standard_curve(tmp_path):
    slope, intercept, per_reaction, dna = -3.32, 38.0, 0.1, 50.0
    cts = [intercept + slope * math.log10(v * per_reaction / dna) for v in lung()]
    path = data(tmp_path, cts, "Ct")
    r, doc = fit(tmp_path, path, "--standard-curve", f"{slope},{intercept}",
                 "--dna-per-reaction", str(per_reaction), "--dna-mass", f"lung={dna}",
                 "--copies-per-cell", "1")
    assert r.exit_code == 0, r.output
    assert estimate(doc) == pytest.approx(reference(), rel=1e-3)
    r, _ = fit(tmp_path, path, "--standard-curve", "abc")
    assert r.exit_code == 2 and "--standard-curve: 'abc' must be SLOPE,INTERCEPT" in r.stderr


def test_bad_site_value(tmp_path):
    r, doc = fit(tmp_path, data(tmp_path, lung(), "cells/g"), "--tissue-mass", "lung=-1")
    assert r.exit_code == 2 and doc is None
    assert "--tissue-mass: 'lung=-1' must be SITE=VALUE with a positive number" in r.stderr


def test_nca_converts_ct(tmp_path):
    slope, intercept = -3.32, 38.0
    cells = [1e5, 5e4, 2e4, 1e4]
    cts = [intercept + slope * math.log10(c) for c in cells]  # DNA per reaction = site's DNA
    path = data(tmp_path, cts, "Ct")
    out = tmp_path / "pp.csv"
    r = runner.invoke(app, ["nca", str(path), "-o", str(out)])
    assert r.exit_code == 2 and "Ct" in r.stderr and not out.exists()
    r = runner.invoke(app, ["nca", str(path), "-o", str(out), "--standard-curve",
                            f"{slope},{intercept}", "--copies-per-cell", "1",
                            "--dna-per-reaction", "1", "--dna-mass", "lung=1"])
    assert r.exit_code == 0, r.output
    assert "converted 4 row(s) in Ct to cells" in r.output
    pp = pd.read_csv(out).set_index("PPTESTCD")
    assert pp.loc["CMAX", "PPORRES"] == pytest.approx(1e5, rel=1e-9)
    assert pp.loc["CMAX", "PPORRESU"] == "cells"
