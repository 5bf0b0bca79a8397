"""The nonlinear (saturable capillary bed) network: scipy's BDF with the analytic Jacobian,
restarted at every event. Only the arrest transitions of saturable beds are nonlinear: their
flux is scaled by the free capacity ``max(0, 1 - occupancy / capacity)`` of the bed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from mscpk.engine.network import Network
from mscpk.engine.solvers.events import boluses, breakpoints, infusion_rate
from mscpk.errors import SolverError


@dataclass
class StiffSolver:
    """BDF integration of the nonlinear (saturable) network, restarted at each event."""

    rtol: float = 1e-10
    atol_rel: float = 1e-12
    name: str = "bdf"

    def solve(self, net: Network, times: np.ndarray, progress=None) -> np.ndarray:
        """States at ``times``; ``progress(fraction)`` is called after each event interval."""
        times = np.asarray(times, dtype=float)
        pts = breakpoints(net, times)
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
            b = boluses(net, ta)
            if b is not None:
                x = x + b
            if ta in want:
                out[want[ta]] = x
            if k + 1 == len(pts):
                break
            tb = pts[k + 1]
            rhs, jac = make(net.mode_at(ta), infusion_rate(net, ta, tb))
            # BDF's error estimate of a rejected trial step may overflow; the step is then
            # rejected and retried smaller, so those floating-point warnings are not errors
            with np.errstate(over="ignore", invalid="ignore"):
                sol = solve_ivp(rhs, (0.0, tb - ta), x,  # local time: fine steps near t=0 of each interval
                                method="BDF", jac=jac, rtol=self.rtol, atol=self.atol_rel * total)
            if not sol.success or not np.isfinite(sol.y[:, -1]).all():
                raise SolverError(f"stiff solver failed between {ta:g} h and {tb:g} h: {sol.message}")
            x = sol.y[:, -1]
            if progress is not None:
                progress(float(tb / pts[-1]))
        return out


__all__ = ["StiffSolver"]
