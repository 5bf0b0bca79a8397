"""Solvers for a :class:`~mscpk.model.network.Network`.

* :class:`LinearSolver` (default): the network is linear in cell numbers between events
  (doses, infusion start/stop, vasodilator windows), so it is propagated exactly with the
  matrix exponential, ``x(t+dt) = expm(A dt) x(t)``; a constant infusion ``u`` uses the
  augmented matrix ``[[A, u], [0, 0]]``. No step-size error; propagators are cached by
  (mode, dt), so a uniform output grid costs one ``expm`` per distinct step.
* :class:`StiffSolver`: for the nonlinear option (saturable capillary beds), scipy's BDF
  with the analytic Jacobian, restarted at every event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from .errors import SolverError
from .model.network import Network


def expm_conservative(m: np.ndarray) -> np.ndarray:
    """``expm(m)`` by scaling and squaring of ``expm(m) - I``.

    Keeping ``E = expm(m) - I`` (not ``expm(m)``) through the squarings
    ``E <- 2E + E @ E`` avoids adding small numbers to 1, so column sums of ``E`` stay ~0 to
    rounding when those of ``m`` are 0: cells are conserved to ~1e-14 even for the very stiff
    circulation (rates up to 1e8 /h against days). Taylor series of order <= 30 on the scaled
    matrix (1-norm <= 1/4, truncation error < 1e-17).
    """
    norm = float(np.abs(m).sum(axis=0).max())
    s = max(0, int(np.ceil(np.log2(norm / 0.25)))) if norm > 0.25 else 0
    b = m / (2.0 ** s)
    e = b.copy()
    term = b
    for k in range(2, 31):
        term = term @ b / k
        e += term
        if np.abs(term).max() < 1e-18 * max(1.0, np.abs(e).max()):
            break
    for _ in range(s):
        e = 2.0 * e + e @ e
    return e + np.eye(m.shape[0])


def _breakpoints(net: Network, times: np.ndarray) -> np.ndarray:
    pts = {0.0, *map(float, times)}
    for inp in net.inputs:
        pts.add(inp.time_h)
        if inp.duration_h > 0:
            pts.add(inp.time_h + inp.duration_h)
    for t0, t1, _ in net.schedule:
        pts.update((t0, t1))
    end = float(np.max(times))
    return np.array(sorted(p for p in pts if p <= end))


def _infusion_rate(net: Network, ta: float, tb: float) -> np.ndarray | None:
    u = None
    for inp in net.inputs:
        if inp.duration_h > 0 and inp.time_h <= ta and tb <= inp.time_h + inp.duration_h + 1e-12:
            v = net.input_vector(inp) / inp.duration_h
            u = v if u is None else u + v
    return u


def _boluses(net: Network, t: float) -> np.ndarray | None:
    v = None
    for inp in net.inputs:
        if inp.duration_h == 0 and inp.time_h == t:
            w = net.input_vector(inp)
            v = w if v is None else v + w
    return v


def administered(net: Network, times: np.ndarray) -> np.ndarray:
    """Cells administered [cells] by each time (boluses at t count at t)."""
    times = np.asarray(times, dtype=float)
    total = np.zeros_like(times)
    for inp in net.inputs:
        if inp.duration_h == 0:
            total += np.where(times >= inp.time_h, inp.cells, 0.0)
        else:
            total += inp.cells * np.clip((times - inp.time_h) / inp.duration_h, 0.0, 1.0)
    return total


@dataclass
class LinearSolver:
    """Exact propagation by matrix exponentials (linear networks)."""

    name: str = "expm"
    _cache: dict = field(default_factory=dict, repr=False)

    def propagator(self, net: Network, mode: str, dt: float, u: np.ndarray | None):
        if u is None:
            key = (id(net), mode, round(dt, 12))
            if key not in self._cache:
                self._cache[key] = expm_conservative(self._matrix(net, mode) * dt)
            return self._cache[key], None
        a = self._matrix(net, mode)
        n = a.shape[0]
        m = np.zeros((n + 1, n + 1))
        m[:n, :n] = a
        m[:n, n] = u
        e = expm_conservative(m * dt)
        return e[:n, :n], e[:n, n]

    def _matrix(self, net: Network, mode: str) -> np.ndarray:
        key = (id(net), mode, "A")
        if key not in self._cache:
            self._cache[key] = net.matrix(mode)
        return self._cache[key]

    def solve(self, net: Network, times: np.ndarray) -> np.ndarray:
        """States [cells] at ``times`` [h], shape (len(times), n_states)."""
        times = np.asarray(times, dtype=float)
        pts = _breakpoints(net, times)
        x = np.zeros(len(net.layout))
        out = np.zeros((len(times), len(x)))
        want = {float(t): i for i, t in enumerate(times)}
        for k, ta in enumerate(pts):
            b = _boluses(net, ta)
            if b is not None:
                x = x + b
            if ta in want:
                out[want[ta]] = x
            if k + 1 == len(pts):
                break
            tb = pts[k + 1]
            phi, g = self.propagator(net, net.mode_at(ta), tb - ta, _infusion_rate(net, ta, tb))
            x = phi @ x if g is None else phi @ x + g
        return out


@dataclass
class StiffSolver:
    """BDF integration of the nonlinear (saturable) network, restarted at each event."""

    rtol: float = 1e-10
    atol_rel: float = 1e-12
    name: str = "bdf"

    def solve(self, net: Network, times: np.ndarray, progress=None) -> np.ndarray:
        """States at ``times``; ``progress(fraction)`` is called after each event interval."""
        from scipy.integrate import solve_ivp

        times = np.asarray(times, dtype=float)
        pts = _breakpoints(net, times)
        n = len(net.layout)
        idx = net.layout.index
        total = max(sum(i.cells for i in net.inputs), 1.0)
        terms = {}
        for mode, trs in net.modes.items():
            lin = np.zeros((n, n))
            sat = []  # (src, dst, rate, occupying indices, capacity)
            for t in trs:
                i, j = idx(t.source), idx(t.target)
                cap = net.capacities.get(t.saturable) if t.saturable else None
                if cap is None:
                    lin[i, i] -= t.rate
                    lin[j, i] += t.rate
                else:
                    sat.append((i, j, t.rate, [idx(s) for s in cap.states], cap.capacity))
            terms[mode] = (lin, sat)

        def make(mode: str, u: np.ndarray | None):
            lin, sat = terms[mode]

            def rhs(_t, x):
                dx = lin @ x
                for i, j, k, occ, cap in sat:
                    g = max(0.0, 1.0 - x[occ].sum() / cap)
                    f = k * g * x[i]
                    dx[i] -= f
                    dx[j] += f
                return dx if u is None else dx + u

            def jac(_t, x):
                jm = lin.copy()
                for i, j, k, occ, cap in sat:
                    g = 1.0 - x[occ].sum() / cap
                    if g <= 0:
                        continue
                    jm[i, i] -= k * g
                    jm[j, i] += k * g
                    for o in occ:
                        jm[i, o] += k * x[i] / cap
                        jm[j, o] -= k * x[i] / cap
                return jm
            return rhs, jac

        x = np.zeros(n)
        out = np.zeros((len(times), n))
        want = {float(t): i for i, t in enumerate(times)}
        for k, ta in enumerate(pts):
            b = _boluses(net, ta)
            if b is not None:
                x = x + b
            if ta in want:
                out[want[ta]] = x
            if k + 1 == len(pts):
                break
            tb = pts[k + 1]
            rhs, jac = make(net.mode_at(ta), _infusion_rate(net, ta, tb))
            sol = solve_ivp(rhs, (ta, tb), x, method="BDF", jac=jac, rtol=self.rtol,
                            atol=self.atol_rel * total)
            if not sol.success:
                raise SolverError(f"stiff solver failed between {ta:g} h and {tb:g} h: {sol.message}")
            x = sol.y[:, -1]
            if progress is not None:
                progress(float(tb / pts[-1]))
        return out
