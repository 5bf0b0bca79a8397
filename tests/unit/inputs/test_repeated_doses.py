"""[[dose]] every_h / count (INTERFACE.md, as NONMEM's II / ADDL): one entry stands for count
administrations every_h apart."""

import numpy as np
import pytest

import mscpk
from mscpk.errors import ScenarioError
from mscpk.inputs.load import scenario_from_dict

BASE = {"subject": {"species": "mouse"}, "run": {"end_h": 120.0}}


def sc(**dose):
    return scenario_from_dict({**BASE, "dose": [{"route": "iv", "cells": 1e6, **dose}]})


def test_an_entry_repeats_count_times_every_h():
    s = sc(every_h=24.0, count=3, time_h=2.0)
    assert [d.time_h for d in s.dose] == [2.0, 26.0, 50.0]
    assert all(d.cells == 1e6 and d.count == 1 for d in s.dose)
    r = mscpk.simulate(s, times_h=[0, 1, 25, 49, 51, 120])
    np.testing.assert_allclose(r.administered, [0, 0, 1e6, 2e6, 3e6, 3e6])
    assert r.mass_balance_error() < 1e-9


def test_the_same_as_separate_doses():
    a = mscpk.simulate(sc(every_h=24.0, count=2), times_h=[1, 30])
    b = mscpk.simulate(scenario_from_dict({**BASE, "dose": [{"route": "iv", "cells": 1e6},
                                                           {"route": "iv", "cells": 1e6, "time_h": 24.0}]}),
                       times_h=[1, 30])
    np.testing.assert_allclose(a.states, b.states, rtol=1e-12, atol=1e-6)


def test_every_h_without_count_gives_one_administration():
    s = sc(every_h=24.0)
    assert len(s.dose) == 1 and s.dose[0].time_h == 0.0


@pytest.mark.parametrize("dose, words", [
    ({"count": 3}, "needs 'every_h'"),
    ({"every_h": 24.0, "count": 7}, "dose[1].count: administration 7 of 7 at 144"),
    ({"every_h": 24.0, "count": 2.0}, "dose[1].count"),
    ({"every_h": 0.0, "count": 2}, "dose[1].every_h"),
    ({"every_h": 0.1, "count": 2, "infusion_min": 30.0}, "would overlap"),
])
def test_bad_repeats_are_refused(dose, words):
    with pytest.raises(ScenarioError, match=words.replace("[", r"\[").replace("]", r"\]")):
        sc(**dose)
