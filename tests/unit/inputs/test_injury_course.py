"""Disease course of an injury: the level function, its piecewise-constant intervals, messages."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from mscpk.errors import ScenarioError
from mscpk.inputs.course import Course, course_segments, course_sources, courses, discretisation
from mscpk.inputs.load import scenario_from_dict


def _scenario(injury: dict):
    return scenario_from_dict({"subject": {"species": "rat", "injury": [{"site": "heart", **injury}]},
                               "dose": [{"route": "iv", "cells": 1e6}]})


def test_level_rises_to_the_peak_and_halves_each_half_life():
    c = Course(peak_h=24.0, half_life_h=48.0, chronic=0.2)
    assert c.level(-0.1) == 0.0 and c.level(12.0) == pytest.approx(0.5) and c.level(24.0) == pytest.approx(1.0)
    assert c.level(24.0 + 48.0) == pytest.approx(0.2 + 0.8 / 2)
    assert c.level(24.0 + 96.0) == pytest.approx(0.2 + 0.8 / 4)
    assert c.level(1e5) == pytest.approx(0.2)


def test_segment_levels_are_the_course_means_and_end_at_the_chronic_level():
    c = courses()["acute_mi"]
    onset = 10.0
    segs, final = course_segments([("heart", onset, c)])
    assert final.levels["heart"] == c.chronic
    d = discretisation()
    assert len(segs) == 1 + d["rise_steps"] + d["steps_per_half_life"] * d["half_lives"]
    assert segs[0] == (0.0, onset, {"heart": 0.0}, frozenset())  # before the onset
    for t0, t1, lv, started in segs[1:]:
        assert started == {"heart"}
        mean = quad(lambda t: float(c.level(t - onset)), t0, t1)[0] / (t1 - t0)
        assert lv["heart"] == pytest.approx(mean, rel=1e-3)
    assert segs[-1][1] == pytest.approx(onset + c.peak_h + c.half_life_h * d["half_lives"])
    assert all(a[1] == b[0] for a, b in zip(segs, segs[1:]))


def test_before_the_onset_the_level_is_zero():
    segs, final = course_segments([("heart", 10.0, courses()["chronic_mi"])])
    assert [(t0, t1, dict(lv), st) for t0, t1, lv, st in segs] == [(0.0, 10.0, {"heart": 0.0}, frozenset())]
    assert final.levels["heart"] == courses()["chronic_mi"].chronic and final.started == {"heart"}


def test_a_course_before_time_zero_is_cut_at_zero():
    c = Course(0.0, 48.0, 0.0)
    segs, _ = course_segments([("heart", -100.0, c)])
    assert segs[0][0] == 0.0
    mean = quad(lambda t: float(c.level(t + 100.0)), segs[0][0], segs[0][1])[0] / segs[0][1]
    assert segs[0].levels["heart"] == pytest.approx(mean, rel=1e-3)


def test_a_constant_chronic_course_has_no_interval():
    segs, final = course_segments([("heart", 0.0, courses()["chronic_mi"])])
    assert segs == () and final.levels["heart"] == courses()["chronic_mi"].chronic


def test_two_injuries_share_the_intervals():
    segs, final = course_segments([("heart", 0.0, courses()["acute_mi"]), ("brain", 30.0, courses()["acute_stroke"])])
    assert all(set(lv) == {"heart", "brain"} for _, _, lv, _ in segs)
    assert sorted(segs) == list(segs)


def test_every_named_course_has_a_source_for_each_number():
    for name in courses():
        src = course_sources(name)
        assert set(src) == {"peak_h", "half_life_h", "chronic", "perfusion_loss"} and all(src.values())


def test_explicit_values_replace_the_named_ones():
    inj = _scenario({"course": "acute_mi", "half_life_h": 10.0}).subject.injury[0]
    mi = courses()["acute_mi"]
    assert inj.time_course() == Course(mi.peak_h, 10.0, mi.chronic, mi.perfusion_loss)
    inj = _scenario({"peak_h": 5.0, "half_life_h": 7.0}).subject.injury[0]
    assert inj.time_course() == Course(5.0, 7.0, 0.0)
    assert _scenario({}).subject.injury[0].time_course() is None


@pytest.mark.parametrize("injury, words", [
    ({"course": "acute_m"}, ["subject.injury[1]", "'acute_m'", "acute_mi", "acute_stroke"]),
    ({"onset_h": -5.0}, ["subject.injury[1]", "onset_h = -5", "needs a course"]),
    ({"peak_h": 5.0}, ["subject.injury[1]", "peak_h", "half_life_h"]),
    ({"course": "acute_mi", "chronic": 1.5}, ["chronic"]),
])
def test_bad_courses_are_refused_with_the_key(injury, words):
    with pytest.raises(ScenarioError) as exc:
        _scenario(injury)
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_the_level_is_finite_everywhere():
    for c in courses().values():
        assert np.all(np.isfinite(c.level(np.linspace(-10, 5000, 501))))
        assert not math.isnan(float(c.level(c.peak_h)))
