"""Fitting named model parameters to study data (maximum likelihood, profile-likelihood CIs).

Pieces (each usable alone): forward model -> problem -> likelihood terms -> optimiser ->
profile CIs -> :class:`FitResult`; :func:`fit` chains them. Specification: docs/fitting.md.
"""

from mscpk.analysis.fitting.animals import QUADRATURE_NODES
from mscpk.analysis.fitting.data import FIT_UNIT_OPTIONS
from mscpk.analysis.fitting.forward import SEARCH_FACTOR, ForwardModel, JointModel
from mscpk.analysis.fitting.groups import derive_scenario, group_scenarios
from mscpk.analysis.fitting.layout import OMEGA_BOUNDS, SIGMA_BOUNDS, Layout
from mscpk.analysis.fitting.likelihood import CENTRES, LogLikelihood
from mscpk.analysis.fitting.optimise import optimise
from mscpk.analysis.fitting.problem import Problem
from mscpk.analysis.fitting.profile import PROFILE_THRESHOLD, profile_ci
from mscpk.analysis.fitting.result import FitResult
from mscpk.analysis.fitting.run import fit

__all__ = [
    "SEARCH_FACTOR", "PROFILE_THRESHOLD", "CENTRES", "SIGMA_BOUNDS", "OMEGA_BOUNDS",
    "QUADRATURE_NODES", "FIT_UNIT_OPTIONS", "ForwardModel", "JointModel", "Problem", "Layout",
    "LogLikelihood", "FitResult", "fit", "optimise", "profile_ci", "group_scenarios",
    "derive_scenario",
]
