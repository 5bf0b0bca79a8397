"""The population figure's choice of the keys shown against the exposure; each test can fail."""

import numpy as np
import pandas as pd
import pytest

from mscpk.interfaces.plots.population import influence


def test_a_category_that_decides_the_exposure_ranks_above_noise():
    rng = np.random.default_rng(4)
    sex = np.where(rng.random(400) < 0.5, "male", "female")
    noise = rng.normal(size=400)
    dose = rng.lognormal(size=400)
    exposure = np.where(sex == "female", 10.0, 1.0) * (1 + 0.01 * dose)  # sex decides the order, dose within it
    t = pd.DataFrame({"subject": np.arange(400), "covariate.sex": sex, "noise": noise, "dose": dose, "m": exposure})
    got = influence(t, "m", ["covariate.sex", "noise", "dose"])
    assert got["covariate.sex"] > 0.85 and got["noise"] < 0.15
    assert sorted(got, key=lambda k: -got[k])[0] == "covariate.sex"
    # a numeric key that sets the order exactly: |rho| = 1; a constant key: 0
    t["const"] = 1.0
    got = influence(t.assign(m=-t.dose), "m", ["dose", "const"])
    assert got["dose"] == pytest.approx(1.0, abs=1e-12) and got["const"] == 0.0
