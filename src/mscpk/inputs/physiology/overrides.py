"""Physiology overrides by parameter name (as ``mscpk params`` lists them)."""

from __future__ import annotations

import types
from dataclasses import replace
from typing import Any, Mapping

from mscpk.errors import ParameterError, did_you_mean
from mscpk.inputs.physiology.species import Species, check_species


def physiology_names(species: Species) -> tuple[str, ...]:
    """Names of the physiology parameters of ``species`` (body first, then organ by organ).

    >>> from mscpk.inputs.physiology import load_species
    >>> physiology_names(load_species("mouse"))[:2]
    ('Body weight [kg]', 'Cardiac output [L/h]')
    """
    return tuple(name for name, _, _ in species.field_items())


def apply_physiology(species: Species, overrides: Mapping[str, float]) -> Species:
    """A new species with physiology overrides, checked like a species file.

    >>> from mscpk.inputs.physiology import load_species
    >>> apply_physiology(load_species("mouse"), {"Venous blood fraction [-]": 0.7}).venous_fraction
    0.7

    Raises:
        ParameterError: unknown name, or a value (or the resulting physiology) out of range;
            the message names the parameter, the value and what is allowed.
    """
    if not overrides:
        return species
    targets = {name: (organ, f) for name, organ, f in species.field_items()}
    body: dict[str, Any] = {}
    organs = dict(species.organs)
    for key, value in overrides.items():
        if key not in targets:
            raise ParameterError(f"unknown physiology parameter {key!r}; {did_you_mean(key, targets)}"
                                 "`mscpk params` lists the names")
        organ, f = targets[key]
        if organ is None:
            body[f.attr] = float(value)
            continue
        current = organs[organ.name]
        new: Any = float(value) if f.sub is None else replace(current.capillary, **{f.sub: float(value)})
        organs[organ.name] = replace(current, **{f.attr: new})
    return check_species(replace(species, organs=types.MappingProxyType(organs), **body), ParameterError)


__all__ = ["apply_physiology", "physiology_names"]
