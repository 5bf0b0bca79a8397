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
    log = np.log if _is_batch(median_um) or _is_batch(gsd) else math.log
    z = (np.log(deformability * d / dilation) - log(median_um)) / log(gsd)
    f_narrow = ndtr(z)  # fraction of segments narrower than the deformed cell
    return 1.0 - (1.0 - f_narrow) ** segments


def _is_batch(x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim > 0


def first_pass_extraction(mean_um: float, sd_um: float, median_um: float, gsd: float,
                          segments: float, deformability: float = 1.0,
                          dilation: float = 1.0) -> float:
    """Fraction [-] of a product (diameter ~ Normal(mean, sd) [um]) arrested on one pass.

    Batch builds: any argument may be an array (N,) of per-subject values (a population's
    cell size or capillary geometry); the quadrature is then broadcast over subjects and the
    result is an array (N,).
    """
    args = (mean_um, sd_um, median_um, gsd, segments, deformability, dilation)
    if any(_is_batch(a) for a in args):
        shape = np.broadcast(*[np.asarray(a) for a in args]).shape
        m, sd, med, g, seg, phi, dil = (np.broadcast_to(np.asarray(a, dtype=float), shape)[:, None] for a in args)
        p = trap_probability(m + sd * _GH_X, med, g, seg, phi, dil)
        return np.where(sd[:, 0] <= 0, p[:, 0], np.clip(p @ _GH_W, 0.0, 1.0))
    if sd_um <= 0:
        return float(trap_probability(mean_um, median_um, gsd, segments, deformability, dilation))
    d = mean_um + sd_um * _GH_X
    p = trap_probability(d, median_um, gsd, segments, deformability, dilation)
    return float(np.clip(np.dot(_GH_W, p), 0.0, 1.0))
