"""Embolic limits as automatic constraints of ``optimize`` (issue 11, item 4)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import mscpk
from mscpk.analysis.design.optimize import embolic_constraints, parse_constraints
from mscpk.analysis.summary import EMBOLIC
from mscpk.engine.saturation import peak_occlusion_by_bed
from mscpk.interfaces.cli import app

EXAMPLE = "examples/iv_mouse.toml"


def _lung_peak(sc, cells):
    d = sc.dose[0].model_copy(update={"cells": float(cells)})
    res = mscpk.simulate(sc.model_copy(update={"dose": (d,)}))
    return peak_occlusion_by_bed(res.network, res.states)["lung"]


def test_the_lung_limit_binds_without_a_user_constraint_and_not_when_switched_off():
    sc = mscpk.load_scenario(EXAMPLE)
    limit = EMBOLIC["lung"]["warn"]
    best = mscpk.optimize(sc, "heart:cell_days", ["dose[1].cells=1e5..1e7"])
    lo, hi = 1e5, 1e7  # bisection with simulate: the dose at which the lung reaches its limit
    for _ in range(60):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if _lung_peak(sc, mid) < limit else (lo, mid)
    assert best.feasible and best.best["dose[1].cells"] == pytest.approx(lo, rel=0.02)
    assert best.embolic_limits["lung:peak_occlusion"]["limit"] == limit
    assert set(best.constraints) == set(best.embolic_limits)  # every bed, reported at the best design
    assert json.loads(best.to_json())["embolic_limits"] == best.embolic_limits
    free = mscpk.optimize(sc, "heart:cell_days", ["dose[1].cells=1e5..1e7"], embolic=False)
    assert free.embolic_limits == {} and free.constraints == {}
    assert free.best["dose[1].cells"] == pytest.approx(1e7, rel=1e-3)
    assert free.best["dose[1].cells"] > best.best["dose[1].cells"]


def test_a_bed_the_user_constrains_keeps_the_users_bound():
    sc = mscpk.load_scenario(EXAMPLE)
    lim = embolic_constraints(sc, parse_constraints(["lung:peak_occlusion<=0.01"]))
    assert "lung:peak_occlusion" not in lim and lim["heart:peak_occlusion"]["bed"] == "heart"
    assert lim["heart:peak_occlusion"]["limit"] == EMBOLIC["heart"]["warn"]
    assert lim["kidney:peak_occlusion"] == {"limit": EMBOLIC["lung"]["warn"], "bed": "lung",
                                            "source": lim["kidney:peak_occlusion"]["source"]}
    assert "Kwon 2024" in lim["kidney:peak_occlusion"]["source"]


def test_the_cli_says_which_limits_were_applied(tmp_path):
    runner = CliRunner()
    args = ["optimize", EXAMPLE, "--maximize", "heart:cell_days", "--vary", "dose[1].cells=1e5..1e6",
            "-o", str(tmp_path / "b.json")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "embolic limits applied" in r.output and "lung <= 4.65 %" in r.output and "kidney <= 4.65 % (lung's)" in r.output
    r = runner.invoke(app, args + ["--no-embolic-limits"])
    assert r.exit_code == 0 and "embolic limits: none applied (--no-embolic-limits)" in r.output
    assert json.loads((tmp_path / "b.json").read_text())["embolic_limits"] == {}
