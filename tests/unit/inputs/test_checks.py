"""Cross-checks of a scenario (mscpk.inputs.checks): lists that must not repeat, inputs that
would have no effect."""

from __future__ import annotations

import warnings

import pytest

from helpers import make
from mscpk.errors import MscpkWarning, ScenarioError


def test_a_repeated_preconditioning_entry_is_refused():
    with pytest.raises(ScenarioError, match=r"product.preconditioning: 'hypoxia' is listed 2 times; give it once"):
        make(preconditioning=["hypoxia", "hypoxia"])


def test_a_repeated_injury_site_is_refused():
    with pytest.raises(ScenarioError, match=r"subject.injury: site 'heart' is listed 2 times; give it once"):
        make(injury=[{"site": "heart"}, {"site": "heart", "severity": 2.0}])


def test_distinct_entries_are_accepted():
    sc = make(preconditioning=["hypoxia", "inflammation"], injury=[{"site": "heart"}, {"site": "gut"}])
    assert sc.product.preconditioning == ("hypoxia", "inflammation")


def test_a_joint_injury_without_an_intra_articular_dose_warns_with_the_reason():
    with pytest.warns(MscpkWarning, match=r"subject.injury\[2\].site: 'joint' has no effect.*"
                                          r"no dose is intra_articular \(routes: iv\)"):
        make(injury=[{"site": "gut"}, {"site": "joint"}])


def test_a_joint_injury_with_an_intra_articular_dose_is_silent():
    doses = [{"route": "iv", "cells": 1e5}, {"route": "intra_articular", "cells": 1e5}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(injury=[{"site": "joint"}], doses=doses)


def test_a_table_where_a_value_belongs_is_named_as_a_table():
    from mscpk.inputs.load import scenario_from_dict

    with pytest.raises(ScenarioError, match=r"^dose\[1\].time_h: Input should be a valid number \(got a table\)$"):
        scenario_from_dict({"subject": {"species": "mouse"}, "dose": [{"route": "iv", "cells": 1e5, "time_h": {"x": 1}}]})
    with pytest.raises(ScenarioError, match=r"^dose\[1\]: give exactly one of 'cells' or 'cells_per_kg'$"):
        scenario_from_dict({"subject": {"species": "mouse"}, "dose": [{"route": "iv"}]})
