"""Modal (eigen) propagation of one or many subjects' networks: one propagator for the single
(:class:`~mscpk.engine.solvers.linear.LinearSolver` ``method="modal"``) and the batch path.

Between events ``dx/dt = A x + u``; with ``A = V diag(lam) V^-1`` every output time of an
interval is evaluated at once, ``x(ta + tau) = V [exp(lam tau) c + phi1(lam, tau) d]``,
``c = V^-1 x(ta)``, ``d = V^-1 u``. The rate matrices are permuted to block lower-triangular
form (strongly connected components of the transition graph) so that only the diagonal
blocks need a dense eigensolver (docs/model.md, "Solvers").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from mscpk.engine.network import Network
from mscpk.engine.solvers.events import infusing
from mscpk.errors import SolverError

#: Largest 1-norm condition number of the eigenvector matrix accepted for modal propagation.
COND_MAX = 1e8
#: A diagonal block that is another mode's block plus ``delta I`` to within this many
#: roundings of each diagonal entry (a sum of rates) reuses that mode's eigenvectors.
SHIFT_ULPS = 16
#: A mode whose factor ``exp(Re(lam) tau)`` is below ``exp(FLUSH)`` (1e-30) at the first output
#: time of an interval is left out of that subject's outputs there (< 1e-22 of the dose at
#: COND_MAX); exponential factors below ``exp(TINY)`` are exact zeros (no denormals).
FLUSH = -69.0
TINY = -300.0
#: Working set [bytes] of one block of subjects when forming outputs (a core's L2 cache).
BLOCK_BYTES = 2 ** 21


def phi1(lam: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``(exp(lam tau) - 1) / lam`` (= ``tau`` for lam = 0), broadcast over lam and tau."""
    zero = lam == 0
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.expm1(lam * tau) / np.where(zero, 1.0, lam)
    return np.where(zero, tau, out)


def exp_neg(arg: np.ndarray) -> np.ndarray:
    """``exp(arg)`` with exact zeros where Re(arg) < -700 (no slow denormals; < 1e-304 anyway);
    overwrites ``arg``."""
    if np.iscomplexobj(arg):
        out = np.zeros_like(arg)
        np.exp(arg, out=out, where=arg.real > -700.0)
        return out
    arg[arg < -700.0] = -np.inf
    return np.exp(arg, out=arg)


def block_structure(pattern: np.ndarray, weight: np.ndarray,
                    by_level: bool = False) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """Strongly connected components of a transition graph, in topological order.

    ``pattern[j, i]``: some subject has a flow from state ``i`` to state ``j`` (the nonzero
    pattern of the rate matrices). Returns the permutation of states (upstream components
    first; within a component by decreasing ``weight``, the typical total exit rate: the QR
    algorithm is far more accurate for the slow eigenvalues of this graded matrix with its
    large entries first), the blocks as ``(start, stop)`` in permuted order, and
    ``anc[d, b]``: block ``b`` is upstream of block ``d`` (or ``b == d``). Permuted, every
    rate matrix is block lower-triangular. ``by_level``: components sorted by level (longest
    path from a source), multi-state ones first within a level, so that the single states
    of a level are contiguous (:class:`Modal` completes them in one product each); the
    default order keeps a dense eigensolver of the whole matrix accurate.
    """
    n = pattern.shape[0]
    graph = pattern.T.copy()  # graph[i, j]: flow from state i to state j
    np.fill_diagonal(graph, False)
    n_comp, label = connected_components(csr_matrix(graph), directed=True, connection="strong")
    succ: list[set[int]] = [set() for _ in range(n_comp)]
    for i, j in zip(*np.nonzero(graph)):
        if label[i] != label[j]:
            succ[label[i]].add(label[j])
    indeg = np.zeros(n_comp, dtype=int)
    for c in range(n_comp):
        for d in succ[c]:
            indeg[d] += 1
    order: list[int] = []
    ready = sorted(c for c in range(n_comp) if indeg[c] == 0)
    while ready:  # Kahn's algorithm; lowest component first, for a reproducible order
        c = ready.pop(0)
        order.append(c)
        for d in sorted(succ[c]):
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
        ready.sort()
    if by_level:  # longest path from a source; no flow joins two components of one level
        level = dict.fromkeys(order, 0)
        for c in order:
            for d in succ[c]:
                level[d] = max(level[d], level[c] + 1)
        order = sorted(order, key=lambda c: (level[c], int((label == c).sum()) == 1, order.index(c)))
    rank = {c: k for k, c in enumerate(order)}
    anc = np.eye(n_comp, dtype=bool)
    for c in order:  # topological order: anc of c is complete when c is reached
        for d in succ[c]:
            anc[rank[d]] |= anc[rank[c]]
    members = [np.nonzero(label == c)[0] for c in order]
    perm = np.concatenate([m[np.argsort(-weight[m], kind="stable")] for m in members])
    sizes = [int((label == c).sum()) for c in order]
    stops = np.cumsum(sizes)
    blocks = [(int(e - k), int(e)) for k, e in zip(sizes, stops)]
    if len(perm) != n:
        raise SolverError("internal error: block structure does not cover every state")
    return perm, blocks, anc


