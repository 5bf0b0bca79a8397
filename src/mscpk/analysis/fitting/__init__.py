"""Fitting named model parameters to study data (maximum likelihood, profile-likelihood CIs).

Pieces (each usable alone): forward model -> problem -> likelihood terms -> optimiser ->
profile CIs -> :class:`FitResult`; :func:`fit` chains them. Specification: docs/fitting.md.
"""

from mscpk.analysis.fitting.forward import SEARCH_FACTOR, ForwardModel, JointModel
from mscpk.analysis.fitting.groups import derive_scenario, group_scenarios
from mscpk.analysis.fitting.likelihood import (CENTRES, OMEGA_BOUNDS, QUADRATURE_NODES,
                                               SIGMA_BOUNDS, Layout, LogLikelihood)
from mscpk.analysis.fitting.optimise import PROFILE_THRESHOLD, optimise, profile_ci
from mscpk.analysis.fitting.problem import FIT_UNIT_OPTIONS, Problem
from mscpk.analysis.fitting.run import FitResult, fit

__all__ = [
    "SEARCH_FACTOR", "PROFILE_THRESHOLD", "CENTRES", "SIGMA_BOUNDS", "OMEGA_BOUNDS",
    "QUADRATURE_NODES", "FIT_UNIT_OPTIONS", "ForwardModel", "JointModel", "Problem", "Layout",
    "LogLikelihood", "FitResult", "fit", "optimise", "profile_ci", "group_scenarios",
    "derive_scenario",
]
