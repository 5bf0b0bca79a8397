"""Many subjects at once: one scenario, per-subject parameter values, exact propagation.

``simulate_batch(scenario, samples)`` simulates N virtual subjects that share a scenario
(species, product, doses, output times) but differ in model parameters; ``samples`` maps a
parameter name to an array of N values (one per subject).

How it stays fast and exact
---------------------------
* **One build per chunk.** The model code is array-safe: building the network with
  parameters that are arrays (N,) gives transitions whose rates are arrays (N,) and rate
  matrices (N, n, n) (:meth:`~mscpk.engine.network.Network.matrices`); subject ``s`` gets the
  same matrix as a scalar build with its values (to rounding of ``exp``).
* **Modal (eigen) propagation.** Between events (doses, infusion start/stop, mode
  intervals: vasodilator windows, immune priming) the system is ``dx/dt = A x + u``; with
  ``A = V diag(lam) V^-1`` the solution at
  every output time of an interval is, exactly,

      x(ta + tau) = V [exp(lam tau) c + phi1(lam, tau) d],   c = V^-1 x(ta), d = V^-1 u,

  with ``phi1(lam, tau) = (exp(lam tau) - 1) / lam`` (= tau for lam = 0). No step size, no
  truncation error; only the outputs asked for (site quantities) are formed. The states are
  ordered by the strongly connected components of the transition graph, so ``A`` is block
  lower-triangular: batched ``numpy.linalg.eig`` runs on the components only (for IV: the
  26-state circulation; engrafted cells and dead material are single states) and the
  eigenvectors (right and left) are completed by substitution. Accuracy ~1e-10 of the dose
  (rounding in the eigendecomposition of the stiff, graded matrix; matrix exponentials
  give ~1e-14).
* **Checks per subject.** The 1-norm condition number of the eigenvector matrix V, no
  eigenvalue with a positive real part, and, after the fact, the mass balance. A subject
  whose V is ill-conditioned (near-defective ``A``: e.g. two equal rates in a chain) or whose
  mass balance is off by more than ``MASS_TOL`` is re-solved with
  :class:`mscpk.engine.solvers.LinearSolver` (matrix exponentials) from a scalar build of its values.
* **Saturation.** As in :func:`mscpk.simulate`: ``"off"`` is linear; ``"auto"`` re-solves with
  the stiff solver the (few) subjects whose peak embolic burden exceeds the onset
  parameter; ``"on"`` (nonlinear for every subject) is not supported here.
* Chunks run on a small thread pool (LAPACK releases the GIL), with OpenBLAS held to one
  thread meanwhile (no oversubscription).

Example
-------
>>> import numpy as np, mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")  # doctest: +SKIP
>>> rng = np.random.default_rng(1)
>>> samples = {"Lung arrested cell death half-life [h]": 6.0 * rng.lognormal(0, 0.3, 1000)}
>>> ds = mscpk.simulate_batch(sc, samples)  # doctest: +SKIP
>>> ds.cells.sel(site="lung", quantity="live_cells").median("subject")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import numpy as np

from mscpk.errors import ParameterError, SolverError
from mscpk.engine.model.build import build_network
from mscpk.inputs.resolve import scenario_parameters, scenario_species
from mscpk.engine.network import Network, split_state
from mscpk.inputs.parameters import Parameter, ParameterSet
from mscpk.engine.result import CELL_QUANTITIES, site_quantity_weights
from mscpk.inputs.scenario import Scenario
from mscpk.engine.solvers import LinearSolver, StiffSolver, _phi1, administered

#: Largest 1-norm condition number of the eigenvector matrix accepted for modal propagation.
COND_MAX = 1e8
#: Largest relative mass-balance error accepted from modal propagation before falling back.
MASS_TOL = 1e-9


class ArrayParameters(Mapping[str, object]):
    """A :class:`~mscpk.inputs.parameters.ParameterSet` look-alike whose sampled entries are arrays.

    ``params[name]`` is the array (N,) of per-subject values for a sampled name, else the
    base set's float. ``subject(i)`` is subject ``i``'s ordinary (scalar) ParameterSet.
    """

    def __init__(self, base: ParameterSet, samples: Mapping[str, np.ndarray]) -> None:
        self.base = base
        self.samples = dict(samples)
        self.set_name = base.set_name
        sizes = {len(v) for v in self.samples.values()}
        self.n = sizes.pop() if sizes else 0

    def __getitem__(self, name: str):
        if name in self.samples:
            return self.samples[name]
        return self.base[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)

    def record(self, name: str) -> Parameter:
        return self.base.record(name)

    def take(self, sl: slice) -> "ArrayParameters":
        """The subjects ``sl`` (a slice) only."""
        return ArrayParameters(self.base, {k: v[sl] for k, v in self.samples.items()})

    def subject(self, i: int) -> ParameterSet:
        """Subject ``i``'s scalar parameter set (for the per-subject solvers)."""
        return self.base.updated({k: float(v[i]) for k, v in self.samples.items()},
                                 source="batch sample")


