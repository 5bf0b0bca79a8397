"""Small scenario factory shared by the tests (plain dicts -> validated Scenario)."""

from __future__ import annotations

from mscpk.inputs.load import scenario_from_dict


def make(species="mouse", immune="immunocompetent", origin="xenogeneic", route="iv", cells=1e6,
         site=None, diam=(18.0, 3.0), injury=(), end=672.0, times=None, params=None, doses=None,
         vasodilator=False, **product):
    dose = {"route": route, "cells": cells, "vasodilator": vasodilator}
    if site:
        dose["site"] = site
    raw = {"name": "test", "subject": {"species": species, "immune": immune, "injury": list(injury)},
           "product": {"origin": origin, "diameter_um": {"mean": diam[0], "sd": diam[1]}, **product},
           "dose": doses or [dose], "run": {"end_h": end}, "parameters": params or {}}
    if times is not None:
        raw["run"]["times_h"] = list(times)
    return scenario_from_dict(raw)


def at(result, site, t, quantity="live_cells"):
    """Value of a quantity at the output time ``t`` (must be on the grid)."""
    import numpy as np

    i = int(np.flatnonzero(np.isclose(result.times_h, t))[0])
    return float(result.quantity(site, quantity)[i])


def data_table(file):
    """A packaged TOML data file (e.g. ``"homing.toml"``, ``"species/mouse.toml"``) read straight
    from the package data, not through the package's loaders, so that tests derive their
    expectations from the data."""
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("mscpk.data").joinpath(file).read_text("utf-8"))


def data_value(name, file="parameters/default.toml"):
    """Value of the parameter ``name`` in a packaged parameter file (see :func:`data_table`)."""
    return next(float(row["value"]) for row in data_table(file)["parameter"] if row["name"] == name)


# virtual-study fits (tests/science/test_virtual_study_fit.py, tests/unit/analysis/test_fitting_random_effect.py)
LUNG_DEATH = "Lung arrested cell death half-life [h]"
TRUE = 6.0  # the default value: the data are simulated with the default parameters

# the worked example of the guide (docs/guide.md, section 3): /tmp/guide/liver_injury.toml
LIVER_INJURY = """
name = "hMSC IV in NOD/SCID mouse with liver injury"

[subject]
species = "mouse"
body_weight_kg = 0.025
immune = "immunodeficient"

[[subject.injury]]
site = "liver"
severity = 1.0
chemokines = { CXCL12 = 5.0 }

[product]
name = "hBM-MSC"
origin = "xenogeneic"
source = "bone_marrow"
diameter_um = { mean = 18.0, sd = 3.0 }
viability = 0.95
passage = 4
receptors = { CXCR4 = 1.0 }
preconditioning = ["hypoxia"]
label = "luciferase"

[[dose]]
route = "iv"
cells = 1e6
time_h = 0.0
infusion_min = 0.0

[run]
end_h = 336.0
times_h = [0.25, 1, 4, 24, 72, 168, 336]
"""
