"""Every scenario in examples/ loads, simulates, conserves cells and stays non-negative;
each marketed-product example (review Table 1) keeps live cells at its injured site(s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mscpk

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))

#: Examples of the marketed products of the review's Table 1 (SCIENCE.md section 1.1).
MARKETED = {"osteocel_bone", "prochymal_gvhd", "temcell_gvhd", "cellgram_mi", "cartistem_knee",
            "cupistem_fistula", "alofisel_fistula", "stemirac_sci", "neuronata_als",
            "astrostem_alzheimer"}

TIMES = (0.0, 1.0, 24.0, 168.0)


def _times(sc) -> list[float]:
    return [t for t in TIMES if t <= sc.run.end_h]


def test_examples_present():
    names = {p.stem for p in EXAMPLES}
    assert MARKETED <= names, f"missing marketed-product examples: {sorted(MARKETED - names)}"


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.stem)
def example(request):
    sc = mscpk.load_scenario(request.param)
    return request.param.stem, sc, mscpk.simulate(sc, times_h=_times(sc))


def test_loads_and_simulates(example):
    name, sc, res = example
    assert len(res.times_h) == len(_times(sc))
    assert np.all(np.isfinite(res.states))
    df = res.to_frame()
    assert list(df.columns[:4]) == ["time_h", "site", "quantity", "value"]


def test_mass_balance(example):
    _, _, res = example
    assert res.mass_balance_error() < 1e-9


def test_no_negative_states(example):
    _, _, res = example
    dose = max(float(np.max(res.administered)), 1.0)
    assert float(res.states.min()) >= -1e-9 * dose


@pytest.mark.parametrize("name", sorted(MARKETED))
def test_marketed_product_reaches_injured_site(name):
    path = next(p for p in EXAMPLES if p.stem == name)
    sc = mscpk.load_scenario(path)
    res = mscpk.simulate(sc, times_h=_times(sc))
    assert sc.subject.injury, f"{name}: a marketed-product example names its indication as an injury"
    for inj in sc.subject.injury:
        live = res.quantity(inj.site, "live_cells")
        late = live[res.times_h >= 24.0]
        assert late.size and float(late.max()) > 0.0, f"{name}: no live cells at {inj.site}"
