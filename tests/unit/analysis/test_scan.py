"""Scans over scenario settings and parameters (xarray), and the `mscpk scan` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mscpk
from helpers import make
from mscpk.interfaces.cli import app
from mscpk.errors import ScenarioError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml"


def test_scan_points_equal_direct_simulations():
    sc = make(cells=1e6, times=[1, 24])
    da = mscpk.scan(sc, {"product.diameter_um.mean": [12.0, 30.0], "dose[1].cells": [1e5, 1e6]},
                    times_h=[1, 24], saturation="off")
    assert da.dims == ("product.diameter_um.mean", "dose[1].cells", "time_h", "site", "quantity")
    direct = mscpk.simulate(make(cells=1e5, diam=(30.0, 3.0)), times_h=[1, 24], saturation="off")
    got = da.sel({"product.diameter_um.mean": 30.0, "dose[1].cells": 1e5}).sel(site="lung", quantity="live_cells")
    np.testing.assert_allclose(got.values, direct.quantity("lung"), rtol=1e-12)
    # bigger cells trap more in lung at 1 h, for both doses
    lung1 = da.sel(site="lung", quantity="live_cells", time_h=1)
    assert np.all(lung1.sel({"product.diameter_um.mean": 30.0}).values > lung1.sel({"product.diameter_um.mean": 12.0}).values)


def test_scan_parameter_and_route_fill_missing_sites():
    sc = make(times=[24])
    da = mscpk.scan(sc, {"Lung arrested cell death half-life [h]": [3.0, 12.0], "dose[1].route": ["iv", "ip"]},
                    times_h=[24])
    lung = da.sel(site="lung", quantity="live_cells", time_h=24, **{"dose[1].route": "iv"}).values
    assert lung[1] > 4 * lung[0]
    assert float(da.sel(site="peritoneum", quantity="live_cells", **{"dose[1].route": "iv"}).max()) == 0.0
    ip = da.sel(site="peritoneum", quantity="live_cells", time_h=24, **{"dose[1].route": "ip"}).values
    for i, hl in enumerate((3.0, 12.0)):
        direct = mscpk.simulate(make(route="ip", times=[24], params={"Lung arrested cell death half-life [h]": hl}),
                                times_h=[24])
        np.testing.assert_allclose(ip[i], direct.quantity("peritoneum")[0], rtol=1e-12)
    assert ip[0] > 0.5 * 1e6  # IP cells stay in the peritoneum (SCIENCE.md 1.3)


def test_scan_bad_key_names_it():
    with pytest.raises(ScenarioError, match="product.diameter: unknown key"):
        mscpk.scan(make(), {"product.diameter": [12.0]}, times_h=[1])
    with pytest.raises(ScenarioError, match="index 3 out of range"):
        mscpk.scan(make(), {"dose[3].cells": [1e5]}, times_h=[1])


def test_scan_cli(tmp_path):
    out = tmp_path / "scan.csv"
    res = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", "subject.immune=immunocompetent,immunodeficient",
                                   "--times", "1,24", "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["subject.immune", "time_h", "site", "quantity", "value"]
    assert set(df["subject.immune"]) == {"immunocompetent", "immunodeficient"}
    bad = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", "nonsense", "-o", str(tmp_path / "b.csv")])
    assert bad.exit_code == 2 and "expected KEY=value" in bad.stderr
    assert not (tmp_path / "b.csv").exists()


def test_scan_list_valued_key_and_json_vary():
    from mscpk.analysis.scans import parse_vary

    sc = make(times=[24], injury=[{"site": "heart", "severity": 1.0}])
    da = mscpk.scan(sc, {"product.preconditioning": [[], ["hypoxia"]]}, times_h=[24])
    labels = list(da["product.preconditioning"].values)
    assert labels == ["[]", '["hypoxia"]']
    eng = lambda p: mscpk.simulate(make(times=[24], injury=[{"site": "heart", "severity": 1.0}], preconditioning=p))
    direct = eng(["hypoxia"]).quantity("heart", "live_cells")[0]
    np.testing.assert_allclose(da.sel({"product.preconditioning": '["hypoxia"]'}).sel(
        site="heart", quantity="live_cells").values.ravel()[0], direct, rtol=1e-12)
    assert parse_vary(['product.preconditioning=[[], ["hypoxia"]]']) == {"product.preconditioning": [[], ["hypoxia"]]}
    assert parse_vary(["subject.immune=immunocompetent,immunodeficient"])["subject.immune"] == [
        "immunocompetent", "immunodeficient"]
    with pytest.raises(ScenarioError, match="not a JSON list"):
        parse_vary(["product.preconditioning=[oops"])


def test_to_xarray_all_quantities():
    r = mscpk.simulate(make(times=[1, 24]))
    da = r.to_xarray("all")
    assert list(da.quantity.values) == ["live_cells", "dead_cells", "transit_cells", "arrested_cells",
                                        "engrafted_cells", "occlusion_fraction"]
    lung = da.sel(site="lung")
    np.testing.assert_allclose(lung.sel(quantity="live_cells").values,
                               lung.sel(quantity="arrested_cells").values + lung.sel(quantity="engrafted_cells").values)
    np.testing.assert_allclose(lung.sel(quantity="occlusion_fraction").values, r.quantity("lung", "occlusion_fraction"))
    assert np.isnan(da.sel(site="blood", quantity="arrested_cells").values).all()
    with pytest.raises(KeyError, match="unknown quantity"):
        r.to_xarray(["cells_alive"])
