"""Adaptive immune priming: the "primed" modes (model/build.py, fate.immune_hazard)."""

from __future__ import annotations

import numpy as np
import pytest

import mscpk
from helpers import make
from mscpk.errors import ParameterError
from mscpk.engine.model.build import build_network

DAY = 24.0
T2 = 14 * DAY  # second dose
T_OBS = T2 + 3 * DAY  # 3 d after it


def _iv(t, cells=1e6):
    return {"route": "iv", "cells": cells, "time_h": t}


def second_dose_survival(immune: str, params=None) -> tuple[float, float]:
    """Live cells at 17 d from an allogeneic IV dose at 14 d: (after a first dose at 0 d,
    given alone). The model is linear and both primed runs share the schedule (first dose at
    0), so the second dose's cells are the two-dose run minus the first-dose-only run."""
    kw = dict(origin="allogeneic", immune=immune, end=T_OBS, times=[T_OBS], params=params)
    both = mscpk.simulate(make(doses=[_iv(0.0), _iv(T2)], **kw)).live_total()[0]
    first = mscpk.simulate(make(doses=[_iv(0.0)], **kw)).live_total()[0]
    alone = mscpk.simulate(make(doses=[_iv(T2)], **kw)).live_total()[0]
    return both - first, alone


def test_schedule_partition_and_modes():
    sc = make(origin="allogeneic", end=400.0,
              doses=[{"route": "iv", "cells": 1e6, "vasodilator": True},
                     {"route": "iv", "cells": 1e6, "time_h": 167.5, "vasodilator": True}])
    net = build_network(sc)
    assert net.schedule == ((0.0, 1.0, "vasodilated"), (167.5, 168.0, "vasodilated"),
                            (168.0, 168.5, "primed+vasodilated"), (168.5, float("inf"), "primed"))
    assert set(net.modes) == {"base", "vasodilated", "primed", "primed+vasodilated"}
    assert [net.mode_at(t) for t in (0.0, 0.99, 1.0, 167.6, 168.0, 168.4, 168.5, 1e6)] == \
        ["vasodilated", "vasodilated", "base", "vasodilated", "primed+vasodilated",
         "primed+vasodilated", "primed", "primed"]
    # no priming in an immunodeficient host
    assert "primed" not in build_network(make(immune="immunodeficient")).modes


def test_primed_second_dose_follows_the_primed_hazard():
    after, alone = second_dose_survival("immunocompetent")
    k, iota, factor = 0.006495, 0.4, 3.0
    assert alone / after == pytest.approx(np.exp((factor - 1) * iota * k * 3 * DAY), rel=1e-6)
    assert alone > 1.4 * after  # a primed host destroys a later allogeneic dose faster
    # a stronger boost (factor 5) gives the >= 2x rejection of the second dose
    after5, alone5 = second_dose_survival("immunocompetent", {"Primed immune hazard factor [-]": 5.0})
    assert alone5 >= 2 * after5


def test_immunodeficient_host_is_not_primed():
    after, alone = second_dose_survival("immunodeficient")
    assert after == pytest.approx(alone, rel=0.10)


def test_factor_one_reproduces_the_unprimed_model_exactly():
    doses = [{"route": "iv", "cells": 1e6, "vasodilator": True}, {"route": "ip", "cells": 5e5, "time_h": 200.0}]
    times = [0.5, 24, 168, 200, 300, 672]
    one = mscpk.simulate(make(origin="xenogeneic", doses=doses, times=times,
                              params={"Primed immune hazard factor [-]": 1.0}))
    # reference without priming: the same rates in an immunocompetent host, with the
    # priming time beyond the horizon (no primed interval is ever entered)
    ref = mscpk.simulate(make(origin="xenogeneic", doses=doses, times=times,
                              params={"Immune priming delay [h]": 8760.0}))
    np.testing.assert_array_equal(one.states, ref.states)
    assert "primed" not in build_network(make(params={"Primed immune hazard factor [-]": 1.0})).modes
    primed = mscpk.simulate(make(origin="xenogeneic", doses=doses, times=times))
    assert primed.live_total()[-1] < 0.5 * one.live_total()[-1]
    np.testing.assert_array_equal(primed.states[:2], one.states[:2])  # identical before 168 h


@pytest.mark.parametrize("saturation", ["off", "on"])
def test_mass_balance_with_priming_vasodilator_and_infusion(saturation):
    doses = [{"route": "iv", "cells": 1e6, "infusion_min": 30.0, "vasodilator": True},
             {"route": "iv", "cells": 1e6, "time_h": 167.0, "infusion_min": 120.0, "vasodilator": True},
             {"route": "ip", "cells": 1e6, "time_h": 240.0}]
    sc = make(origin="allogeneic", doses=doses, end=672.0,
              times=[0.25, 0.5, 1, 24, 167, 168, 168.5, 169, 200, 240, 300, 672])
    net = build_network(sc)
    assert "primed+vasodilated" in {m for _, _, m in net.schedule}
    r = mscpk.simulate(sc, saturation=saturation)
    assert r.mass_balance_error() < 1e-9
    assert np.all(r.states > -1e-6 * 3e6)


def test_batch_priming_per_subject_and_delay_cannot_vary():
    doses = [{"route": "iv", "cells": 1e6, "vasodilator": True},
             {"route": "iv", "cells": 1e6, "time_h": 168.0, "infusion_min": 30.0, "vasodilator": True}]
    sc = make(origin="allogeneic", doses=doses, end=400.0, times=[1, 24, 168, 169, 200, 400])
    factors = np.array([1.0, 2.0, 3.0, 6.0])
    ds = mscpk.simulate_batch(sc, {"Primed immune hazard factor [-]": factors})
    live = ds.cells.sel(quantity="live_cells").sum("site").values  # (subject, time)
    for i, f in enumerate(factors):
        ref = mscpk.simulate(make(origin="allogeneic", doses=doses, end=400.0, times=[1, 24, 168, 169, 200, 400],
                                  params={"Primed immune hazard factor [-]": float(f)}))
        np.testing.assert_allclose(live[i], ref.live_total(), rtol=1e-7, atol=1e-6 * 2e6)
    assert np.all(np.diff(live[:, -1]) < 0)  # stronger boost, fewer live cells
    assert float(ds.mass_balance_error.max()) < 1e-9
    with pytest.raises(ParameterError, match="Immune priming delay"):
        mscpk.simulate_batch(sc, {"Immune priming delay [h]": [100.0, 200.0]})
    # immunodeficient host: not primed, so the delay may be sampled (it has no effect)
    sc_d = make(origin="allogeneic", immune="immunodeficient", doses=doses, end=400.0, times=[400])
    ds_d = mscpk.simulate_batch(sc_d, {"Immune priming delay [h]": [100.0, 200.0]})
    assert float(abs(ds_d.cells.sel(subject=0) - ds_d.cells.sel(subject=1)).max()) == 0.0
