"""The defaults of the parameters the calibration studies identify lie inside the 95 %
profile intervals of the joint calibration fit (mscpk calibrate; model.md section 11): a model
change that moves the calibration studies' readouts away from their data shows up here."""

import pytest

from mscpk.analysis.calibration import calibrate


@pytest.mark.parametrize("studies, names", [
    (["toma2009"], ["Systemic arrested cell death half-life [h]"]),
    (["toupet2013"], ["Joint attached cell death half-life [h]", "Joint attachment half-life [h]"]),
])
def test_defaults_inside_the_calibration_intervals(studies, names):
    r = calibrate(studies, names, n_starts=1)
    for name in names:
        p = r.parameters[name]
        assert p["identifiable"], name
        assert p["ci_low"] < p["default"] < p["ci_high"], (name, p)
