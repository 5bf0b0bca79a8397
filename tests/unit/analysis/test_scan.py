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
from mscpk.errors import MscpkWarning, ScenarioError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml"


def test_scan_points_equal_direct_simulations():
    sc = make(cells=1e6, times=[1, 24])
    with pytest.warns(MscpkWarning, match="embolic burden above"):  # 30 um x 1e6 cells
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
    with pytest.warns(MscpkWarning, match="embolic burden above"):  # 1e6 IV cells: 4.9 % of the lung bed
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
    with pytest.warns(MscpkWarning, match="embolic burden above"):  # 1e6 IV cells: 4.9 % of the lung bed
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
                                        "engrafted_cells", "depot_cells", "occlusion_fraction"]
    lung = da.sel(site="lung")
    np.testing.assert_allclose(lung.sel(quantity="live_cells").values,
                               lung.sel(quantity="arrested_cells").values + lung.sel(quantity="engrafted_cells").values)
    np.testing.assert_allclose(lung.sel(quantity="occlusion_fraction").values, r.quantity("lung", "occlusion_fraction"))
    assert np.isnan(da.sel(site="blood", quantity="arrested_cells").values).all()
    with pytest.raises(KeyError, match="unknown quantity"):
        r.to_xarray(["cells_alive"])


def test_scan_cli_quantities_all_writes_occlusion_without_rows_for_absent_quantities(tmp_path):
    out = tmp_path / "scan.csv"
    res = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", "dose[1].cells=5e5,2e6", "--times", "1,24",
                                   "--quantities", "all", "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    direct = mscpk.simulate(mscpk.load_scenario(EXAMPLE), times_h=[1, 24])
    # the site x quantity pairs of the result table, occlusion included; blood has no arrested
    # cells: no row rather than NaN
    pairs = lambda frame: set(zip(frame.site, frame.quantity))
    assert pairs(df) == pairs(direct.to_frame()) and "occlusion_fraction" in set(df.quantity)
    assert df["value"].notna().all()
    occ = df.query("site == 'lung' and quantity == 'occlusion_fraction' and time_h == 1").set_index("dose[1].cells")
    np.testing.assert_allclose(occ.loc[5e5, "value"], direct.quantity("lung", "occlusion_fraction")[0], rtol=1e-9)
    assert occ.loc[2e6, "value"] > occ.loc[5e5, "value"]
    some = tmp_path / "some.csv"
    res = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", "dose[1].cells=5e5", "--times", "1",
                                   "--quantities", "live_cells,occlusion_fraction", "-o", str(some)])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(some).quantity) == {"live_cells", "occlusion_fraction"}


def test_scan_refuses_an_unknown_quantity(tmp_path):
    with pytest.raises(ScenarioError, match=r"quantities: unknown quantity 'cells_alive'; allowed: live_cells, "):
        mscpk.scan(make(), {"dose[1].cells": [1e5]}, times_h=[1], quantities=["cells_alive"])
    res = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", "dose[1].cells=1e5", "--quantities", "occlusion",
                                   "-o", str(tmp_path / "s.csv")])
    assert res.exit_code == 2 and res.stderr.startswith("error: --quantities: unknown quantity 'occlusion'")
    assert not (tmp_path / "s.csv").exists()


