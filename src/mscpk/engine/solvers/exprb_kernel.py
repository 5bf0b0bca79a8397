"""Compiled kernel of the saturating solver: ``exprb53s3`` steps of many subjects, one after
the other, in machine code (numba, compiled on first use and cached on disk).

Per subject and step: the analytic Jacobian, the eigendecomposition of its diagonal blocks
(LAPACK, real eigenvalues) completed over the block lower-triangular structure by
substitution, the phi-functions in that eigenbasis and the dense output at every output
time inside the step. A subject whose eigenbasis is complex or ill-conditioned gets a
nonzero ``status`` and is left to :mod:`mscpk.engine.solvers.exprb`'s general path.
The method: docs/model.md, section 8, "Nonlinear".
"""

from __future__ import annotations

import math
import threading

import numpy as np

#: ``status`` codes: solved, eigenbasis not real/well-conditioned, too many steps.
OK, BASIS, STEPS = 0, 1, 2

#: exprb53s3 (Luan & Ostermann 2014, J. Comput. Appl. Math. 255:417): nodes c2, c3 and the
#: weights of D2 in the third stage (on phi3(c2 hJ) and phi3(c3 hJ)).
C2, C3, A32_2, A32_3 = 0.5, 0.9, 27.0 / 25.0, 729.0 / 125.0

#: Eigenbasis refinement (:func:`_refine`, dimensionless): at most this many sweeps (the
#: last one only checks); pairs coupled above this fraction of their eigenvalue gap are
#: grouped; converged at this coupling; largest group, its eigenvector condition number and
#: the largest Newton correction accepted (measured choices: docs/model.md, section 8).
REFINE_SWEEPS, REFINE_GAP, REFINE_TOL, REFINE_GROUP, REFINE_COND, REFINE_STEP = 5, 0.1, 1e-9, 16, 1e4, 0.3

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


def _refine(blk, vb, wb, lb):
    """The eigenbasis of the block ``blk`` from the previous step's ``(vb, wb = vb^-1)``, in
    place, by Newton sweeps on ``B = W blk V``: modes coupled strongly for their eigenvalue gap
    (``|B_ij| > REFINE_GAP |B_jj - B_ii|``, as the slow modes near -0.029/h) are grouped and
    their group's block of ``B`` diagonalised by LAPACK (small), the rest decoupled by
    ``V <- V (I + Z)``, ``W <- (I + Z)^-1 W``, ``Z_ij = B_ij / (B_jj - B_ii)`` (quadratic
    convergence). Accepted when a fresh ``B`` is diagonal to ``REFINE_TOL`` of each pair's gap
    (or of ``1e-4`` of their magnitude, for near-equal eigenvalues); ``lb``: the eigenvalues.
    Returns False (``vb``, ``wb`` spoilt) when that fails within ``REFINE_SWEEPS`` sweeps, a
    group is large, complex or ill-conditioned, or a correction is not small."""
    m = blk.shape[0]
    for j in range(m):  # unit columns (the stored basis is scaled over the full network)
        sc = 0.0
        for i in range(m):
            sc += abs(vb[i, j]) ** 2
        sc = math.sqrt(sc)
        if not sc > 0.0:
            return False
        for i in range(m):
            vb[i, j] /= sc
            wb[j, i] *= sc
    lab = np.empty(m, dtype=np.int64)
    idx = np.empty(m, dtype=np.int64)
    d = np.empty(m, dtype=vb.dtype)
    strong = np.empty((m * m, 2), dtype=np.int64)
    for sweep in range(REFINE_SWEEPS):
        b = wb @ (blk @ vb)
        for i in range(m):
            d[i] = b[i, i]
            lab[i] = i
        done = True
        ns = 0
        for i in range(m):
            for j in range(m):
                if i != j:
                    e = abs(b[i, j])
                    gap = abs(d[j] - d[i])
                    if e > REFINE_TOL * max(gap, 1e-4 * (abs(d[i]) + abs(d[j]))):
                        done = False
                        if e > REFINE_GAP * gap:
                            strong[ns, 0] = i
                            strong[ns, 1] = j
                            ns += 1
        if done:
            for i in range(m):
                lb[i] = d[i]
            return True
        if sweep == REFINE_SWEEPS - 1:
            return False
        for t in range(ns):
            old, new = lab[strong[t, 1]], lab[strong[t, 0]]
            if old != new:
                for k in range(m):
                    if lab[k] == old:
                        lab[k] = new
        for c in range(m):  # each group: LAPACK on its block of B
            k = 0
            for i in range(m):
                if lab[i] == c:
                    idx[k] = i
                    k += 1
            if k < 2:
                continue
            if k > REFINE_GROUP:
                return False
            sub = np.empty((k, k), dtype=b.dtype)
            for i in range(k):
                for j in range(k):
                    sub[i, j] = b[idx[i], idx[j]]
            try:
                _, q = np.linalg.eig(sub)
                qi = np.linalg.inv(q)
            except Exception:  # complex pair or singular
                return False
            if not np.abs(q).sum(axis=0).max() * np.abs(qi).sum(axis=0).max() <= REFINE_COND:
                return False
            for r_ in range(m):  # columns idx of B and V times q
                for i in range(k):
                    sub[0, i] = 0.0
                for i in range(k):
                    for j in range(k):
                        sub[0, j] += b[r_, idx[i]] * q[i, j]
                for j in range(k):
                    b[r_, idx[j]] = sub[0, j]
                for i in range(k):
                    sub[0, i] = 0.0
                for i in range(k):
                    for j in range(k):
                        sub[0, j] += vb[r_, idx[i]] * q[i, j]
                for j in range(k):
                    vb[r_, idx[j]] = sub[0, j]
            for c_ in range(m):  # rows idx of B and W times q^-1 from the left
                for i in range(k):
                    sub[0, i] = 0.0
                for i in range(k):
                    for j in range(k):
                        sub[0, i] += qi[i, j] * b[idx[j], c_]
                for i in range(k):
                    b[idx[i], c_] = sub[0, i]
                for i in range(k):
                    sub[0, i] = 0.0
                for i in range(k):
                    for j in range(k):
                        sub[0, i] += qi[i, j] * wb[idx[j], c_]
                for i in range(k):
                    wb[idx[i], c_] = sub[0, i]
        z = np.zeros((m, m), dtype=b.dtype)  # Z between groups
        zmax = 0.0
        for i in range(m):
            for j in range(m):
                if lab[i] != lab[j] and b[i, j] != 0.0:
                    z[i, j] = b[i, j] / (b[j, j] - b[i, i])
                    zmax = max(zmax, abs(z[i, j]))
        if not zmax <= REFINE_STEP:
            return False
        vb[:, :] = vb + vb @ z
        wb[:, :] = wb - z @ (wb - z @ wb)  # (I + Z)^-1 W to O((m max|Z|)^3), then to rounding
        if m * zmax > 1e-5 and not _inverse_sweeps(vb, wb):  # (B of this graded matrix needs it)
            return False
    return False


