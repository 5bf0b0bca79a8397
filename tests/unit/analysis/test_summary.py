"""The per-site summary: exposures and the embolic burden of each capillary bed by name."""

import numpy as np
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.interfaces.cli import app


@pytest.fixture(scope="module")
def stroke():
    return mscpk.simulate(mscpk.load_scenario("examples/ia_stroke_rat.toml"))


def test_peak_occlusion_is_reported_per_bed(stroke):
    summ = mscpk.summarize(stroke).set_index("site")
    for organ in stroke.capacities:
        assert summ.loc[organ, "peak_occlusion"] == pytest.approx(stroke.quantity(organ, "occlusion_fraction").max())
    assert np.isnan(summ.loc["blood", "peak_occlusion"])
    # an intra-carotid dose loads the brain's bed far more than the lung's
    assert summ.loc["brain", "peak_occlusion"] > 10 * summ.loc["lung", "peak_occlusion"]
    assert stroke.metadata["peak_occlusion_site"] == "brain"
    assert stroke.metadata["peak_occlusion"] == pytest.approx(summ.loc["brain", "peak_occlusion"])


def test_cli_title_names_the_lung_and_the_worst_bed(tmp_path):
    res = CliRunner().invoke(app, ["simulate", "examples/ia_stroke_rat.toml", "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    assert "(lung)" in res.output and "(worst bed: brain)" in res.output