class Modal:
    """Batched eigendecomposition ``A = V diag(lam) W`` (``W = V^-1``) of one mode's rate
    matrices, given in block lower-triangular (permuted) state order.

    Only the diagonal blocks (strongly connected components of the transition graph) need a
    dense eigensolver -- for the IV example one 26-state circulation block; engrafted cells
    and dead material are single states. A block that differs from the same block of
    ``like`` (another mode's Modal) by a multiple of the identity, to rounding, takes its
    eigenvectors with shifted eigenvalues (an additive hazard on every state of the block,
    e.g. immune priming). Right eigenvectors are completed by forward substitution,
    ``(lam - A_DD) v_D = sum_{C<D} A_DC v_C``, left ones by backward substitution,
    ``w_U (lam - A_UU) = sum_{E>U} w_E A_EU``, over the (few) nonzero rates.
    Subjects whose eigenvalues are all real are kept in real arithmetic, those with complex
    pairs in complex arithmetic: ``groups`` holds (subject indices, lam, V, W).
    ``cond``: 1-norm condition number ``|V|_1 |W|_1`` per subject (unit columns of V).
    """

    def __init__(self, ap: np.ndarray, structure, t_span: float, like: "Modal | None" = None) -> None:
        perm, blocks, anc, pattern = structure
        n_sub, n = ap.shape[0], ap.shape[1]
        sizes = [b1 - b0 for b0, b1 in blocks]
        block_of = np.repeat(np.arange(len(blocks)), sizes)
        self.blocks = {}  # dense block d -> (its matrices, lam, eigenvectors, their inverses)
        lam = np.empty((n_sub, n), dtype=complex)
        singles = np.array([s0 for s0, s1 in blocks if s1 - s0 == 1], dtype=np.intp)
        lam[:, singles] = ap[:, singles, singles]
        for d, (s0, s1) in enumerate(blocks):
            if s1 - s0 > 1:
                blk = ap[:, s0:s1, s0:s1]
                self.blocks[d] = (blk, *_block_eig(blk, None if like is None else like.blocks.get(d)))
                lam[:, s0:s1] = self.blocks[d][1]
        runs = _runs(blocks, anc)
        cplx = (lam.imag != 0).any(axis=1)
        self.cond = np.ones(n_sub)
        self.groups = []
        for idx in (np.nonzero(~cplx)[0], np.nonzero(cplx)[0]):
            if idx.size == 0:
                continue
            dtype = complex if cplx[idx[0]] else float
            g = idx.size
            every = g == n_sub
            lam_g = lam[idx] if dtype is complex else lam[idx].real.copy()
            a_g = (ap if every else ap[idx]) if dtype is float else ap[idx].astype(complex)
            v = np.zeros((g, n, n), dtype=dtype)
            w = np.zeros((g, n, n), dtype=dtype)
            v[:, singles, singles] = w[:, singles, singles] = 1.0
            vd_all, wd_all = {}, {}
            with np.errstate(all="ignore"):
                for d, (_, _, vec, inv) in self.blocks.items():  # diagonal blocks
                    s0, s1 = blocks[d]
                    vd, wd = (vec, inv) if every else (vec[idx], inv[idx])
                    if dtype is float:
                        vd, wd = vd.real, wd.real
                    v[:, s0:s1, s0:s1], w[:, s0:s1, s0:s1] = vd, wd
                    vd_all[d], wd_all[d] = v[:, s0:s1, s0:s1], w[:, s0:s1, s0:s1]
                for s0, s1, d in runs:  # right: rows of D, columns upstream
                    if s0 == 0:
                        continue
                    r = np.matmul(a_g[:, s0:s1, :s0], v[:, :s0, :s0])
                    if d is not None:
                        r = np.matmul(wd_all[d], r)
                    y = np.where(r == 0, 0.0, r / (lam_g[:, None, :s0] - lam_g[:, s0:s1, None]))
                    if d is not None:
                        y = np.matmul(vd_all[d], y)
                        y[:, :, ~anc[d][block_of[:s0]]] = 0.0
                    v[:, s0:s1, :s0] = y
                for s0, s1, u in runs[::-1]:  # left: columns of U, rows downstream
                    if s1 == n:
                        continue
                    r = np.matmul(w[:, s1:, s1:], a_g[:, s1:, s0:s1])
                    if u is not None:
                        r = np.matmul(r, vd_all[u])
                    y = np.where(r == 0, 0.0, r / (lam_g[:, s1:, None] - lam_g[:, None, s0:s1]))
                    if u is not None:
                        y = np.matmul(y, wd_all[u])
                        y[:, ~anc[block_of[s1:], u], :] = 0.0
                    w[:, s1:, s0:s1] = y
                # unit columns of V (as LAPACK), rows of W scaled to keep W V = I
                scale = np.sqrt(np.einsum("gij,gij->gj", v, v.conj()).real if dtype is complex
                                else np.einsum("gij,gij->gj", v, v))
                v /= scale[:, None, :]
                w *= scale[:, :, None]
                cond = np.abs(v).sum(axis=1).max(axis=1) * np.abs(w).sum(axis=1).max(axis=1)
            cond[~np.isfinite(cond)] = np.inf
            self.cond[idx] = cond
            self.groups.append((idx, lam_g, v, w))
        # eigenvalues of a compartment matrix have Re <= 0; a rounding-positive one is
        # harmless only while exp(Re(lam) * t_span) - 1 stays negligible
        self.bad = (self.cond > COND_MAX) | (lam.real.max(axis=1) * t_span > 1e-10)