def _inverse_sweeps(vb, wb):
    """``wb`` refined to ``vb^-1`` in place by Newton-Schulz sweeps ``W <- W + W (I - V W)``;
    False unless ``max |I - V W| < 1e-13`` within 6 sweeps (rounding is ~1e-14 here)."""
    m = vb.shape[0]
    for _ in range(6):
        e = -(vb @ wb)
        emax = 0.0
        for i in range(m):
            e[i, i] += 1.0
            for j in range(m):
                emax = max(emax, abs(e[i, j]))
        if emax < 1e-13:
            return True
        wb[:, :] = wb + wb @ e
    return False


def _decompose(jac, bstart, bstop, bend, lam, v, w, cond_max, t_span, pv, pw, prev):
    """``jac = V diag(lam) W`` (block lower-triangular ``jac``; ``bend[i]``: end of the block
    of state ``i``). Returns False if a block has complex eigenvalues (and ``jac`` is real),
    the basis is ill-conditioned or an eigenvalue is positive beyond rounding. ``prev``: the
    diagonal blocks of ``(pv, pw)`` (the previous step's basis) are refined by :func:`_refine`
    instead of a fresh LAPACK ``eig`` where that converges."""
    n = jac.shape[0]
    for i in range(n):
        for j in range(n):
            v[i, j] = 0.0
            w[i, j] = 0.0
    for b in range(bstart.size):
        s0, s1 = bstart[b], bstop[b]
        m = s1 - s0
        if m == 1:
            lam[s0] = jac[s0, s0]
            v[s0, s0] = 1.0
            w[s0, s0] = 1.0
            continue
        blk = np.empty((m, m), dtype=jac.dtype)
        for i in range(m):
            for j in range(m):
                blk[i, j] = jac[s0 + i, s0 + j]
        if prev:
            vb = np.ascontiguousarray(pv[s0:s1, s0:s1])
            wb = np.ascontiguousarray(pw[s0:s1, s0:s1])
            lb = np.empty(m, dtype=jac.dtype)
            if _refine(blk, vb, wb, lb):
                for i in range(m):
                    lam[s0 + i] = lb[i]
                    for j in range(m):
                        v[s0 + i, s0 + j] = vb[i, j]
                        w[s0 + i, s0 + j] = wb[i, j]
                continue
        try:
            lb, vb = np.linalg.eig(blk)
            wb = np.linalg.inv(vb)
        except Exception:  # complex pair (no real eigenbasis) or singular
            return False
        for i in range(m):
            lam[s0 + i] = lb[i]
            for j in range(m):
                v[s0 + i, s0 + j] = vb[i, j]
                w[s0 + i, s0 + j] = wb[i, j]
    for b in range(bstart.size):  # right eigenvectors: rows of block b, upstream modes
        s0, s1 = bstart[b], bstop[b]
        if s0 == 0:
            continue
        m = s1 - s0
        if m == 1:  # a single state: straight into its row of V (zero so far)
            for c in range(s0):
                a = jac[s0, c]
                if a != 0.0:
                    for i in range(bend[c]):
                        v[s0, i] += a * v[c, i]
            for i in range(s0):
                if v[s0, i] != 0.0:
                    v[s0, i] /= lam[i] - lam[s0]
            continue
        r = np.zeros((m, s0), dtype=v.dtype)
        for k in range(m):
            for c in range(s0):
                a = jac[s0 + k, c]
                if a != 0.0:
                    for i in range(bend[c]):
                        r[k, i] += a * v[c, i]
        if m > 1:
            r = np.ascontiguousarray(w[s0:s1, s0:s1]) @ r
        for k in range(m):
            for i in range(s0):
                if r[k, i] != 0.0:
                    r[k, i] /= lam[i] - lam[s0 + k]
        if m > 1:
            r = np.ascontiguousarray(v[s0:s1, s0:s1]) @ r
        for k in range(m):
            for i in range(s0):
                v[s0 + k, i] = r[k, i]
    for b in range(bstart.size - 1, -1, -1):  # left eigenvectors: columns of block b, downstream modes
        s0, s1 = bstart[b], bstop[b]
        if s1 == n:
            continue
        m = s1 - s0
        if m == 1:  # a single state: straight into its column of W (zero so far)
            for c in range(s1, n):
                a = jac[c, s0]
                if a != 0.0:
                    for e in range(c, n):
                        w[e, s0] += w[e, c] * a
            for e in range(s1, n):
                if w[e, s0] != 0.0:
                    w[e, s0] /= lam[e] - lam[s0]
            continue
        r = np.zeros((n - s1, m), dtype=v.dtype)
        for c in range(s1, n):
            for k in range(m):
                a = jac[c, s0 + k]
                if a != 0.0:
                    for e in range(c, n):
                        r[e - s1, k] += w[e, c] * a
        if m > 1:
            r = r @ np.ascontiguousarray(v[s0:s1, s0:s1])
        for e in range(n - s1):
            for k in range(m):
                if r[e, k] != 0.0:
                    r[e, k] /= lam[s1 + e] - lam[s0 + k]
        if m > 1:
            r = r @ np.ascontiguousarray(w[s0:s1, s0:s1])
        for e in range(n - s1):
            for k in range(m):
                w[s1 + e, s0 + k] = r[e, k]
    # unit columns of V, rows of W scaled to keep W V = I; row by row over the block
    # lower-triangular parts (V[r, i], W[r, i] = 0 for i >= bend[r])
    sc = np.zeros(n)
    for r_ in range(n):
        for i in range(bend[r_]):
            sc[i] += abs(v[r_, i]) ** 2
    for i in range(n):
        sc[i] = math.sqrt(sc[i])
        if not sc[i] > 0.0:
            return False
    cv = np.zeros(n)
    cw = np.zeros(n)
    for r_ in range(n):
        for i in range(bend[r_]):
            v[r_, i] /= sc[i]
            cv[i] += abs(v[r_, i])
            w[r_, i] *= sc[r_]
            cw[i] += abs(w[r_, i])
    n1v = cv.max()
    n1w = cw.max()
    if not n1v * n1w <= cond_max:
        return False
    for i in range(n):
        if lam[i].real * t_span > 1e-10:
            return False
    return True


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
            if _decompose(jac, bstart, bstop, bend, lam, vv, ww, cond_max, t_span, pv, pw, prev):
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
                if not _decompose(jc, bstart, bstop, bend, lamc, vc, wc, cond_max, t_span, vc, wc, False):
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

            g = globals()
            jit = numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
            for name in ("_phis4", "_inverse_sweeps", "_refine", "_decompose", "_occupied", "_rhs", "_jacobian", "_conserve", "_clamp", "_matvec",
                         "_matvec_real", "_remainder", "_step", "_advance"):
                g[name] = jit(g[name])  # callees first: the callers see them compiled
            _COMPILED["advance"] = g["_advance"]
        return _COMPILED["advance"]


__all__ = ["OK", "BASIS", "STEPS", "advance"]