def test_scan_varies_a_dose_as_a_whole_pairing_route_and_site(tmp_path):
    from mscpk.analysis.scans import parse_vary

    grid = parse_vary(['dose[1]={"route": "local", "site": "heart"},{"route": "iv"}'])
    assert grid == {"dose[1]": [{"route": "local", "site": "heart"}, {"route": "iv"}]}
    sc = make(cells=1e5, times=[24])
    da = mscpk.scan(sc, grid, times_h=[24])
    # a table updates the dose: the cells of the base dose are kept
    local = mscpk.simulate(make(cells=1e5, route="local", site="heart", times=[24]))
    got = da.sel({"dose[1]": '{"route": "local", "site": "heart"}'}).sel(site="heart", quantity="live_cells")
    np.testing.assert_allclose(got.values.ravel(), local.quantity("heart"), rtol=1e-12)
    iv = mscpk.simulate(sc)
    got = da.sel({"dose[1]": '{"route": "iv"}'}).sel(site="lung", quantity="live_cells")
    np.testing.assert_allclose(got.values.ravel(), iv.quantity("lung"), rtol=1e-12)
    # null removes a key of the base (back to iv from a local dose needs site = null)
    back = mscpk.scan(make(cells=1e5, route="local", site="heart", times=[24]),
                      {"dose[1]": [{"route": "iv", "site": None}]}, times_h=[24])
    np.testing.assert_allclose(back.sel(site="lung", quantity="live_cells").values.ravel(), iv.quantity("lung"),
                               rtol=1e-12)
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", 'dose[1]={"route":"local","site":"heart"},{"route":"iv"}',
                                   "--times", "24", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(out)["dose[1]"]) == {'{"route": "local", "site": "heart"}', '{"route": "iv"}'}


def test_scan_refuses_repeats_and_paths_into_values(tmp_path):
    from mscpk.analysis.scans import parse_vary

    with pytest.raises(ScenarioError, match=r"--vary: key 'dose\[1\].cells' is given twice; list all its values in one --vary"):
        parse_vary(["dose[1].cells=1e5", "dose[1].cells=2e5"])
    with pytest.raises(ScenarioError, match=r"scan key 'dose\[1\].cells': value 100000.0 is listed 2 times; give it once"):
        mscpk.scan(make(), {"dose[1].cells": [1e5, 2e5, 1e5]}, times_h=[1])
    with pytest.raises(ScenarioError, match=r"scan key 'subject.species.x': 'species' is not a table"):
        mscpk.scan(make(), {"subject.species.x": [1.0]}, times_h=[1])
    with pytest.raises(ScenarioError, match=r"--vary 'dose\[1\]=\{oops': not JSON tables separated by commas"):
        parse_vary(["dose[1]={oops"])
    res = CliRunner().invoke(app, ["scan", str(EXAMPLE), "--vary", "dose[1].cells=1e5,1e5", "-o", str(tmp_path / "s.csv")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and not (tmp_path / "s.csv").exists()


def test_scan_names_an_empty_value_and_an_index_into_an_empty_list():
    from mscpk.analysis.scans import parse_vary

    with pytest.raises(ScenarioError, match=r"--vary 'dose\[1\].cells=1e5,,2e5': value 2 is empty"):
        parse_vary(["dose[1].cells=1e5,,2e5"])
    with pytest.raises(ScenarioError, match=r"scan key 'subject.injury\[1\].severity': index 1 out of range; "
                                            r"the scenario's 'injury' has no entries"):
        mscpk.scan(make(), {"subject.injury[1].severity": [2.0]}, times_h=[1])
    with pytest.raises(ScenarioError, match=r"index 3 out of range; the scenario's 'dose' has 1 entry \(1..1\)"):
        mscpk.scan(make(), {"dose[3].cells": [1e5]}, times_h=[1])


def test_a_quantity_a_site_has_at_some_points_only_is_zero_at_the_others():
    """A local injection gives the heart a depot (depot_cells); at the IV point the heart has
    none: 0 there, as for a site that is missing at a point (was NaN)."""
    grid = {"dose[1]": [{"route": "local", "site": "heart"}, {"route": "iv"}]}
    da = mscpk.scan(make(cells=1e5), grid, times_h=[1, 24], quantities="all")
    heart = da.sel(site="heart", quantity="depot_cells")
    assert float(heart.sel({"dose[1]": '{"route": "local", "site": "heart"}'}).min()) > 0
    assert (heart.sel({"dose[1]": '{"route": "iv"}'}).values == 0).all()
    assert da.sel(site="blood", quantity="arrested_cells").isnull().all()  # never a quantity of blood