def _runs(blocks: list[tuple[int, int]], anc: np.ndarray) -> list[tuple[int, int, int | None]]:
    """The blocks in order as ``(start, stop, d)``: a multi-state block ``d``, or (``d`` None)
    a run of consecutive single states none of which is upstream of another. A run's
    eigenvector entries are completed in one product: its inflows come from before it, its
    outflows go after it, and entries towards non-ancestors come out as exact zeros
    (products with exact zeros)."""
    out: list[tuple[int, int, int | None]] = []
    first = 0  # first block of the current run
    for d, (s0, s1) in enumerate(blocks):
        if s1 - s0 > 1:
            out.append((s0, s1, d))
        elif out and out[-1][2] is None and not anc[d, first:d].any():
            out[-1] = (out[-1][0], s1, None)
        else:
            out.append((s0, s1, None))
            first = d
    return out


def _block_eig(blk: np.ndarray, ref) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (N, k) complex, eigenvectors and their inverses (N, k, k) of the blocks
    ``blk``; subjects whose block is ``ref``'s block (another mode's: matrices, lam, vectors,
    inverses) plus ``delta I`` to within SHIFT_ULPS roundings of each diagonal entry take
    ``ref``'s vectors and ``lam + delta`` instead of a new eigensolution."""
    n_sub, k = blk.shape[0], blk.shape[1]
    fresh = np.ones(n_sub, dtype=bool)
    pieces = []
    if ref is not None:
        r_blk, r_lam, r_vec, r_inv = ref
        ii = np.arange(k)
        diff = blk - r_blk
        dg = diff[:, ii, ii].copy()
        diff[:, ii, ii] = 0.0
        size = np.maximum(np.abs(blk[:, ii, ii]), np.abs(r_blk[:, ii, ii]))
        delta = np.take_along_axis(dg, size.argmin(axis=1)[:, None], axis=1)[:, 0]  # the most exact one
        tol = SHIFT_ULPS * np.finfo(float).eps * size
        shift = ~diff.any(axis=(1, 2)) & (np.abs(dg - delta[:, None]) <= tol).all(axis=1)
        if shift.any():
            pieces.append((shift, r_lam[shift] + delta[shift, None], r_vec[shift], r_inv[shift]))
        fresh = ~shift
    if fresh.any():
        w, v = np.linalg.eig(blk[fresh])
        w = w.astype(complex, copy=False)
        inv = np.empty_like(v)
        real = ~(w.imag != 0).any(axis=1)
        if real.any():
            inv[real] = _inv(v[real].real)
        if not real.all():
            inv[~real] = _inv(v[~real])
        pieces.append((fresh, w, v, inv))
    dtype = complex if any(np.iscomplexobj(p[2]) for p in pieces) else float
    lam = np.empty((n_sub, k), dtype=complex)
    vec = np.empty((n_sub, k, k), dtype=dtype)
    inv = np.empty((n_sub, k, k), dtype=dtype)
    for sel, lm, vc, iv in pieces:
        lam[sel], vec[sel], inv[sel] = lm, vc, iv
    return lam, vec, inv


