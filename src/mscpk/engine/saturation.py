"""The saturation rule (one owner for the simulate, batch and SBML paths).

``"off"``: linear model (capillary beds never fill). ``"on"``: saturable beds (arrest scaled by
the free capacity of the bed). ``"auto"`` (default): linear unless the linear solution's peak
embolic burden exceeds the "Saturation onset occlusion [-]" parameter.
"""

from __future__ import annotations

import numpy as np

from mscpk.engine.network import Network
from mscpk.errors import ScenarioError

MODES = ("auto", "on", "off")
ONSET = "Saturation onset occlusion [-]"


def check_mode(mode: object, key: str = "saturation") -> str:
    """``mode`` if it is one of :data:`MODES` (exact spelling), else ScenarioError."""
    if mode not in MODES:
        raise ScenarioError(f"{key}: {mode!r} is not allowed; allowed: {', '.join(MODES)}")
    return str(mode)


def peak_occlusion_by_bed(net: Network, states: np.ndarray) -> dict[str, float]:
    """Largest fraction [-] of each capillary bed (by organ) occupied by arrested cells."""
    if not net.capacities:
        return {}
    idx = net.layout.index
    members = [(idx(s), b) for b, cap in enumerate(net.capacities.values()) for s in cap.states]
    occ = np.zeros((len(members), len(net.capacities)))  # the occupying states only: a small product
    occ[np.arange(len(members)), [b for _, b in members]] = 1.0
    peak = (occ.T @ states.T[[i for i, _ in members]]).max(axis=1)  # (beds, times): a fast row max
    return {bed: float(peak[b] / cap.capacity) for b, (bed, cap) in enumerate(net.capacities.items())}


def peak_occlusion(net: Network, states: np.ndarray) -> float:
    """Largest fraction [-] of any capillary bed occupied by arrested cells."""
    return max(peak_occlusion_by_bed(net, states).values(), default=0.0)


def nonlinear(mode: str, linear_peak, onset):
    """Whether the saturable model applies: always for "on", never for "off", and for "auto"
    where the linear solution's peak occlusion exceeds the onset (arrays: per subject)."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return np.asarray(linear_peak) > np.asarray(onset)


__all__ = ["MODES", "ONSET", "check_mode", "peak_occlusion", "peak_occlusion_by_bed", "nonlinear"]
