"""Compiled kernel of the saturating solver: ``exprb53s3`` steps of many subjects, one after
the other, in machine code (numba, compiled on first use and cached on disk).

Per subject and step: the analytic Jacobian, its eigenbasis (:mod:`.exprb_basis`: the
previous step's refined, or LAPACK on the diagonal blocks; real, or complex where the
Jacobian has complex pairs), the phi-functions in that eigenbasis and the dense output at every output
time inside the step. A subject whose eigenbasis is complex or ill-conditioned gets a
nonzero ``status`` and is left to :mod:`mscpk.engine.solvers.exprb`'s general path.
The method: docs/model.md, section 8, "Nonlinear".
"""

from __future__ import annotations

import math
import threading

import numpy as np

import mscpk.engine.solvers.exprb_basis as exprb_basis
from mscpk.engine.solvers.exprb_basis import decompose

#: ``status`` codes: solved, eigenbasis not real/well-conditioned, too many steps.
OK, BASIS, STEPS = 0, 1, 2

#: exprb53s3 (Luan & Ostermann 2014, J. Comput. Appl. Math. 255:417): nodes c2, c3 and the
#: weights of D2 in the third stage (on phi3(c2 hJ) and phi3(c3 hJ)).
C2, C3, A32_2, A32_3 = 0.5, 0.9, 27.0 / 25.0, 729.0 / 125.0

_INV_FACT = np.array([1.0 / math.factorial(j) for j in range(21)])


def _phis4(z, out):
    """``out[k - 1] = phi_k(z)``, k = 1..4 (as :func:`mscpk.engine.solvers.exprb.phis`)."""
    inv_fact = _INV_FACT
    for i in range(z.size):
        zi = z[i]
        if abs(zi) >= 0.5:
            rz = 1.0 / zi
            p = np.expm1(zi) * rz
            out[0, i] = p
            for j in range(1, 4):
                p = (p - inv_fact[j]) * rz
                out[j, i] = p
        else:  # phi4(z) = sum_k z^k / (k + 4)!, k < 16, by Horner
            s = zi * 0.0 + inv_fact[19]
            for j in range(18, 3, -1):
                s = s * zi + inv_fact[j]
            out[3, i] = s
            for j in range(3, 0, -1):
                s = zi * s + inv_fact[j]
                out[j - 1, i] = s


def _occupied(ost, b, x):
    """Cells in bed ``b``: the sum of ``x`` over its states ``ost[b]`` (padded with -1)."""
    s = 0.0
    for k in range(ost.shape[1]):
        o = ost[b, k]
        if o >= 0:
            s += x[o]
    return s


def _rhs(lin, u, krate, src, dst, bed, ost, cap, x, f, theta, bend):
    """``f = F(x)``; ``theta``: occupied fraction per bed (``lin`` block lower-triangular:
    ``lin[i, j] = 0`` for ``j >= bend[i]``)."""
    n = x.size
    for i in range(n):
        s = u[i]
        for j in range(bend[i]):
            s += lin[i, j] * x[j]
        f[i] = s
    for b in range(cap.size):
        theta[b] = _occupied(ost, b, x) / cap[b]
    for t in range(src.size):
        corr = krate[t] * x[src[t]] * theta[bed[t]]
        f[src[t]] += corr
        f[dst[t]] -= corr


def _jacobian(lin, krate, src, dst, bed, ost, cap, x, theta, jac):
    """``jac = J(x)`` (``theta`` from :func:`_rhs` at the same ``x``)."""
    n = x.size
    for i in range(n):
        for j in range(n):
            jac[i, j] = lin[i, j]
    for t in range(src.size):
        i, j, b = src[t], dst[t], bed[t]
        kt = krate[t] * theta[b]
        jac[i, i] += kt
        jac[j, i] -= kt
        d = krate[t] * x[i] / cap[b]
        for k in range(ost.shape[1]):
            o = ost[b, k]
            if o >= 0:
                jac[i, o] += d
                jac[j, o] -= d


def _conserve(x, total):
    """Project ``x`` onto ``sum(x) = total`` (the exact cell count; the eigenbasis conserves
    it only to its rounding), each state changed in proportion to its size."""
    tot = 0.0
    mag = 0.0
    for i in range(x.size):
        tot += x[i]
        mag += abs(x[i])
    if mag > 0.0:
        d = (total - tot) / mag
        for i in range(x.size):
            x[i] += d * abs(x[i])


