"""Joint calibration: the calibration studies of the library (``used_for = "calibration"``),
each read through its own assay as the qualification forms it, joined in one likelihood and
fitted with mscpk's optimiser (profile-likelihood CIs). Specification: docs/fitting.md
("Joint calibration")."""

from mscpk.analysis.calibration.data import CalibrationTerm, calibration_terms, text_value_sdlog
from mscpk.analysis.calibration.likelihood import CalibrationLikelihood
from mscpk.analysis.calibration.petab import CalibrationPetab, calibration_petab, export_calibration_petab
from mscpk.analysis.calibration.run import CalibrationResult, calibrate, with_model_observations

__all__ = ["CalibrationTerm", "CalibrationLikelihood", "CalibrationPetab", "CalibrationResult", "calibrate",
           "calibration_petab", "calibration_terms", "export_calibration_petab", "text_value_sdlog", "with_model_observations"]