def check_samples(base: ParameterSet, samples: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    """Samples as float arrays (N,), checked: known names, one length, values in range."""
    if not samples:
        raise ParameterError("samples: give at least one parameter with per-subject values")
    out: dict[str, np.ndarray] = {}
    n = None
    for name, values in samples.items():
        rec = base.record(name)  # unknown name -> ParameterError with a did-you-mean
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise ParameterError(f"samples[{name!r}]: need a 1-D array of per-subject values, got shape {arr.shape}")
        if n is None:
            n = arr.size
        elif arr.size != n:
            raise ParameterError(f"samples[{name!r}]: {arr.size} values, but other parameters have {n}")
        if np.isnan(arr).any():
            raise ParameterError(f"samples[{name!r}]: value is NaN for subject {int(np.argmax(np.isnan(arr)))}")
        for bound, bad, side in ((rec.minimum, arr < (rec.minimum or 0.0), "below the allowed minimum"),
                                 (rec.maximum, arr > (rec.maximum or 0.0), "above the allowed maximum")):
            if bound is not None and bad.any():
                i = int(np.argmax(bad))
                raise ParameterError(f"samples[{name!r}]: value {arr[i]:g} of subject {i} is {side} {bound:g}")
        out[name] = np.ascontiguousarray(arr)
    return out


def _sites(names: Sequence[str]) -> tuple[str, ...]:
    """Sites in the order of :attr:`mscpk.engine.result.Result.sites`."""
    seen = dict.fromkeys(split_state(s)[0] for s in names)
    return tuple(s for s in seen if s not in ("blood", "eliminated")) + ("blood", "eliminated")


def _input_vectors(net: Network, n_sub: int) -> list[np.ndarray]:
    """One (N, n_states) vector of cells per administration (fractions may be arrays)."""
    out = []
    for inp in net.inputs:
        v = np.zeros((n_sub, len(net.layout)))
        for name, frac in inp.targets.items():
            v[:, net.layout.index(name)] += frac * inp.cells
        out.append(v)
    return out


def _block_structure(pattern: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray]:
    """Strongly connected components of a transition graph, in topological order.

    ``pattern[j, i]``: some subject has a flow from state ``i`` to state ``j`` (the nonzero
    pattern of the rate matrices). Returns the permutation of states (upstream components
    first; within a component by decreasing ``weight``, the typical total exit rate: the QR
    algorithm is far more accurate for the slow eigenvalues of this graded matrix with its
    large entries first), the blocks as ``(start, stop)`` in permuted order, and
    ``anc[d, b]``: block ``b`` is upstream of block ``d`` (or ``b == d``). Permuted, every
    rate matrix is block lower-triangular.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

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


class _Modal:
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


_BLAS_SYMBOLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                 ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                 ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                 ("openblas_get_num_threads", "openblas_set_num_threads"))


@contextmanager
def _single_threaded_blas():
    """Run the block with OpenBLAS on one thread (best effort; restored afterwards).

    The batch runs its own threads over chunks; OpenBLAS threads on top of them (its
    small-matrix GEMMs would use both cores) oversubscribe the machine and, when another
    process is busy, spin-wait for seconds. Linux + OpenBLAS only; otherwise a no-op.
    """
    restore = []
    try:
        import ctypes

        paths = set()
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if "openblas" in line.lower() and "/" in line:
                    paths.add(line[line.index("/"):].strip())
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for get_name, set_name in _BLAS_SYMBOLS:
                try:
                    get, put = getattr(lib, get_name), getattr(lib, set_name)
                except AttributeError:
                    continue
                get.restype = ctypes.c_int
                n_old = int(get())
                put(ctypes.c_int(1))
                restore.append((put, n_old))
                break
    except Exception:  # noqa: BLE001 -- an optimisation only: never fail because of it
        pass
    try:
        yield
    finally:
        for put, n_old in restore:
            put(ctypes.c_int(n_old))


def _exp(arg: np.ndarray) -> np.ndarray:
    """``exp(arg)`` with exact zeros where Re(arg) < -700 (avoids slow denormals)."""
    out = np.zeros_like(arg)
    np.exp(arg, out=out, where=arg.real > -700.0)
    return out


def _solve_chunk(scenario: Scenario, species, params: ArrayParameters, times: np.ndarray,
                 saturation: str) -> dict:
    """Outputs of one chunk of subjects (see :func:`simulate_batch`)."""
    n_sub = params.n
    net = build_network(scenario, params, species)
    names = net.names
    sites = _sites(names)
    wts = site_quantity_weights(names)
    rows = [wts.get((s, q), np.zeros(len(names))) for s in sites for q in CELL_QUANTITIES]
    n_cell_rows = len(rows)
    rows.append(np.ones(len(names)))  # total, for the mass balance
    cap_groups = list(net.capacities.items())
    for _, cap in cap_groups:
        w = np.zeros(len(names))
        for s in cap.states:
            w[net.layout.index(s)] = 1.0
        rows.append(w)
    w_out = np.array(rows)  # (q, n)

    end = float(times.max())
    used = [m for m in net.modes if m == "base" or any(mode == m and t0 < end for t0, _, mode in net.schedule)]
    mats = {m: net.matrices(m, n_sub) for m in used}
    pattern = np.zeros((len(names), len(names)), dtype=bool)
    for a in mats.values():
        pattern |= (a != 0).any(axis=0)
    weight = np.median(np.abs(np.diagonal(mats["base"], axis1=1, axis2=2)), axis=0)
    perm, blocks, anc = _block_structure(pattern, weight)
    # everything below works in the permuted (block lower-triangular) state order
    structure = (perm, blocks, anc, pattern[np.ix_(perm, perm)])
    modal = {m: _Modal(a[:, perm[:, None], perm[None, :]], structure, end) for m, a in mats.items()}
    w_states = w_out  # original state order (per-subject fallback solvers)
    w_out = w_out[:, perm]
    doses = [b[:, perm] for b in _input_vectors(net, n_sub)]
    # intervals between events only (all output times of an interval are evaluated at once)
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
        mode = net.mode_at(ta)
        md = modal[mode]
        bad |= md.bad
        cond = np.maximum(cond, md.cond)
        u = None
        for inp, b in zip(net.inputs, doses):
            if inp.duration_h > 0 and inp.time_h <= ta and tb <= inp.time_h + inp.duration_h + 1e-12:
                u = b / inp.duration_h if u is None else u + b / inp.duration_h
        taus = np.append(times[sel] - ta, tb - ta)  # outputs in [ta, tb), then tb
        zero = taus[:-1] == 0
        x_new = np.empty_like(x)
        for idx, lam_g, v_g, vinv_g in md.groups:
            lam = lam_g[:, :, None]  # (G, n, 1)
            tau = taus[None, None, :]  # (1, 1, K+1)
            x_g = x[idx]
            with np.errstate(over="ignore", invalid="ignore"):
                z = _exp(lam * tau) * np.matmul(vinv_g, x_g[:, :, None].astype(vinv_g.dtype))  # modal coords
                if u is not None:
                    z += _phi1(lam, tau) * np.matmul(vinv_g, u[idx][:, :, None].astype(vinv_g.dtype))
            if sel.size:
                y_g = np.matmul(np.matmul(w_out, v_g), z[:, :, :-1]).real  # (G, q, K)
                if zero.any():  # the exact state at the start of the interval
                    y_g[:, :, zero] = (x_g @ w_out.T)[:, :, None]
                y[np.ix_(idx, np.arange(len(w_out)), sel)] = y_g
            x_new[idx] = np.matmul(v_g, z[:, :, -1:])[:, :, 0].real
        x = x_new

    adm = administered(net, times)
    scale = max(float(np.max(adm)), 1.0)
    mass = np.abs(y[:, n_cell_rows, :] - adm[None, :]).max(axis=1) / scale
    solver = np.full(n_sub, "eig", dtype=object)
    redo = np.nonzero(bad | ~(mass <= MASS_TOL))[0]
    occ_rows = y[:, n_cell_rows + 1:, :]  # (N, n_caps, T) arrested cells per bed
    caps = np.stack([np.broadcast_to(np.asarray(c.capacity, dtype=float), (n_sub,)) for _, c in cap_groups], axis=1) \
        if cap_groups else np.ones((n_sub, 0))
    peak_occ = (occ_rows.max(axis=2) / caps).max(axis=1) if cap_groups else np.zeros(n_sub)
    for s in redo:  # ill-conditioned or unbalanced: exact matrix exponential, scalar build
        p_s = params.subject(int(s))
        net_s = build_network(scenario, p_s, species)
        states = LinearSolver().solve(net_s, times)
        y[s] = w_states @ states.T
        mass[s] = np.abs(states.sum(axis=1) - adm).max() / scale
        solver[s] = "expm"
        peak_occ[s] = (y[s, n_cell_rows + 1:, :].max(axis=1) / caps[s]).max() if cap_groups else 0.0
    if saturation == "auto":
        onset = np.broadcast_to(np.asarray(params["Saturation onset occlusion [-]"], dtype=float), (n_sub,))
        for s in np.nonzero(peak_occ > onset)[0]:  # as mscpk.simulate: nonlinear beds
            net_s = build_network(scenario, params.subject(int(s)), species)
            states = StiffSolver().solve(net_s, times)
            y[s] = w_states @ states.T
            mass[s] = np.abs(states.sum(axis=1) - adm).max() / scale
            solver[s] = "bdf"
            peak_occ[s] = (y[s, n_cell_rows + 1:, :].max(axis=1) / caps[s]).max()
    return {"cells": y[:, :n_cell_rows, :], "mass": mass, "solver": solver, "cond": cond,
            "peak_occ": peak_occ, "sites": sites, "administered": adm, "names": names}


def simulate_batch(scenario: Scenario, samples: Mapping[str, Sequence[float]],
                   times_h: Sequence[float] | None = None, *, chunk: int = 500,
                   threads: int | None = None, saturation: str | None = None,
                   params: ParameterSet | None = None):
    """Simulate N subjects of ``scenario`` with per-subject parameter values.

    Parameters
    ----------
    scenario : the shared scenario (its ``parameters`` overrides apply to every subject).
    samples : parameter name -> array (N,) of values, one per subject (model parameters as
        in ``mscpk params``; same N for every name; range-checked like overrides). Species
        physiology is shared by all subjects; so is ``Vasodilator effect duration [h]`` when
        a dose has a vasodilator, and ``Immune priming delay [h]`` in an immunocompetent host
        (they set event times: ParameterError if sampled). Every mode (base, vasodilated,
        primed, primed+vasodilated) is handled per subject; ``Primed immune hazard factor
        [-]`` may vary (a subject with factor 1 gets primed rates equal to its base rates).
    times_h : output times [h] (default: the scenario's output grid, as ``simulate``).
    chunk : subjects per chunk (working memory per chunk ~ chunk * n_states * n_times * 24
        bytes; 500 keeps the temporaries small enough to be reused).
    threads : worker threads over chunks (default: min(2, cpu count)).
    saturation : "off" or "auto" (default: the scenario's ``run.saturation``); "on" is not
        supported in batch (use :func:`mscpk.simulate` per subject).
    params : base parameter set (default: the packaged defaults).

    Returns
    -------
    xarray.Dataset with

    * ``cells`` (subject, time_h, site, quantity) [cells]: ``live_cells`` and ``dead_cells``
      per site, as :meth:`mscpk.Result.to_xarray` of each subject;
    * ``mass_balance_error`` (subject) [-]: max |sum of states - administered| / dose;
    * ``administered`` (time_h) [cells]; ``peak_occlusion`` (subject) [-];
    * ``solver`` (subject): "eig" (modal), "expm" (fallback) or "bdf" (saturated beds);
    * ``condition_number`` (subject): 1-norm condition number of the eigenvector matrix;
    * ``parameter_values`` (subject, parameter): the samples.
    """
    import xarray as xr

    mode = saturation or scenario.run.saturation
    if mode not in ("off", "auto"):
        raise SolverError("simulate_batch: saturation 'on' (nonlinear capillary beds for every subject) "
                          "is not supported in batch; use saturation 'off'/'auto' or mscpk.simulate per subject")
    species = scenario_species(scenario)
    base = scenario_parameters(scenario, params)
    arrays = check_samples(base, samples)
    if "Vasodilator effect duration [h]" in arrays and any(d.vasodilator for d in scenario.dose):
        raise ParameterError("samples: 'Vasodilator effect duration [h]' sets event times and cannot vary "
                             "between subjects in a batch (all subjects share one event schedule)")
    if "Immune priming delay [h]" in arrays and scenario.subject.immune == "immunocompetent":
        raise ParameterError("samples: 'Immune priming delay [h]' sets the time from which the host is primed "
                             "(an event time) and cannot vary between subjects in a batch (all subjects "
                             "share one event schedule); 'Primed immune hazard factor [-]' may vary")
    ap = ArrayParameters(base, arrays)
    n = ap.n
    times = np.asarray(sorted(set(float(t) for t in (times_h if times_h is not None
                                                      else scenario.output_times()))))
    if times.size == 0 or times[0] < 0:
        raise SolverError("simulate_batch: output times must be >= 0 and at least one")
    chunk = max(1, int(chunk))
    bounds = [(i, min(n, i + chunk)) for i in range(0, n, chunk)]
    workers = threads if threads is not None else min(2, os.cpu_count() or 1)

    # the layout (states, sites) is the same for every subject: from a one-subject build
    names = build_network(scenario, ap.take(slice(0, 1)), species).names
    sites = _sites(names)
    nq = len(CELL_QUANTITIES)
    cells = np.empty((n, len(times), len(sites), nq))

    def run(b):
        part = _solve_chunk(scenario, species, ap.take(slice(*b)), times, mode)
        if part["names"] != names:
            raise SolverError("internal error: the batch network layout differs between chunks")
        i0, i1 = b  # (chunk, q, T), q site-major, quantity-minor -> (chunk, T, site, quantity)
        cells[i0:i1] = part.pop("cells").reshape(i1 - i0, len(sites), nq, len(times)).transpose(0, 3, 1, 2)
        return part

    with _single_threaded_blas():
        if workers > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(max_workers=workers) as ex:
                parts = list(ex.map(run, bounds))
        else:
            parts = [run(b) for b in bounds]

    cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    pnames = list(arrays)
    return xr.Dataset(
        {"cells": (("subject", "time_h", "site", "quantity"), cells, {"units": "cells"}),
         "mass_balance_error": (("subject",), cat("mass")),
         "administered": (("time_h",), parts[0]["administered"], {"units": "cells"}),
         "peak_occlusion": (("subject",), cat("peak_occ")),
         "solver": (("subject",), cat("solver").astype(str)),
         "condition_number": (("subject",), cat("cond")),
         "parameter_values": (("subject", "parameter"), np.column_stack([arrays[k] for k in pnames]))},
        coords={"subject": np.arange(n), "time_h": times, "site": list(sites),
                "quantity": list(CELL_QUANTITIES), "parameter": pnames},
        attrs={"scenario": scenario.name, "species": species.name, "n_states": len(names)})


__all__ = ["simulate_batch", "ArrayParameters", "check_samples"]
