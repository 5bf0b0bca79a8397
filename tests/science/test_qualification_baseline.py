"""The model's accuracy on the qualification library never gets worse than the committed
baseline (src/mscpk/data/qualification_baseline.json, packaged: `mscpk report` quotes it;
regenerate it, with a reason in the commit, when the library or the model changes for the
better)."""

import json
from importlib import resources

import pytest

from mscpk.analysis.qualification import qualify

BASELINE = json.loads(resources.files("mscpk.data").joinpath("qualification_baseline.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def summary():
    return qualify().summary


@pytest.mark.parametrize("use", sorted(BASELINE))
def test_no_figure_worse_than_the_baseline(summary, use):
    now, base = summary.loc[use], BASELINE[use]
    assert now.studies >= base["studies"] and now.observations >= base["observations"]
    assert now.gmfe <= base["gmfe"] * (1 + 1e-9)
    assert now.within_2fold >= base["within_2fold"] - 1e-12
    assert now.within_3fold >= base["within_3fold"] - 1e-12
    assert now.shares_agree / now.shares >= base["shares_agree"] / base["shares"] - 1e-12
    assert now.findings_held / now.findings >= base["findings_held"] / base["findings"] - 1e-12
