"""Solvers of a :class:`~mscpk.engine.network.Network`: shared event handling (:mod:`.events`),
matrix exponentials (:mod:`.expm`), the modal propagator of the single and batch paths
(:mod:`.modal`), the linear solver that joins them (:mod:`.linear`), the exponential Rosenbrock
solver of the saturable model (:mod:`.exprb`) and scipy's BDF on the same equations, its
reference (:mod:`.stiff`)."""

from mscpk.engine.solvers.events import administered
from mscpk.engine.solvers.exprb import SaturatingSolver
from mscpk.engine.solvers.linear import LinearSolver
from mscpk.engine.solvers.stiff import StiffSolver

__all__ = ["LinearSolver", "SaturatingSolver", "StiffSolver", "administered"]
