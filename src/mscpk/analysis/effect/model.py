"""The ``[effect]`` model on a result: the driver (live cells at the site, or the factor they
secrete) and the effect over time, for one subject or many at once.

Both the factor and the indirect response are first-order linear equations in their state,
``dy/dt = u(t) - k y``; with the input ``u`` linear between output times they are solved exactly
on the output grid (so a coarse grid coarsens the driver, never the solution of the equation).
"""

from __future__ import annotations

import math

import numpy as np

from mscpk.engine.result import Result
from mscpk.errors import ScenarioError
from mscpk.inputs.effect import Effect


def _first_order(times: np.ndarray, u: np.ndarray, k: float, y0) -> np.ndarray:
    """``dy/dt = u(t) - k y`` with ``u`` (N, T) linear between ``times``, y(times[0]) = ``y0``."""
    y = np.empty_like(u, dtype=float)
    y[:, 0] = y0
    for j, dt in enumerate(np.diff(times)):
        if dt == 0:
            y[:, j + 1] = y[:, j]
            continue
        e = math.exp(-k * dt)
        a = -math.expm1(-k * dt) / k                 # integral of e^{-k(dt - s)} ds over [0, dt]
        b = (dt - a) / (k * dt)                      # integral of (s / dt) e^{-k(dt - s)} ds
        y[:, j + 1] = y[:, j] * e + u[:, j] * a + (u[:, j + 1] - u[:, j]) * b
    return y


def driver(spec: Effect, times: np.ndarray, live: np.ndarray) -> np.ndarray:
    """The driver D(t) (N, T): live cells at the site, or the secreted factor's amount."""
    live = np.atleast_2d(np.asarray(live, dtype=float))
    if spec.driver == "live_cells":
        return live
    k = math.log(2.0) / spec.factor_half_life_h
    return _first_order(np.asarray(times, float), spec.secretion_per_cell_h * live, k, 0.0)


def effect_curves(spec: Effect, times: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(driver, effect), each (N, T), from the live cells (N, T) at the effect's site."""
    d = driver(spec, times, live)
    if spec.model == "emax":
        dh = np.power(np.maximum(d, 0.0), spec.hill)
        return d, spec.e0 + spec.emax * dh / (spec.ec50 ** spec.hill + dh)
    stim = spec.kin * (1.0 + spec.smax * d / (spec.sc50 + d))
    return d, _first_order(np.asarray(times, float), stim, spec.kout, spec.kin / spec.kout)


def effect(result: Result, spec: Effect):
    """DataFrame ``time_h, driver, effect`` of one result under the effect model ``spec``.

    Examples
    --------
    >>> import mscpk
    >>> from mscpk.inputs.effect import Effect
    >>> spec = Effect(site="lung", driver="factor", secretion_per_cell_h=1e-6, factor_half_life_h=12.0,
    ...               emax=1.0, ec50=0.5, source="illustrative")
    >>> df = effect(mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml")), spec)
    >>> bool(df.effect.max() > 0.5), bool(df.effect.iloc[-1] < df.effect.max())
    (True, True)
    """
    import pandas as pd

    if spec.site not in result.sites:
        raise ScenarioError(f"effect.site: {spec.site!r} is not a site of this scenario; allowed: {', '.join(result.sites)}")
    d, e = effect_curves(spec, result.times_h, result.quantity(spec.site, "live_cells")[None, :])
    return pd.DataFrame({"time_h": result.times_h, "driver": d[0], "effect": e[0]})


__all__ = ["effect", "effect_curves", "driver"]