def _clamp(ost, fill, cap, x):
    """Every bed at or below capacity: a rounding-level excess back to the bed's vascular state."""
    for b in range(cap.size):
        tot = _occupied(ost, b, x)
        if tot > cap[b]:
            excess = tot - cap[b]
            share = excess / tot
            for k in range(ost.shape[1]):
                o = ost[b, k]
                if o >= 0:
                    x[o] -= x[o] * share
            x[fill[b]] += excess


def _remainder(lin, u, krate, src, dst, bed, ost, cap, jac, x0, f0, x, d, tmp, theta, bend):
    """``d = F(x) - F(x0) - J (x - x0)``, the nonlinear remainder (``f0 = F(x0)``)."""
    _rhs(lin, u, krate, src, dst, bed, ost, cap, x, d, theta, bend)
    for i in range(x.size):
        tmp[i] = x[i] - x0[i]
    _matvec(jac, tmp, x, bend)
    for i in range(x.size):
        d[i] -= f0[i] + x[i]


def _matvec(a, x, out, bend):
    """``out = a @ x`` (``out`` of the type of the product) for a block lower-triangular
    ``a`` (``a[i, j] = 0`` for ``j >= bend[i]``)."""
    for i in range(a.shape[0]):
        s = a[i, 0] * x[0]
        for j in range(1, bend[i]):
            s += a[i, j] * x[j]
        out[i] = s


def _matvec_real(a, x, out, bend):
    """``out = Re(a @ x)`` (as :func:`_matvec`)."""
    for i in range(a.shape[0]):
        s = a[i, 0] * x[0]
        for j in range(1, bend[i]):
            s += a[i, j] * x[j]
        out[i] = s.real


