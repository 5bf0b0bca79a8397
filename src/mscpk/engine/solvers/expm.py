"""Exact propagation with matrix exponentials, in the cell-conserving ``expm(A dt) - I`` form.

From breakpoint to breakpoint (output times and events) ``x <- x + (expm(A dt) - I) x``; an
infusion ``u`` uses the augmented matrix ``[[A, u], [0, 0]]``. The step propagators of a rate
matrix are composed from the shortest step and kept in an LRU cache keyed by the matrix and
the set of steps (the built model, never the doses).
"""

from __future__ import annotations

import math

import numpy as np

from mscpk.engine.network import Network
from mscpk.engine.solvers.events import boluses, infusion_rate
from mscpk.utils import LRUCache

#: Step propagators per (rate matrix, set of steps) (~n*n*8 bytes per step).
_PROPAGATORS = LRUCache(16)


def expm_conservative(m: np.ndarray) -> np.ndarray:
    """``expm(m)`` by scaling and squaring of ``expm(m) - I`` (:func:`expm_minus_identity`)."""
    return expm_minus_identity(m) + np.eye(m.shape[0])


def expm_minus_identity(m: np.ndarray) -> np.ndarray:
    """``expm(m) - I`` by scaling and squaring.

    Keeping ``E = expm(m) - I`` (not ``expm(m)``) through the squarings
    ``E <- 2E + E @ E`` avoids adding small numbers to 1, so column sums of ``E`` stay ~0 to
    rounding when those of ``m`` are 0: cells are conserved to ~1e-14 even for the very stiff
    circulation (rates up to 1e8 /h against days). Taylor series of degree 12 on the scaled
    matrix (1-norm <= 1/4, truncation error < 3e-18 relative), by Paterson-Stockmeyer
    (5 matrix products).
    """
    norm = float(np.abs(m).sum(axis=0).max())
    s = max(0, int(np.ceil(np.log2(norm / 0.25)))) if norm > 0.25 else 0
    b = m / (2.0 ** s)
    b2 = b @ b
    b3 = b2 @ b
    b4 = b2 @ b2
    c = _INV_FACTORIAL
    eye = np.eye(m.shape[0])
    p2 = c[8] * eye + c[9] * b + c[10] * b2 + c[11] * b3 + c[12] * b4
    p1 = c[4] * eye + c[5] * b + c[6] * b2 + c[7] * b3 + b4 @ p2
    e = c[1] * b + c[2] * b2 + c[3] * b3 + b4 @ p1
    sq = np.empty_like(e)
    for _ in range(s):
        np.matmul(e, e, out=sq)
        sq += e
        sq += e
        e, sq = sq, e
    return e


#: 1/k! for k = 0..12 (the Taylor coefficients of :func:`expm_minus_identity`).
_INV_FACTORIAL = [1.0 / math.factorial(k) for k in range(13)]


def matrix_bytes(a: np.ndarray) -> bytes:
    """Size and bytes of a matrix: the key of the caches (:meth:`Network.matrix_key`)."""
    return a.shape[0].to_bytes(4, "little") + a.tobytes()


def step_propagators(a: np.ndarray, dts, key: bytes | None = None) -> dict[float, np.ndarray]:
    """``expm(a dt) - I`` for each step ``dt`` (rounded to 1e-12 h) of the rate matrix ``a``.

    Steps that are integer multiples ``m`` of the shortest one, ``h`` (the output grids:
    0.05, 0.15, ..., 6, 24 h), are composed from ``E_h = expm(A h) - I`` by squaring
    (``E_2a = 2 E_a + E_a E_a``) and products (``E_a+b = E_a + E_b + E_a E_b``), both
    kept in the ``expm - I`` form that conserves cells; a grid then costs one scaling
    and squaring plus ~log2(m) products instead of one ``expm`` per distinct step.
    Other steps get their own :func:`expm_minus_identity`.

    The propagators depend only on the rate matrix (the built model) and the set of
    steps, not on the doses: they are kept in a small LRU cache keyed by both, so
    re-simulating a model with other doses only propagates. Keying by the whole set of
    steps keeps the result independent of what was computed before (bit for bit).
    ``key``: :func:`matrix_bytes` of ``a`` if known.
    """
    wanted = np.unique(np.asarray(dts, dtype=float)).tolist()
    key = (matrix_bytes(a) if key is None else key, tuple(wanted))
    hit = _PROPAGATORS.get(key)
    if hit is not None:
        return hit
    h = next((dt for dt in wanted if dt > 0), 0.0)
    powers: dict[int, np.ndarray] = {}  # j -> E for the step h * 2**j

    def power(j: int) -> np.ndarray:
        if j not in powers:
            if j == 0:
                powers[0] = expm_minus_identity(a * h)
            else:
                e = power(j - 1)
                powers[j] = 2.0 * e + e @ e
        return powers[j]

    out: dict[float, np.ndarray] = {}
    for dt in wanted:
        m = int(round(dt / h)) if h > 0 else 0
        if h > 0 and 1 <= m <= 1 << 16 and abs(dt - m * h) <= 1e-12 * max(dt, 1.0):
            e = None
            for j in range(m.bit_length()):
                if m >> j & 1:
                    p = power(j)
                    e = p if e is None else e + p + e @ p
        else:
            e = expm_minus_identity(a * dt)
        e.setflags(write=False)
        out[dt] = e
    _PROPAGATORS.put(key, out)
    return out


