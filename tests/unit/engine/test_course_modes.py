"""Disease course in the engine: one mode per interval, rates of the injury at that level."""

import numpy as np
import pytest

import mscpk
from mscpk.engine.model.build import build_network, injury_course
from mscpk.inputs.course import courses
from mscpk.inputs.load import scenario_from_dict


def _scenario(injury: dict, dose_h: float = 0.0, end_h: float = 72.0, cells: float = 5e6):
    return scenario_from_dict({"name": "course", "subject": {"species": "rat", "immune": "immunodeficient",
                                                             "injury": [{"site": "heart", **injury}]},
                               "dose": [{"route": "iv", "cells": cells, "time_h": dose_h}],
                               "run": {"end_h": dose_h + end_h}})


def _rate(net, mode: str, process: str) -> float:
    return next(t.rate for t in net.modes[mode] if t.process == process)


def test_each_interval_has_the_rates_of_the_injury_at_its_level():
    sev = 2.0
    net = build_network(_scenario({"severity": sev, "course": "acute_mi", "perfusion_loss": 0.0}))
    segments, _ = injury_course(_scenario({"severity": sev, "course": "acute_mi"}))
    assert [(t0, t1) for t0, t1, _ in net.schedule] == [(s.t0, s.t1) for s in segments]
    for (t0, t1, mode), seg in zip(net.schedule, segments):
        const = build_network(_scenario({"severity": sev * seg.levels["heart"]}))
        for process in ("heart first-pass arrest", "extravasation into heart"):
            assert _rate(net, mode, process) == pytest.approx(_rate(const, "base", process), rel=1e-12)
    # after the course: acute_mi resolves completely, as an uninjured heart
    healthy = build_network(_scenario({"severity": 0.0}))
    assert _rate(net, "base", "extravasation into heart") == _rate(healthy, "base", "extravasation into heart")


def test_a_constant_course_is_the_constant_injury():
    flat = _scenario({"peak_h": 0.0, "half_life_h": 0.0, "chronic": 1.0, "severity": 1.5})
    const = _scenario({"severity": 1.5})
    a, b = mscpk.simulate(flat), mscpk.simulate(const)
    assert np.array_equal(a.quantity("heart", "live_cells"), b.quantity("heart", "live_cells"))


def test_the_course_follows_the_injury_not_the_clock():
    late = mscpk.simulate(_scenario({"course": "acute_mi"}, dose_h=24.0))
    shifted = mscpk.simulate(_scenario({"course": "acute_mi", "onset_h": -24.0}, dose_h=0.0))
    assert late.quantity("heart", "live_cells")[-1] == pytest.approx(shifted.quantity("heart", "live_cells")[-1],
                                                                      rel=1e-9)


def test_iv_cells_home_more_to_the_heart_one_day_after_an_infarct_than_seven_days_after():
    # Ma 2005 (Basic Res Cardiol 100:217): SDF-1 peaks on day 1; most MSC in the heart after the day-1 infusion
    day = {d: mscpk.simulate(_scenario({"course": "acute_mi"}, dose_h=24.0 * d)).quantity("heart", "live_cells")[-1]
           for d in (1, 4, 7)}
    healthy = mscpk.simulate(_scenario({"severity": 0.0})).quantity("heart", "live_cells")[-1]
    assert day[1] > day[4] > day[7] > healthy


def test_a_chronic_infarct_recruits_less_than_an_acute_one():
    chronic = mscpk.simulate(_scenario({"course": "chronic_mi", "onset_h": -24.0 * 60}))
    acute = mscpk.simulate(_scenario({"course": "acute_mi", "onset_h": -24.0}))
    assert chronic.quantity("heart", "live_cells")[-1] < acute.quantity("heart", "live_cells")[-1]
    assert courses()["chronic_mi"].chronic < 1.0


def test_course_modes_combine_with_priming():
    sc = scenario_from_dict({"name": "c", "subject": {"species": "rat", "immune": "immunocompetent",
                                                      "injury": [{"site": "heart", "course": "acute_mi"}]},
                             "product": {"origin": "xenogeneic"},
                             "dose": [{"route": "iv", "cells": 1e6}], "run": {"end_h": 300.0},
                             "parameters": {"Primed immune hazard factor [-]": 3.0}})
    net = build_network(sc)
    modes = [m for _, _, m in net.schedule]
    assert any(m.startswith("primed+course") for m in modes) and "primed" in modes
    res = mscpk.simulate(sc)
    assert res.mass_balance_error() < 1e-9


def test_an_infarct_takes_flow_from_its_onset_on_and_keeps_it_after_the_signal_resolves():
    k = courses()["acute_mi"].perfusion_loss
    net = build_network(_scenario({"severity": 1.5, "course": "acute_mi", "onset_h": 10.0}))
    healthy = _rate(build_network(_scenario({"severity": 0.0})), "base", "arterial flow to heart")
    assert k > 0 and net.schedule[0][:2] == (0.0, 10.0)
    assert _rate(net, net.mode_at(0.0), "arterial flow to heart") == pytest.approx(healthy, rel=1e-12)
    for mode in [net.mode_at(10.0), "base"]:  # the rise, and after the course (no chemokine left)
        assert _rate(net, mode, "arterial flow to heart") == pytest.approx(healthy * np.exp(-k * 1.5), rel=1e-12)


def test_perfusion_loss_lowers_iv_homing_to_an_infarcted_heart():
    on = mscpk.simulate(_scenario({"course": "acute_mi"})).quantity("heart", "live_cells")[-1]
    off = mscpk.simulate(_scenario({"course": "acute_mi", "perfusion_loss": 0.0})).quantity("heart", "live_cells")[-1]
    assert on < off


def test_an_injury_without_a_course_keeps_its_flow():
    healthy = _rate(build_network(_scenario({"severity": 0.0})), "base", "arterial flow to heart")
    assert _rate(build_network(_scenario({"severity": 2.0})), "base", "arterial flow to heart") == healthy


def test_an_inflamed_lung_retains_more_iv_cells_while_its_injury_lasts():
    def lung_at_72h(injury):
        sc = scenario_from_dict({"name": "lung", "subject": {"species": "mouse", "immune": "immunodeficient",
                                                            "injury": injury},
                                 "dose": [{"route": "iv", "cells": 5e5}], "run": {"end_h": 72.0}})
        return mscpk.simulate(sc, times_h=[72.0]).quantity("lung", "live_cells")[-1]

    acute = {"site": "lung", "severity": 1.0, "peak_h": 6.0, "half_life_h": 24.0}
    healthy = lung_at_72h([])
    at_peak = lung_at_72h([{**acute, "onset_h": -6.0}])
    resolved = lung_at_72h([{**acute, "onset_h": -120.0}])
    assert at_peak > 10 * healthy and healthy < resolved < at_peak / 10


def test_the_stiff_solver_agrees_with_the_linear_one_across_the_course_modes():
    from mscpk.engine.solvers import StiffSolver

    sc = _scenario({"course": "acute_mi", "onset_h": -12.0}, end_h=240.0)
    net = build_network(sc)
    times = np.asarray(sc.output_times())
    exact = mscpk.simulate(sc, saturation="off").states
    stiff = StiffSolver(rtol=1e-10).solve(net.__class__(net.layout, net.modes, net.inputs, {}, net.schedule), times)
    assert len(net.schedule) > 5
    assert np.max(np.abs(stiff - exact)) / 5e6 < 1e-7