def _step(lin, u, krate, cap, atol, src, dst, bed, ost, fill, jac, lam, vv, ww, xa, f0, hs, rtol,
          last_t, t, tb, p, times, y, s, w_ptr, w_idx, w_val, ident, perm, xn, ph, ph2, ph3, z, cf, c2, c3, g,
          u2, f1, tmp, corr, xs, theta, bend):
    """One exprb53s3 step of size ``hs`` from ``(t, xa)`` in the eigenbasis ``(lam, vv, ww)``
    of ``jac`` (real or complex). Returns (err, accepted, next output index); if accepted,
    ``xn`` holds the new state and the outputs inside the step are written to ``y[s]``."""
    n = xa.size
    total = 0.0
    u_sum = 0.0
    for i in range(n):
        total += xa[i]
        u_sum += u[i]
    _matvec(ww, f0, cf, bend)
    for i in range(n):
        z[i] = C2 * hs * lam[i]
    _phis4(z, ph2)
    for i in range(n):
        z[i] = C3 * hs * lam[i]
    _phis4(z, ph3)
    for i in range(n):
        z[i] = hs * lam[i]
    _phis4(z, ph)
    # U2 = x + c2 h phi1(c2 hJ) F
    for i in range(n):
        g[i] = C2 * hs * ph2[0, i] * cf[i]
    _matvec_real(vv, g, tmp, bend)
    for i in range(n):
        u2[i] = xa[i] + tmp[i]
    _remainder(lin, u, krate, src, dst, bed, ost, cap, jac, xa, f0, u2, f1, tmp, theta, bend)
    _matvec(ww, f1, c2, bend)  # D2 in the eigenbasis
    # U3 = x + c3 h phi1(c3 hJ) F + h (27/25 phi3(c2 hJ) + 729/125 phi3(c3 hJ)) D2
    for i in range(n):
        g[i] = C3 * hs * ph3[0, i] * cf[i] + hs * (A32_2 * ph2[2, i] + A32_3 * ph3[2, i]) * c2[i]
    _matvec_real(vv, g, tmp, bend)
    for i in range(n):
        u2[i] = xa[i] + tmp[i]
    _remainder(lin, u, krate, src, dst, bed, ost, cap, jac, xa, f0, u2, f1, tmp, theta, bend)
    _matvec(ww, f1, c3, bend)  # D3
    # x + h phi1 F + 2 h^3 phi3 a + 6 h^4 phi4 b, R(s) = a s^2 + b s^3 through D2, D3;
    # corr: minus the embedded third-order solution x + h phi1 F + h phi3 (2 D2 + 150/81 D3)
    for i in range(n):
        a2 = (9.0 * c2[i] - 125.0 / 81.0 * c3[i]) / hs ** 2
        b3 = (-10.0 * c2[i] + 250.0 / 81.0 * c3[i]) / hs ** 3
        g[i] = hs * ph[2, i] * (2.0 * hs ** 2 * a2 - 2.0 * c2[i] - 150.0 / 81.0 * c3[i]) \
            + 6.0 * hs ** 4 * ph[3, i] * b3
        c2[i] = a2
        c3[i] = b3
    _matvec_real(vv, g, corr, bend)
    for i in range(n):
        g[i] = hs * ph[0, i] * cf[i] + 2.0 * hs ** 3 * ph[2, i] * c2[i] + 6.0 * hs ** 4 * ph[3, i] * c3[i]
    _matvec_real(vv, g, tmp, bend)
    err = 0.0
    finite = True
    for i in range(n):
        xn[i] = xa[i] + tmp[i]
        if not math.isfinite(xn[i]):
            finite = False
        sc = atol + rtol * max(abs(xa[i]), abs(xn[i]))
        err = max(err, abs(corr[i]) / sc)
    for b in range(cap.size):
        if _occupied(ost, b, xn) / cap[b] > 1.0 + 1e3 * rtol:
            finite = False  # overshoot of a bed: reject
    if not (err <= 1.0 and finite):
        return err, False, p
    t1 = tb if last_t else t + hs
    n_t = times.size
    while p < n_t and times[p] <= t1:  # dense output inside the step
        tau = times[p] - t
        for i in range(n):
            z[i] = tau * lam[i]
        _phis4(z, ph2)
        for i in range(n):
            g[i] = tau * ph2[0, i] * cf[i] + 2.0 * tau ** 3 * ph2[2, i] * c2[i] + 6.0 * tau ** 4 * ph2[3, i] * c3[i]
        _matvec_real(vv, g, xs, bend)
        for i in range(n):
            xs[i] += xa[i]
        _conserve(xs, total + tau * u_sum)
        _clamp(ost, fill, cap, xs)
        if ident:  # the states themselves, in the network's order
            for i in range(n):
                y[s, perm[i], p] = xs[i]
        else:  # w_out as compressed rows (w_ptr, w_idx, w_val)
            for r_ in range(w_ptr.size - 1):
                acc = 0.0
                for k in range(w_ptr[r_], w_ptr[r_ + 1]):
                    acc += w_val[k] * xs[w_idx[k]]
                y[s, r_, p] = acc
        p += 1
    _conserve(xn, total + hs * u_sum)
    _clamp(ost, fill, cap, xn)
    return err, True, p