def _inv(m: np.ndarray) -> np.ndarray:
    """Inverses of the matrices ``m`` (G, k, k); NaN for a singular one."""
    try:
        return np.linalg.inv(m)
    except np.linalg.LinAlgError:
        out = np.full_like(m, np.nan)
        for s in range(len(m)):
            try:
                out[s] = np.linalg.inv(m[s])
            except np.linalg.LinAlgError:
                pass
        return out


@dataclass(frozen=True)
class ModalOutput:
    """``y[s, q, t]``: output row ``q`` of subject ``s`` at time ``t`` (None when the outputs
    went to ``put``); ``bad[s]``: a subject whose eigenvector matrix is ill-conditioned (or
    has a growing mode); ``cond[s]``: the largest 1-norm condition number over the modes used."""

    y: np.ndarray | None
    bad: np.ndarray
    cond: np.ndarray


def input_vectors(net: Network, n_sub: int) -> list[np.ndarray]:
    """One (N, n_states) vector of cells per administration (fractions may be arrays)."""
    out = []
    for inp in net.inputs:
        v = np.zeros((n_sub, len(net.layout)))
        for name, frac in inp.targets.items():
            v[:, net.layout.index(name)] += frac * inp.cells
        out.append(v)
    return out


def propagate(net: Network, n_sub: int, times: np.ndarray, w_out: np.ndarray,
              put: Callable[[slice | np.ndarray, slice, np.ndarray], None] | None = None) -> ModalOutput:
    """Modal propagation of ``n_sub`` subjects of ``net`` (a batch build, or a scalar build
    with ``n_sub = 1``): the outputs ``w_out @ x`` (``w_out``: (q, n_states)) at ``times``.

    ``put(rows, cols, e, coef)``, if given, receives them block by block as factors: the
    outputs of the subjects ``rows`` (a slice or index array) at the times ``cols`` (a slice)
    are the real part of ``coef @ e.transpose(0, 2, 1)`` (``e`` (B, t, k), ``coef`` (B, q, k);
    complex for subjects with complex eigenvalues; formed as ``e @ coef.transpose(0, 2, 1)``,
    (B, t, q), so that the outputs of a time are contiguous), so that
    the caller forms only the rows it needs, where it needs them; else the outputs are
    returned as ``y`` (n_sub, q, T)."""
    names = net.names
    end = float(times.max())
    used = [m for m in net.modes if m == "base" or any(mode == m and t0 < end for t0, _, mode in net.schedule)]
    mats = {m: net.matrices(m, n_sub) for m in used}
    pattern = np.zeros((len(names), len(names)), dtype=bool)
    for a in mats.values():
        pattern |= (a != 0).any(axis=0)
    weight = np.median(np.abs(np.diagonal(mats["base"], axis1=1, axis2=2)), axis=0)
    perm, blocks, anc = block_structure(pattern, weight, by_level=True)
    # everything below works in the permuted (block lower-triangular) state order
    structure = (perm, blocks, anc, pattern[np.ix_(perm, perm)])
    modal: dict[str, Modal] = {}
    for m, a in mats.items():  # later modes reuse the first one's eigenvectors where they can
        modal[m] = Modal(a[:, perm[:, None], perm[None, :]], structure, end, like=modal.get(used[0]))
    w_out = w_out[:, perm]
    doses = [b[:, perm] for b in input_vectors(net, n_sub)]
    by_input = dict(zip(map(id, net.inputs), doses))
    events = np.array(net.event_times(end))
    y = None
    if put is None:
        y = np.zeros((n_sub, len(w_out), len(times)))

        def put(rows, cols, e, coef):
            y[rows, :, cols] = np.matmul(e, coef.transpose(0, 2, 1)).real.transpose(0, 2, 1)

    x = np.zeros((n_sub, len(names)))
    bad = np.zeros(n_sub, dtype=bool)
    cond = np.ones(n_sub)
    for k, ta in enumerate(events):
        for inp, b in zip(net.inputs, doses):
            if inp.duration_h == 0 and inp.time_h == ta:
                x = x + b
        last = k + 1 == len(events)
        tb = ta if last else events[k + 1]
        sel = np.nonzero((times >= ta) & ((times < tb) | (last & (times <= tb))))[0]
        c0, c1 = (int(sel[0]), int(sel[-1]) + 1) if sel.size else (0, 0)
        n0 = int((times[c0:c1] <= ta).sum())  # an output at ta itself: the state there
        if n0:
            put(slice(0, n_sub), slice(c0, c0 + n0), np.ones((n_sub, n0, 1)), (x @ w_out.T)[:, :, None])
        if last:
            break
        md = modal[net.mode_at(ta)]
        bad |= md.bad
        cond = np.maximum(cond, md.cond)
        running = infusing(net, ta, tb)
        u = sum(by_input[id(inp)] / inp.duration_h for inp in running) if running else None
        x_new = np.empty_like(x)
        for idx, lam_g, v_g, w_g in md.groups:
            rows = slice(int(idx[0]), int(idx[-1]) + 1) if idx[-1] - idx[0] + 1 == idx.size else idx
            with np.errstate(over="ignore", invalid="ignore"):
                c = np.matmul(w_g, x[rows][:, :, None].astype(w_g.dtype))[:, :, 0]  # modal coordinates
                d = None if u is None else np.matmul(w_g, u[rows][:, :, None].astype(w_g.dtype))[:, :, 0]
                z = exp_neg(lam_g * (tb - ta)) * c + (0.0 if d is None else phi1(lam_g, tb - ta) * d)
                x_new[rows] = np.matmul(v_g, z[:, :, None])[:, :, 0].real
                if c1 > c0 + n0:
                    _outputs(put, rows, lam_g, v_g, c, d, w_out, times[c0 + n0:c1] - ta, slice(c0 + n0, c1))
        x = x_new
    return ModalOutput(y, bad, cond)


