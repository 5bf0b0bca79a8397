"""The network of named states (mscpk.engine.network): layout, rate matrices, events, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import make
from mscpk.engine.batch import ArrayParameters, check_samples
from mscpk.engine.model.build import build_network
from mscpk.engine.network import Input, Network, StateLayout, Transition, split_state, state_id
from mscpk.inputs.resolve import scenario_parameters, scenario_species

#: Doses by six routes (vascular, every depot) into one mouse with injuries that switch on
#: the homing transitions of the depots (gut from the peritoneum, brain from the CSF).
MULTI_ROUTE = [{"route": "iv", "cells": 1e6}, {"route": "ip", "cells": 1e6, "time_h": 2.0},
               {"route": "intra_articular", "cells": 1e5}, {"route": "intrathecal", "cells": 1e5},
               {"route": "intratracheal", "cells": 1e5}, {"route": "intramyocardial", "cells": 1e5},
               {"route": "ia", "cells": 1e5, "site": "brain", "time_h": 5.0, "vasodilator": True},
               {"route": "iv", "cells": 1e5, "time_h": 200.0, "vasodilator": True}]  # when primed
INJURIES = [{"site": "gut"}, {"site": "brain", "severity": 2.0}, {"site": "joint"}]


@pytest.fixture(scope="module")
def multi():
    return build_network(make(origin="allogeneic", doses=MULTI_ROUTE, injury=INJURIES))


# ---- names and layout --------------------------------------------------------------------

@pytest.mark.parametrize("site, kind", [("lung", "arrested"), ("bone_marrow", "vascular"),
                                        ("injection_site", "free"), ("eliminated", "degraded")])
def test_state_id_and_split_state_are_inverse(site, kind):
    name = state_id(site, kind)
    assert name == f"{site}__{kind}"  # the SBML id of INTERFACE.md
    assert split_state(name) == (site, kind)


def test_layout_keeps_first_insertion_order_and_ignores_repeats():
    lay = StateLayout()
    assert lay.add("blood", "venous") == "blood__venous"
    lay.add("lung", "vascular")
    assert lay.add("blood", "venous") == "blood__venous"  # again: same slot, no new state
    lay.add("eliminated", "degraded")
    assert lay.names == ("blood__venous", "lung__vascular", "eliminated__degraded")
    assert [lay.index(n) for n in lay.names] == [0, 1, 2]
    assert len(lay) == 3 and "lung__vascular" in lay and "lung__dead" not in lay


def test_add_names_is_add_name_of_each_in_order_and_is_recorded_likewise():
    names = ["lung__vascular", "blood__venous", "lung__vascular", "liver__dead"]
    one, many = StateLayout(), StateLayout()
    one.add("blood", "venous")
    many.add("blood", "venous")
    seen_one, seen_many = one.record(), many.record()
    for name in names:
        one.add_name(name)
    many.add_names(iter(names))
    assert many.names == one.names == ("blood__venous", "lung__vascular", "liver__dead")
    assert list(seen_many) == list(seen_one) == ["lung__vascular", "blood__venous", "liver__dead"]
    many.stop_recording()
    many.freeze()
    many.add_names(["liver__dead"])
    with pytest.raises(RuntimeError, match="frozen"):
        many.add_names(["lung__dead"])


def test_frozen_layout_refuses_new_states_but_finds_old_ones():
    lay = StateLayout()
    lay.add("blood", "venous")
    assert lay.freeze() is lay
    assert lay.add("blood", "venous") == "blood__venous"
    with pytest.raises(RuntimeError, match="frozen"):
        lay.add("lung", "arrested")
    assert lay.names == ("blood__venous",)
    with pytest.raises(KeyError):
        lay.index("lung__arrested")


def test_built_layout_is_frozen_and_ordered_blood_organs_depots_eliminated(multi):
    names = multi.names
    assert names[:3] == ("blood__venous", "blood__arterial", "blood__dead")
    assert names[-1] == "eliminated__degraded"
    sites = list(dict.fromkeys(split_state(n)[0] for n in names))
    organs = scenario_species(make()).organ_names()
    assert sites[1:1 + len(organs)] == list(organs)
    # depots in order of first use by the doses (ip, intra_articular, intrathecal, ...)
    assert sites[1 + len(organs):-1] == ["peritoneum", "joint", "csf", "airway"]
    # a local or intramyocardial depot is a state of the organ injected, not a site of its own
    assert any(n.endswith("__depot") for n in names)
    with pytest.raises(RuntimeError):
        multi.layout.add("nowhere", "free")


# ---- rate matrices ------------------------------------------------------------------------

def test_every_mode_conserves_cells_and_is_a_compartment_matrix(multi):
    # this scenario uses every modifier: vasodilated windows and the primed period
    assert set(multi.modes) == {"base", "vasodilated", "primed", "primed+vasodilated"}
    for mode in multi.modes:
        a = multi.matrix(mode)
        n = len(multi.names)
        assert a.shape == (n, n)
        # every transition moves cells from one state to another: columns sum to zero
        scale = np.abs(a).max()
        np.testing.assert_allclose(a.sum(axis=0), 0.0, atol=1e-12 * scale)
        off = a - np.diag(np.diag(a))
        assert (off >= 0).all() and (np.diag(a) <= 0).all()
        # the degraded state is absorbing: nothing leaves it
        k = multi.layout.index("eliminated__degraded")
        assert not a[:, k].any()


def test_matrix_entries_are_the_transition_rates():
    lay = StateLayout()
    for s in ("a", "b", "c"):
        lay.add(s, "x")
    net = Network(lay, {"base": (Transition("a__x", "b__x", 2.0, "p"),
                                 Transition("a__x", "c__x", 0.5, "q"),
                                 Transition("b__x", "c__x", 1.0, "r"))}, ())
    np.testing.assert_array_equal(net.matrix(), [[-2.5, 0.0, 0.0], [2.0, -1.0, 0.0], [0.5, 1.0, 0.0]])


def test_matrices_of_a_batch_build_equal_matrix_of_each_subject():
    sc = make(origin="allogeneic", doses=MULTI_ROUTE[:3], injury=INJURIES)
    base = scenario_parameters(sc)
    species = scenario_species(sc)
    samples = check_samples(base, {
        "Lung arrested cell death half-life [h]": [6.0, 3.0, 12.0],
        "Peritoneal attachment half-life [h]": [6.0, 1.0, 30.0],
        "Joint attachment half-life [h]": [87.0, 40.0, 200.0],
        "MSC deformability ratio [-]": [0.4, 0.3, 0.6]})
    ap = ArrayParameters(base, samples)
    net = build_network(sc, ap, species)
    assert net.batch_size() == 3
    for mode in net.modes:
        mats = net.matrices(mode)
        assert mats.shape == (3, len(net.names), len(net.names))
        for i in range(3):
            single = build_network(sc, ap.subject(i), species)
            assert single.names == net.names and single.batch_size() is None
            np.testing.assert_allclose(mats[i], single.matrix(mode), rtol=1e-13, atol=0.0)
    # subjects differ where their parameters differ
    i = net.layout.index("lung__arrested")
    assert len({round(m[i, i], 12) for m in net.matrices("base")}) == 3


def test_matrices_broadcast_a_scalar_build():
    net = build_network(make())
    mats = net.matrices("base", n_subjects=2)
    np.testing.assert_array_equal(mats[0], net.matrix())
    np.testing.assert_array_equal(mats[1], net.matrix())


# ---- events, modes, inputs ---------------------------------------------------------------

def _toy(inputs=(), schedule=()):
    lay = StateLayout()
    lay.add("a", "x")
    lay.add("b", "x")
    modes = {m: (Transition("a__x", "b__x", 1.0, "p"),) for m in ("base", "vasodilated", "primed")}
    return Network(lay.freeze(), modes, tuple(inputs), {}, tuple(schedule))


def test_event_times_are_doses_infusion_ends_and_window_bounds_within_the_run():
    net = _toy(inputs=[Input(0.0, 0.0, 1.0, {"a__x": 1.0}), Input(3.0, 0.5, 1.0, {"a__x": 1.0}),
                       Input(50.0, 0.0, 1.0, {"a__x": 1.0})],
               schedule=[(1.0, 2.0, "vasodilated"), (24.0, math.inf, "primed")])
    assert net.event_times(30.0) == [0.0, 1.0, 2.0, 3.0, 3.5, 24.0, 30.0]
    assert net.event_times(2.5) == [0.0, 1.0, 2.0, 2.5]


def test_event_times_of_a_built_network_include_every_dose(multi):
    ev = multi.event_times(400.0)
    assert ev == sorted(ev) and ev[0] == 0.0 and ev[-1] == 400.0
    for t in (2.0, 5.0, 200.0):  # ip at 2 h, ia with a vasodilator at 5 h, iv at 200 h
        assert t in ev
    delay = scenario_parameters(make())["Immune priming delay [h]"]
    assert delay in ev  # primed from the first dose (0 h) + delay


def test_mode_at_follows_the_schedule_and_is_base_elsewhere():
    net = _toy(schedule=[(1.0, 2.0, "vasodilated"), (24.0, math.inf, "primed")])
    assert [net.mode_at(t) for t in (0.0, 1.0, 1.5, 2.0, 23.9, 24.0, 1e6)] == \
        ["base", "vasodilated", "vasodilated", "base", "base", "primed", "primed"]


def test_input_vector_spreads_the_cells_over_the_targets():
    net = _toy()
    v = net.input_vector(Input(0.0, 0.0, 1000.0, {"b__x": 0.75, "a__x": 0.25}))
    np.testing.assert_array_equal(v, [250.0, 750.0])
    with pytest.raises(KeyError):
        net.input_vector(Input(0.0, 0.0, 1.0, {"c__x": 1.0}))


def test_each_built_dose_gives_its_cells_in_full(multi):
    for inp, dose in zip(multi.inputs, MULTI_ROUTE):
        v = multi.input_vector(inp)
        assert v.sum() == pytest.approx(dose["cells"], rel=1e-12)
        assert (v >= 0).all()
