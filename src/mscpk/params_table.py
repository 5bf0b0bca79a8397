"""Every parameter in force for a scenario: model parameters and species physiology.

Both kinds can be overridden from a scenario's ``[parameters]`` table by the names that
``mscpk params`` lists; physiology overrides rebuild the species (and are re-validated).
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Mapping

from .errors import ParameterError
from .parameters import ParameterSet, load_parameter_set
from .physiology import Species

_ORGAN_FIELDS = {
    "volume [L]": ("volume_L", None), "blood flow fraction [-]": ("flow_fraction", None),
    "residual blood fraction [-]": ("residual_blood_fraction", None), "depth [mm]": ("depth_mm", None),
    "capillary median diameter [um]": ("capillary", "median_um"),
    "capillary geometric SD [-]": ("capillary", "gsd"),
    "capillary segments in series [-]": ("capillary", "segments"),
}
_BODY_FIELDS = {"Body weight [kg]": "body_weight_kg", "Cardiac output [L/h]": "cardiac_output_L_per_h",
                "Blood volume [L]": "blood_volume_L", "Venous blood fraction [-]": "venous_fraction",
                "Cells per gram tissue [1/g]": "cells_per_gram_tissue"}


def physiology_names(species: Species) -> tuple[str, ...]:
    return tuple(r[0] for r in species.parameter_rows())


def split_overrides(overrides: Mapping[str, float], species: Species) -> tuple[dict, dict]:
    """(model overrides, physiology overrides) of a scenario's ``[parameters]``."""
    if not overrides:
        return {}, {}
    phys = set(physiology_names(species))
    from .detection.parameters import is_detection_parameter

    model = {k: v for k, v in overrides.items() if k not in phys and not is_detection_parameter(k)}
    return model, {k: v for k, v in overrides.items() if k in phys}


def apply_physiology(species: Species, overrides: Mapping[str, float]) -> Species:
    """A new species with physiology overrides (names as listed by ``mscpk params``)."""
    if not overrides:
        return species
    body: dict[str, float] = {}
    organs = dict(species.organs)
    labels = {o.label: name for name, o in species.organs.items()}
    for key, value in overrides.items():
        v = float(value)
        if key in _BODY_FIELDS:
            if not v > 0:
                raise ParameterError(f"parameter {key!r}: value {v:g} must be > 0")
            body[_BODY_FIELDS[key]] = v
            continue
        for suffix, (fld, sub) in _ORGAN_FIELDS.items():
            if key.endswith(" " + suffix) and key[: -len(suffix) - 1] in labels:
                name = labels[key[: -len(suffix) - 1]]
                organ = organs[name]
                if v < 0 or (fld != "flow_fraction" and v == 0 and fld != "depth_mm"):
                    raise ParameterError(f"parameter {key!r}: value {v:g} must be > 0")
                if sub:
                    organs[name] = replace(organ, capillary=replace(organ.capillary, **{sub: v}))
                else:
                    organs[name] = replace(organ, **{fld: v})
                break
        else:
            raise ParameterError(f"unknown physiology parameter {key!r}")
    total = sum(o.flow_fraction for n, o in organs.items() if n != "lung")
    if abs(total - 1.0) > 0.01:
        raise ParameterError(f"physiology overrides make the organ blood flow fractions sum to {total:.3f}; "
                             "they must sum to 1 (adjust 'Rest blood flow fraction [-]' too)")
    return replace(species, organs=MappingProxyType(organs), **body)


def parameters_in_force(scenario) -> "object":
    """DataFrame ``name, value, unit, source`` of every parameter the scenario's model uses.

    Example
    -------
    >>> import mscpk
    >>> df = mscpk.parameters_in_force(mscpk.load_scenario("examples/iv_mouse.toml"))  # doctest: +SKIP
    >>> list(df.columns)  # doctest: +SKIP
    ['name', 'value', 'unit', 'source']
    """
    import pandas as pd

    from .model.build import scenario_parameters, scenario_species

    params: ParameterSet = scenario_parameters(scenario)
    species = scenario_species(scenario)
    rows = [(p.name, p.value, p.unit, p.source) for p in params.records()]
    rows += species.parameter_rows()
    from .detection.parameters import detection_parameter_rows

    rows += detection_parameter_rows(scenario.parameters)
    return pd.DataFrame(rows, columns=["name", "value", "unit", "source"])


def default_parameter_names() -> tuple[str, ...]:
    return tuple(load_parameter_set("default"))