def _advance(x, h, steps, status, lin, u, krate, cap, atol, src, dst, bed, ost, fill,
             bstart, bstop, bend, ta, tb, times, y, w_ptr, w_idx, w_val, ident, perm, rtol, cond_max, t_span,
             max_steps):
    """Advance every subject ``s`` with ``status[s] == OK`` from ``ta`` to ``tb`` (one mode,
    constant infusion ``u``): ``x``, ``h`` (next step size) and ``steps`` updated in place,
    outputs ``y[s, :, k] = w_out @ x(times[k])`` for ``ta < times[k] <= tb`` (``w_out`` in
    compressed rows: ``w_ptr``, ``w_idx``, ``w_val``; ``ident``:
    ``y[s, perm[i], k] = x_i``, the states in the network's order). Each step uses the real
    eigenbasis of the Jacobian, or the complex one where it has complex pairs."""
    n_sub, n = x.shape
    n_t = times.size
    end_tol = 1e-12 * max(1.0, tb)
    work = np.empty((8, n))
    f0, f1, u2, xa, xn, corr, tmp, xs = work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    theta = np.empty(cap.shape[1])
    jac = np.empty((n, n))
    jc = np.empty((n, n), dtype=np.complex128)
    vv, ww = np.empty((n, n)), np.empty((n, n))
    vc, wc = np.empty((n, n), dtype=np.complex128), np.empty((n, n), dtype=np.complex128)
    pv, pw = np.empty((n, n)), np.empty((n, n))  # the last real basis of this subject
    mw = np.empty((6, n))
    lam, z, cf, c2, c3, g = mw[0], mw[1], mw[2], mw[3], mw[4], mw[5]
    mc = np.empty((6, n), dtype=np.complex128)
    lamc, zc, cfc, c2c, c3c, gc = mc[0], mc[1], mc[2], mc[3], mc[4], mc[5]
    ph, ph2, ph3 = np.empty((4, n)), np.empty((4, n)), np.empty((4, n))
    phc, ph2c, ph3c = np.empty((4, n), dtype=np.complex128), np.empty((4, n), dtype=np.complex128), \
        np.empty((4, n), dtype=np.complex128)
    first = 0
    while first < n_t and times[first] <= ta:
        first += 1
    for s in range(n_sub):
        if status[s] != OK:
            continue
        t = ta
        p = first
        lin_s, k_s, cap_s, u_s, atol_s = lin[s], krate[s], cap[s], u[s], atol[s]
        prev = False
        while t < tb - end_tol:
            steps[s] += 1
            if steps[s] > max_steps:
                status[s] = STEPS
                break
            hs = min(h[s], tb - t)
            if tb - t - hs < 1e-9 * hs:
                hs = tb - t
            last_t = t + hs >= tb - end_tol
            for i in range(n):
                xa[i] = x[s, i]
            _rhs(lin_s, u_s, k_s, src, dst, bed, ost, cap_s, xa, f0, theta, bend)
            _jacobian(lin_s, k_s, src, dst, bed, ost, cap_s, xa, theta, jac)
            if decompose(jac, bstart, bstop, bend, lam, vv, ww, cond_max, t_span, pv, pw, prev):
                prev = True
                pv[:, :] = vv
                pw[:, :] = ww
                err, ok, p = _step(lin_s, u_s, k_s, cap_s, atol_s, src, dst, bed, ost, fill, jac, lam, vv, ww,
                                   xa, f0, hs, rtol, last_t, t, tb, p, times, y, s, w_ptr, w_idx, w_val, ident, perm, xn,
                                   ph, ph2, ph3, z, cf, c2, c3, g, u2, f1, tmp, corr, xs, theta, bend)
            else:
                for i in range(n):
                    for j in range(n):
                        jc[i, j] = jac[i, j]
                prev = False
                if not decompose(jc, bstart, bstop, bend, lamc, vc, wc, cond_max, t_span, vc, wc, False):
                    status[s] = BASIS
                    break
                err, ok, p = _step(lin_s, u_s, k_s, cap_s, atol_s, src, dst, bed, ost, fill, jac, lamc, vc, wc,
                                   xa, f0, hs, rtol, last_t, t, tb, p, times, y, s, w_ptr, w_idx, w_val, ident, perm, xn,
                                   phc, ph2c, ph3c, zc, cfc, c2c, c3c, gc, u2, f1, tmp, corr, xs, theta, bend)
            fac = 0.9 * max(err, 1e-12) ** -0.25 if math.isfinite(err) else 0.2
            if not ok:
                fac = min(fac, 0.5)
            h[s] = hs * min(10.0, max(0.2, fac))
            if ok:
                for i in range(n):
                    x[s, i] = xn[i]
                t = tb if last_t else t + hs


_COMPILED: dict = {}
_LOCK = threading.Lock()


def advance():
    """The compiled :func:`_advance` (numba; compiled on first use, ~15 s, and cached on disk:
    later processes load it in ~0.4 s). Thread-safe: batch chunks run on threads."""
    with _LOCK:
        if not _COMPILED:
            import numba

            g, gb = globals(), vars(exprb_basis)
            jit = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
            for name in ("group_cols_times", "group_rows_times", "inverse_sweeps", "refine", "decompose"):  # callees first: the callers
                gb[name] = jit(gb[name])  # see them compiled
            g["decompose"] = gb["decompose"]
            for name in ("_phis4", "_occupied", "_rhs", "_jacobian", "_conserve", "_clamp", "_matvec",
                         "_matvec_real", "_remainder", "_step", "_advance"):
                g[name] = jit(g[name])
            _COMPILED["advance"] = g["_advance"]
        return _COMPILED["advance"]


__all__ = ["OK", "BASIS", "STEPS", "advance"]
