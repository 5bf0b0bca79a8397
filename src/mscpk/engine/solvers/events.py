"""Event handling shared by every solver: where the equations change, and what is given.

Between two event times (doses, infusion ends, mode-window bounds; :meth:`Network.event_times`)
the system ``dx/dt = A x + u`` is autonomous; every solver steps from event to event.
"""

from __future__ import annotations

import numpy as np

from mscpk.engine.network import Input, Network


def breakpoints(net: Network, times: np.ndarray) -> np.ndarray:
    """Event times and output times, sorted (the step solvers go from one to the next)."""
    end = float(np.max(times))
    return np.array(sorted(set(net.event_times(end)) | set(map(float, times))))


def infusing(net: Network, ta: float, tb: float) -> list[Input]:
    """The infusions running over the whole interval ``[ta, tb]``."""
    return [inp for inp in net.inputs
            if inp.duration_h > 0 and inp.time_h <= ta and tb <= inp.time_h + inp.duration_h + 1e-12]


def infusion_rate(net: Network, ta: float, tb: float) -> np.ndarray | None:
    """Constant input rate [cells/h] per state on ``[ta, tb]``, or None without infusions."""
    running = infusing(net, ta, tb)
    if not running:
        return None
    return sum(net.input_vector(inp) / inp.duration_h for inp in running)


def boluses(net: Network, t: float) -> np.ndarray | None:
    """Cells per state given as boluses at ``t``, or None."""
    given = [net.input_vector(inp) for inp in net.inputs if inp.duration_h == 0 and inp.time_h == t]
    return sum(given) if given else None


def administered(net: Network, times: np.ndarray) -> np.ndarray:
    """Cells administered [cells] by each time (boluses at t count at t)."""
    times = np.asarray(times, dtype=float)
    total = np.zeros_like(times)
    for inp in net.inputs:
        if inp.duration_h == 0:
            total += np.where(times >= inp.time_h, inp.cells, 0.0)
        else:
            total += inp.cells * np.clip((times - inp.time_h) / inp.duration_h, 0.0, 1.0)
    return total


__all__ = ["breakpoints", "infusing", "infusion_rate", "boluses", "administered"]