def infusion_propagator(a: np.ndarray, dt: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(expm(a dt), g)``: over a step ``dt`` with constant input ``u``, ``x <- expm(a dt) x + g``."""
    n = a.shape[0]
    m = np.zeros((n + 1, n + 1))
    m[:n, :n] = a
    m[:n, n] = u
    e = expm_conservative(m * dt)
    return e[:n, :n], e[:n, n]


def doubling_powers(e: np.ndarray, levels: int, key=None) -> list[np.ndarray]:
    """Transposes of ``E_(2^j dt)`` for ``j < levels`` from ``e = E_dt`` by squaring in the
    conserving form (``E_2a = 2 E_a + E_a E_a``); LRU-cached by ``key`` (anything that
    determines ``e``; default its bytes), the longest list made, extended by the same
    recurrence: a prefix never depends on what was asked before."""
    key = ("doubling", matrix_bytes(e) if key is None else key)
    hit = _PROPAGATORS.get(key)
    if hit is not None and len(hit) >= levels:
        return hit
    out = list(hit) if hit is not None else [np.ascontiguousarray(e.T)]
    while len(out) < levels:
        p = out[-1]
        q = 2.0 * p + p @ p
        q.setflags(write=False)
        out.append(q)
    _PROPAGATORS.put(key, out)  # a new list: one that another thread holds never changes
    return out


#: Largest matrix product (multiply-adds) done in one call: OpenBLAS runs larger ones on
#: several threads, which spin-wait for milliseconds when the machine is busy.
GEMM_SMALL = 1 << 18
#: Runs of at least this many equal steps are propagated by doubling (:func:`_run`).
RUN_MIN = 16


def _run(e: np.ndarray, ys: np.ndarray, key=None) -> None:
    """Fill ``ys[1:]`` with the states after 1, 2, ... equal steps (``e = E_dt``) from
    ``ys[0]``, by doubling: with the states after ``0..2^j - 1`` steps known, those after
    ``2^j..2^(j+1) - 1`` are ``x_(k + 2^j) = x_k + E_(2^j dt) x_k``, one matrix product over
    all of them (~log2 r products in all, each cut below :data:`GEMM_SMALL` multiply-adds).
    ``key``: the cache key of ``e`` (:func:`doubling_powers`)."""
    total, n = ys.shape
    powers = doubling_powers(e, int(total - 1).bit_length(), key)  # 2**levels >= total states
    rows = max(1, GEMM_SMALL // (n * n))
    filled = 1
    for p in powers:
        need = min(filled, total - filled)
        for k in range(0, need, rows):  # small products: OpenBLAS keeps them on one thread
            k1 = min(need, k + rows)
            block = ys[filled + k:filled + k1]
            np.matmul(ys[k:k1], p, out=block)
            block += ys[k:k1]
        filled += need


def solve_expm(net: Network, times: np.ndarray) -> np.ndarray:
    """States [cells] at ``times`` [h], shape (len(times), n_states), by matrix exponentials.

    From event to event (:meth:`Network.event_times`: mode, doses and infusions constant in
    between) over the output times inside; runs of equal steps (e.g. an hourly grid) are
    propagated by doubling (:func:`_run`), all states of a run by ~log2(run) matrix products."""
    times = np.asarray(times, dtype=float)
    ts, inverse = np.unique(times, return_inverse=True)  # sorted, unique
    events = net.event_times(float(ts[-1]))
    n = len(net.layout)
    x = np.zeros(n)
    out = np.zeros((ts.size, n))
    for e, ta in enumerate(events):
        b = boluses(net, ta)
        if b is not None:
            x = x + b
        lo = int(np.searchsorted(ts, ta))
        if lo < ts.size and ts[lo] == ta:
            out[lo] = x
            lo += 1
        if e + 1 == len(events):
            break
        tb = events[e + 1]
        hi = int(np.searchsorted(ts, tb))  # outputs strictly inside (ta, tb): ts[lo:hi]
        steps = np.diff(np.concatenate(([ta], ts[lo:hi], [tb])))
        mode = net.mode_at(ta)
        a = net.matrix(mode)
        u = infusion_rate(net, ta, tb)
        states = np.empty((steps.size + 1, n))  # at ta, then after each step
        states[0] = x
        if u is not None:
            for k, dt in enumerate(steps):
                phi, g = infusion_propagator(a, dt, u)
                states[k + 1] = phi @ states[k] + g
        else:
            dts = np.round(steps, 12)
            a_key = net.matrix_key(mode)
            props = step_propagators(a, dts.tolist(), a_key)
            h = float(dts[dts > 0].min(initial=np.inf))  # E_dt is composed from E_h: (a, h, dt) fix it
            bounds = [0, *(np.flatnonzero(dts[1:] != dts[:-1]) + 1).tolist(), dts.size]  # runs of equal steps
            for k0, k1 in zip(bounds[:-1], bounds[1:]):
                dt = float(dts[k0])
                e_dt = props[dt]
                if k1 - k0 >= RUN_MIN:
                    _run(e_dt, states[k0:k1 + 1], (a_key, h, dt))
                else:
                    for k in range(k0, k1):
                        states[k + 1] = states[k] + e_dt.dot(states[k])
        out[lo:hi] = states[1:-1]
        x = states[-1].copy()
    return out if ts.size == times.size and np.array_equal(ts, times) else out[inverse]


__all__ = ["expm_conservative", "expm_minus_identity", "step_propagators", "infusion_propagator", "doubling_powers", "matrix_bytes",
           "solve_expm"]
