"""Eigenbasis of the Jacobian for the compiled saturating kernel (:mod:`.exprb_kernel`):
LAPACK on the diagonal blocks, or the previous step's basis refined by Newton sweeps, then
completed over the block lower-triangular structure by substitution. Plain functions,
compiled with the kernel by :func:`mscpk.engine.solvers.exprb_kernel.advance`. The method and
its measured choices: docs/model.md, section 8, "Nonlinear".
"""

from __future__ import annotations

import math

import numpy as np

#: Eigenbasis refinement (:func:`refine`, dimensionless): at most this many sweeps (the
#: last one only checks); pairs coupled above this fraction of their eigenvalue gap are
#: grouped; converged at this coupling; largest group, its eigenvector condition number and
#: the largest Newton correction accepted (measured choices: docs/model.md, section 8).
REFINE_SWEEPS, REFINE_GAP, REFINE_TOL, REFINE_GROUP, REFINE_COND, REFINE_STEP = 5, 0.1, 1e-9, 16, 1e4, 0.3


def group_cols_times(a, r, idx, q, k, sub):
    """Row ``r`` of ``a`` on the columns ``idx[:k]`` times ``q`` (k x k), in place (``sub``: a
    (1, >= k) scratch row)."""
    for i in range(k):
        sub[0, i] = 0.0
    for i in range(k):
        for j in range(k):
            sub[0, j] += a[r, idx[i]] * q[i, j]
    for j in range(k):
        a[r, idx[j]] = sub[0, j]


def group_rows_times(qi, a, c, idx, k, sub):
    """Column ``c`` of ``a`` on the rows ``idx[:k]``, ``qi`` (k x k) times it, in place."""
    for i in range(k):
        sub[0, i] = 0.0
    for i in range(k):
        for j in range(k):
            sub[0, i] += qi[i, j] * a[idx[j], c]
    for i in range(k):
        a[idx[i], c] = sub[0, i]


def refine(blk, vb, wb, lb):
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
                group_cols_times(b, r_, idx, q, k, sub)
                group_cols_times(vb, r_, idx, q, k, sub)
            for c_ in range(m):  # rows idx of B and W times q^-1 from the left
                group_rows_times(qi, b, c_, idx, k, sub)
                group_rows_times(qi, wb, c_, idx, k, sub)
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
        if m * zmax > 1e-5 and not inverse_sweeps(vb, wb):  # (B of this graded matrix needs it)
            return False
    return False


def inverse_sweeps(vb, wb):
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


def decompose(jac, bstart, bstop, bend, lam, v, w, cond_max, t_span, pv, pw, prev):
    """``jac = V diag(lam) W`` (block lower-triangular ``jac``; ``bend[i]``: end of the block
    of state ``i``). Returns False if a block has complex eigenvalues (and ``jac`` is real),
    the basis is ill-conditioned or an eigenvalue is positive beyond rounding. ``prev``: the
    diagonal blocks of ``(pv, pw)`` (the previous step's basis) are refined by :func:`refine`
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
            if refine(blk, vb, wb, lb):
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


__all__ = ["decompose", "inverse_sweeps", "refine"]
