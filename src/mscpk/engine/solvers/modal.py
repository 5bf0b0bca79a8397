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

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from mscpk.engine.network import Network
from mscpk.engine.solvers.events import infusing
from mscpk.errors import SolverError

#: Largest 1-norm condition number of the eigenvector matrix accepted for modal propagation.
COND_MAX = 1e8


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


def block_structure(pattern: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """Strongly connected components of a transition graph, in topological order.

    ``pattern[j, i]``: some subject has a flow from state ``i`` to state ``j`` (the nonzero
    pattern of the rate matrices). Returns the permutation of states (upstream components
    first; within a component by decreasing ``weight``, the typical total exit rate: the QR
    algorithm is far more accurate for the slow eigenvalues of this graded matrix with its
    large entries first), the blocks as ``(start, stop)`` in permuted order, and
    ``anc[d, b]``: block ``b`` is upstream of block ``d`` (or ``b == d``). Permuted, every
    rate matrix is block lower-triangular.
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
    and dead material are single states. Right eigenvectors are completed by forward
    substitution, ``(lam - A_DD) v_D = sum_{C<D} A_DC v_C``, left ones by backward
    substitution, ``w_U (lam - A_UU) = sum_{E>U} w_E A_EU``, over the (few) nonzero rates.
    Subjects whose eigenvalues are all real are kept in real arithmetic, those with complex
    pairs in complex arithmetic: ``groups`` holds (subject indices, lam, V, W).
    ``cond``: 1-norm condition number ``|V|_1 |W|_1`` per subject.
    """

    def __init__(self, ap: np.ndarray, structure, t_span: float) -> None:
        perm, blocks, anc, pattern = structure
        n_sub, n = ap.shape[0], ap.shape[1]
        sizes = [b1 - b0 for b0, b1 in blocks]
        block_of = np.repeat(np.arange(len(blocks)), sizes)
        lam_b, vec_b, inv_b = [], [], []
        for s0, s1 in blocks:
            if s1 - s0 == 1:
                lam_b.append(ap[:, s0:s1, s0].astype(complex))
                vec_b.append(None)
                inv_b.append(None)
            else:
                w, v = np.linalg.eig(ap[:, s0:s1, s0:s1])
                lam_b.append(w.astype(complex, copy=False))
                vec_b.append(v)
                inv_b.append(None)
        lam = np.concatenate(lam_b, axis=1)
        cplx = (lam.imag != 0).any(axis=1)
        self.cond = np.ones(n_sub)
        self.groups = []
        for idx in (np.nonzero(~cplx)[0], np.nonzero(cplx)[0]):
            if idx.size == 0:
                continue
            dtype = complex if cplx[idx[0]] else float
            g = idx.size
            lam_g = lam[idx] if dtype is complex else lam[idx].real.copy()
            a_g = ap[idx] if dtype is float else ap[idx].astype(complex)
            v = np.zeros((g, n, n), dtype=dtype)
            w = np.zeros((g, n, n), dtype=dtype)
            vd_all, wd_all = {}, {}
            with np.errstate(all="ignore"):
                for d, (s0, s1) in enumerate(blocks):  # diagonal blocks
                    if vec_b[d] is None:
                        v[:, s0, s0] = w[:, s0, s0] = 1.0
                    else:
                        vd = vec_b[d][idx] if dtype is complex else vec_b[d][idx].real.copy()
                        wd = _inv(vd)
                        v[:, s0:s1, s0:s1], w[:, s0:s1, s0:s1] = vd, wd
                        vd_all[d], wd_all[d] = vd, wd
                for d, (s0, s1) in enumerate(blocks):  # right: rows of D, columns upstream
                    if s0 == 0:
                        continue
                    if d not in vd_all:  # one state: its few inflows only
                        r = np.zeros((g, 1, s0), dtype=dtype)
                        for j in np.nonzero(pattern[s0, :s0])[0]:
                            r[:, 0, :] += a_g[:, s0, j][:, None] * v[:, j, :s0]
                    else:
                        r = np.matmul(wd_all[d], np.matmul(a_g[:, s0:s1, :s0], v[:, :s0, :s0]))
                    y = np.where(r == 0, 0.0, r / (lam_g[:, None, :s0] - lam_g[:, s0:s1, None]))
                    if d in vd_all:
                        y = np.matmul(vd_all[d], y)
                    y[:, :, ~anc[d][block_of[:s0]]] = 0.0
                    v[:, s0:s1, :s0] = y
                for u in range(len(blocks) - 1, -1, -1):  # left: columns of U, rows downstream
                    s0, s1 = blocks[u]
                    if s1 == n:
                        continue
                    if u not in vd_all:  # one state: its few outflows only
                        r = np.zeros((g, n - s1, 1), dtype=dtype)
                        for e in s1 + np.nonzero(pattern[s1:, s0])[0]:
                            r[:, :, 0] += w[:, s1:, e] * a_g[:, e, s0][:, None]
                    else:
                        r = np.matmul(np.matmul(w[:, s1:, s1:], a_g[:, s1:, s0:s1]), vd_all[u])
                    y = np.where(r == 0, 0.0, r / (lam_g[:, s1:, None] - lam_g[:, None, s0:s1]))
                    if u in vd_all:
                        y = np.matmul(y, wd_all[u])
                    y[:, ~anc[block_of[s1:], u], :] = 0.0
                    w[:, s1:, s0:s1] = y
                # unit columns of V (as LAPACK), rows of W scaled to keep W V = I
                scale = np.sqrt((np.abs(v) ** 2).sum(axis=1))
                v /= scale[:, None, :]
                w *= scale[:, :, None]
                cond = np.abs(v).sum(axis=1).max(axis=1) * np.abs(w).sum(axis=1).max(axis=1)
            cond[~np.isfinite(cond)] = np.inf
            self.cond[idx] = cond
            self.groups.append((idx, lam_g, v, w))
        # eigenvalues of a compartment matrix have Re <= 0; a rounding-positive one is
        # harmless only while exp(Re(lam) * t_span) - 1 stays negligible
        self.bad = (self.cond > COND_MAX) | (lam.real.max(axis=1) * t_span > 1e-10)


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




def _put(y: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """``y[rows, :, cols] = values`` (slices where the indices are a contiguous range)."""
    r = slice(int(rows[0]), int(rows[-1]) + 1) if rows[-1] - rows[0] + 1 == rows.size else rows
    c = slice(int(cols[0]), int(cols[-1]) + 1) if cols[-1] - cols[0] + 1 == cols.size else cols
    if isinstance(r, slice) or isinstance(c, slice):
        y[r, :, c] = values
    else:
        y[np.ix_(rows, np.arange(y.shape[1]), cols)] = values


@dataclass(frozen=True)
class ModalOutput:
    """``y[s, q, t]``: output row ``q`` of subject ``s`` at time ``t``; ``bad[s]``: a subject
    whose eigenvector matrix is ill-conditioned (or has a growing mode); ``cond[s]``: the
    largest 1-norm condition number over the modes used."""

    y: np.ndarray
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


def propagate(net: Network, n_sub: int, times: np.ndarray, w_out: np.ndarray) -> ModalOutput:
    """Modal propagation of ``n_sub`` subjects of ``net`` (a batch build, or a scalar build
    with ``n_sub = 1``): the outputs ``w_out @ x`` (``w_out``: (q, n_states)) at ``times``."""
    names = net.names
    end = float(times.max())
    used = [m for m in net.modes if m == "base" or any(mode == m and t0 < end for t0, _, mode in net.schedule)]
    mats = {m: net.matrices(m, n_sub) for m in used}
    pattern = np.zeros((len(names), len(names)), dtype=bool)
    for a in mats.values():
        pattern |= (a != 0).any(axis=0)
    weight = np.median(np.abs(np.diagonal(mats["base"], axis1=1, axis2=2)), axis=0)
    perm, blocks, anc = block_structure(pattern, weight)
    # everything below works in the permuted (block lower-triangular) state order
    structure = (perm, blocks, anc, pattern[np.ix_(perm, perm)])
    modal = {m: Modal(a[:, perm[:, None], perm[None, :]], structure, end) for m, a in mats.items()}
    w_out = w_out[:, perm]
    doses = [b[:, perm] for b in input_vectors(net, n_sub)]
    by_input = dict(zip(map(id, net.inputs), doses))
    events = np.array(net.event_times(end))

    y = np.zeros((n_sub, len(w_out), len(times)))
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
        if last:
            y[:, :, sel] = (x @ w_out.T)[:, :, None]
            break
        md = modal[net.mode_at(ta)]
        bad |= md.bad
        cond = np.maximum(cond, md.cond)
        running = infusing(net, ta, tb)
        u = sum(by_input[id(inp)] / inp.duration_h for inp in running) if running else None
        taus = np.append(times[sel] - ta, tb - ta)  # outputs in [ta, tb), then tb
        x_new = np.empty_like(x)
        pos = taus[:-1] > 0
        s0, s1 = (int(sel[0]), int(sel[-1]) + 1) if sel.size else (0, 0)
        cols = np.arange(s0, s1)[pos]
        t_min = taus[:-1][pos].min() if pos.any() else tb - ta
        for idx, lam_g, v_g, vinv_g in md.groups:
            x_g = x[idx]
            lam, tau = lam_g[:, :, None], taus[None, None, :]
            with np.errstate(over="ignore", invalid="ignore"):
                c = np.matmul(vinv_g, x_g[:, :, None].astype(vinv_g.dtype))[:, :, 0]  # modal coords
                d = None if u is None else np.matmul(vinv_g, u[idx][:, :, None].astype(vinv_g.dtype))[:, :, 0]
                # modes decayed to exactly 0 (exp_neg) at every output time > ta of every subject
                # and without input are left out of the outputs (they add exact zeros)
                live = (lam_g.real * t_min > -700.0).any(axis=0) if d is None else np.ones(lam_g.shape[1], bool)
                x_new[idx] = np.matmul(v_g, (exp_neg(lam[:, :, 0] * (tb - ta)) * c
                                             + (0.0 if d is None else phi1(lam[:, :, 0], tb - ta) * d))[:, :, None])[:, :, 0].real
                if cols.size:
                    lam_l, tau_l = lam[:, live], tau[:, :, :-1][:, :, pos]
                    m = np.matmul(w_out, v_g[:, :, live])  # (G, q, m)
                    y_g = np.matmul(m * c[:, None, live], exp_neg(lam_l * tau_l))
                    if d is not None:
                        y_g = y_g + np.matmul(m * d[:, None, live], phi1(lam_l, tau_l))
                    _put(y, idx, cols, y_g.real)
            if (~pos).any():  # the exact state at the start of the interval
                _put(y, idx, np.arange(s0, s1)[~pos], np.repeat((x_g @ w_out.T)[:, :, None], int((~pos).sum()), axis=2))
        x = x_new
    return ModalOutput(y, bad, cond)


__all__ = ["COND_MAX", "Modal", "ModalOutput", "block_structure", "input_vectors", "phi1", "exp_neg",
           "propagate"]
