"""First-pass mechanical entrapment of cells in a microvascular bed.

A cell of suspended diameter ``d`` deforms to an effective diameter ``phi * d`` (``phi``: the
deformability ratio; 1 for rigid microspheres). On its way through an organ it crosses
``n`` capillary segments in series, whose diameters are log-normal (median ``m``, geometric
SD ``g``; dilated by a factor ``D`` under a vasodilator). It is arrested if any segment is
narrower than ``phi * d``:

    P_trap(d) = 1 - (1 - F(phi * d / D))**n,   F = log-normal CDF(m, g)

and the organ's first-pass extraction of the product is the mean of ``P_trap`` over the
product's (normal) diameter distribution, computed with Gauss-Hermite quadrature.
Sources: geometric sieve after Doerschuk 1993 (C5) and Kutscher 2010 (C4, microspheres);
MSC size distributions after Ge 2014 (C6).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / _GH_W.sum()


def trap_probability(d_um: np.ndarray | float, median_um: float, gsd: float, segments: float,
                     deformability: float = 1.0, dilation: float = 1.0) -> np.ndarray:
    """Probability [-] that one cell of diameter ``d_um`` [um] is arrested on one pass."""
    d = np.maximum(np.asarray(d_um, dtype=float), 1e-6)
    z = (np.log(deformability * d / dilation) - math.log(median_um)) / math.log(gsd)
    f_narrow = ndtr(z)  # fraction of segments narrower than the deformed cell
    return 1.0 - (1.0 - f_narrow) ** segments


def _is_batch(x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim > 0


def first_pass_extraction(mean_um: float, sd_um: float, median_um: float, gsd: float,
                          segments: float, deformability: float = 1.0,
                          dilation: float = 1.0) -> float:
    """Fraction [-] of a product (diameter ~ Normal(mean, sd) [um]) arrested on one pass.

    Batch builds: ``deformability`` and ``dilation`` may be arrays (N,) of per-subject
    values; the quadrature is then broadcast over subjects and the result is an array (N,).
    """
    if _is_batch(deformability) or _is_batch(dilation):
        shape = np.broadcast(np.asarray(deformability), np.asarray(dilation)).shape
        phi = np.broadcast_to(np.asarray(deformability, dtype=float), shape)[:, None]
        dil = np.broadcast_to(np.asarray(dilation, dtype=float), shape)[:, None]
        if sd_um <= 0:
            return trap_probability(mean_um, median_um, gsd, segments, phi, dil)[:, 0]
        p = trap_probability(mean_um + sd_um * _GH_X, median_um, gsd, segments, phi, dil)
        return np.clip(p @ _GH_W, 0.0, 1.0)
    if sd_um <= 0:
        return float(trap_probability(mean_um, median_um, gsd, segments, deformability, dilation))
    d = mean_um + sd_um * _GH_X
    p = trap_probability(d, median_um, gsd, segments, deformability, dilation)
    return float(np.clip(np.dot(_GH_W, p), 0.0, 1.0))