def _outputs(put, rows, lam: np.ndarray, v: np.ndarray, c: np.ndarray, d: np.ndarray | None,
             w_out: np.ndarray, taus: np.ndarray, cols: slice) -> None:
    """The outputs ``w_out V (e^(lam tau) c + phi1(lam, tau) d)`` of one group of subjects at
    ``taus`` > 0, to ``put`` in blocks of subjects sized for the cache (docs/model.md, "Batches").

    Without input (``d`` None), per subject: modes with ``Re(lam) taus[0] < FLUSH`` are left
    out (exact zeros) and modes with equal eigenvalues are merged (their terms summed), so
    that a subject's outputs do not depend on the others of its group; on a uniform grid
    ``e^(lam (tau_0 + (jK + i) h)) = e^(lam (tau_0 + jKh)) e^(lam i h)`` (about 2 sqrt(T)
    exponentials per mode instead of T)."""
    g, n_t = lam.shape[0], taus.size
    if d is None:
        # per subject: its live modes, one per eigenvalue, packed to the front in their order
        # (the same positions whatever the group: the same rounding in every chunking)
        live = lam.real * taus[0] >= FLUSH
        same = (lam[:, :, None] == lam[:, None, :]) & live[:, None, :]
        first = np.where(live, same.argmax(axis=2), -1)  # the first live mode with this eigenvalue
        rep = first == np.arange(lam.shape[1])
        pos = np.cumsum(rep, axis=1) - 1
        k = int(rep.sum(axis=1).max()) if g else 0
        target = np.where(live, np.take_along_axis(pos, np.maximum(first, 0), axis=1), -1)
        merge = (target[:, :, None] == np.arange(k)).astype(float)  # (G, n, k)
        coef = [np.matmul(part, merge) for part in _scaled_rows(w_out, v, c)]  # (G, q, k) each
        packed = np.zeros((g, k), dtype=lam.dtype)  # padding: lam = 0, coefficient 0
        gi, ii = np.nonzero(rep)
        packed[gi, pos[gi, ii]] = lam[gi, ii]
        lam = packed
    else:
        coef = [np.concatenate(pair, axis=2) for pair in zip(_scaled_rows(w_out, v, c), _scaled_rows(w_out, v, d))]
    cplx = len(coef) == 2
    coef = coef[0] + 1j * coef[1] if cplx else coef[0]
    h = (taus[-1] - taus[0]) / (n_t - 1) if n_t > 1 else 0.0
    grid = taus[0] + h * np.arange(n_t)
    uniform = d is None and n_t >= 16 and bool(np.all(np.abs(grid - taus) <= 4 * np.finfo(float).eps * taus))
    if uniform:
        kk = int(np.ceil(np.sqrt(n_t)))
        jj = -(-n_t // kk)
        inner = _exp_tiny(lam[:, None, :] * (h * np.arange(kk))[None, :, None])  # (G, K, k)
        outer = _exp_tiny(lam[:, None, :] * (taus[0] + h * kk * np.arange(jj))[None, :, None])  # (G, J, k)
    step = max(1, min(g, BLOCK_BYTES // (8 * n_t * (w_out.shape[0] + coef.shape[2]))))
    for b0 in range(0, g, step):
        b1 = min(g, b0 + step)
        if uniform:
            e = (outer[b0:b1, :, None, :] * inner[b0:b1, None, :, :]).reshape(b1 - b0, jj * kk, -1)[:, :n_t]
        else:
            e = _exp_tiny(lam[b0:b1, None, :] * taus[None, :, None])
        if d is not None:
            e = np.concatenate([e, phi1(lam[b0:b1, None, :], taus[None, :, None])], axis=2)
        sub = slice(rows.start + b0, rows.start + b1) if isinstance(rows, slice) else rows[b0:b1]
        put(sub, cols, e, coef[b0:b1])


def _scaled_rows(w_out: np.ndarray, v: np.ndarray, c: np.ndarray) -> list[np.ndarray]:
    """``(w_out @ v) * c`` (G, q, n) as [real part] or [real, imaginary part], from real
    products only (complex products round differently with the number of rows)."""
    if not np.iscomplexobj(v):
        return [(w_out @ v) * c[:, None, :]]
    mr, mi = w_out @ v.real, w_out @ v.imag
    cr, ci = c.real[:, None, :], c.imag[:, None, :]
    return [mr * cr - mi * ci, mr * ci + mi * cr]


def _exp_tiny(arg: np.ndarray) -> np.ndarray:
    """``exp(arg)`` with exact zeros where Re(arg) < TINY (no denormal products later);
    overwrites a real ``arg``."""
    if np.iscomplexobj(arg):
        out = np.zeros_like(arg)
        np.exp(arg, out=out, where=arg.real >= TINY)
        return out
    arg[arg < TINY] = -np.inf
    return np.exp(arg, out=arg)


__all__ = ["COND_MAX", "Modal", "ModalOutput", "block_structure", "input_vectors", "phi1", "exp_neg",
           "propagate"]
