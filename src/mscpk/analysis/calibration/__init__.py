"""Joint calibration: the calibration studies of the library (``used_for = "calibration"``),
each read through its own assay as the qualification forms it, joined in one likelihood and
fitted with mscpk's optimiser (profile-likelihood CIs). Specification: docs/fitting.md
("Joint calibration")."""

from mscpk.analysis.calibration.data import CalibrationTerm, calibration_terms, text_value_sdlog
from mscpk.analysis.calibration.likelihood import CalibrationLikelihood
from mscpk.analysis.calibration.run import CalibrationResult, calibrate, with_model_observations

__all__ = ["CalibrationTerm", "CalibrationLikelihood", "CalibrationResult", "calibrate",
           "calibration_terms", "text_value_sdlog", "with_model_observations"]
