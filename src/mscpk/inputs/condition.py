"""Chronic conditions of the subject (``[subject.condition]``, e.g. cirrhosis by Child-Pugh class):
their effects on physiology and parameters, read from ``data/conditions.toml`` and applied once
by :func:`apply_condition` (called where the physiology is resolved, :mod:`mscpk.inputs.resolve`).
Effects and sources: docs/model.md, "Conditions".

>>> from mscpk.inputs.physiology import load_species
>>> from mscpk.inputs.parameters import load_parameter_set
>>> sp, p = apply_condition(load_species("human"), load_parameter_set("default"), Condition(name="cirrhosis", stage="C"))
>>> round(sp.organs["spleen"].volume_L / load_species("human").organs["spleen"].volume_L, 2), p["Portosystemic shunt fraction [-]"]
(2.94, 0.46)
"""

from __future__ import annotations

import tomllib
import types
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import Mapping

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from mscpk.errors import did_you_mean
from mscpk.inputs.parameters import ParameterSet
from mscpk.inputs.physiology import Species, check_species

#: The effects a condition may have (keys of a condition's table in data/conditions.toml).
EFFECTS = ("spleen_volume", "liver_volume", "spleen_flow", "cardiac_output", "lung_shunt",
           "portosystemic_shunt", "liver_phagocytic_clearance")
#: The organ that absorbs volume and flow differences (body weight and flow sum kept).
BALANCE_ORGAN = "rest"
#: The portal organs' outflow share reaching the systemic veins (0 in health).
PORTOSYSTEMIC = "Portosystemic shunt fraction [-]"
LIVER_SHARE = "Liver share of dead-material uptake [-]"
UPTAKE = "Dead material uptake from blood half-life [h]"


@lru_cache(maxsize=1)
def _table() -> Mapping[str, dict]:
    return tomllib.loads(resources.files("mscpk.data").joinpath("conditions.toml").read_text("utf-8"))


def condition_names() -> tuple[str, ...]:
    """The conditions ``subject.condition.name`` accepts."""
    return tuple(_table())


def stages(name: str) -> tuple[str, ...]:
    """The stages of condition ``name`` (``subject.condition.stage``)."""
    return tuple(_table()[name]["stages"])


class Condition(BaseModel):
    """A chronic condition of the subject: ``name`` (a condition of data/conditions.toml) and
    its ``stage`` (for cirrhosis the Child-Pugh class ``"A"``, ``"B"`` or ``"C"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    stage: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        names = condition_names()
        if v not in names:
            raise ValueError(f"unknown condition; {did_you_mean(v, names)}allowed: {', '.join(names)}")
        return v

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: str, info: ValidationInfo) -> str:
        name = info.data.get("name")
        if name is not None and v not in stages(name):
            raise ValueError(f"not a stage of {name!r}; allowed: {', '.join(stages(name))}")
        return v

    def effect(self, key: str) -> tuple[float, str]:
        """``(value, source)`` of effect ``key`` at this stage (1 for a factor not given, 0 for
        the portosystemic shunt)."""
        entry = _table()[self.name].get(key)
        if entry is None:
            return (0.0 if key == "portosystemic_shunt" else 1.0), ""
        value = entry["value"]
        return float(value[self.stage] if isinstance(value, Mapping) else value), entry["source"]


def condition_species(name: str) -> tuple[str, ...]:
    """The species condition ``name`` is described for."""
    return tuple(_table()[name]["species"])


def apply_condition(species: Species, params: ParameterSet, condition: Condition | None) -> tuple[Species, ParameterSet]:
    """``(species, params)`` of a subject with ``condition`` (unchanged for None): organ volumes,
    flows and cardiac output (docs/model.md "Conditions"), and the lung shunt, portosystemic shunt
    and phagocytic uptake parameters. The species is checked like any physiology; that the
    condition is described for it is checked with the scenario's subject (:class:`~mscpk.inputs.scenario.Subject`)."""
    if condition is None:
        return species, params
    tag = f"; condition {condition.name} stage {condition.stage} (data/conditions.toml): "
    organs = dict(species.organs)

    def scaled(name: str, attr: str, key: str, factor: float, source: str) -> float:
        o = organs[name]
        old = getattr(o, attr)
        organs[name] = replace(o, **{attr: old * factor},
                               sources=types.MappingProxyType({**o.sources, key: o.sources.get(key, "") + tag + source}))
        return old * factor - old

    delta = 0.0
    for organ in ("spleen", "liver"):
        factor, source = condition.effect(f"{organ}_volume")
        delta = delta + scaled(organ, "volume_L", "volume", factor, source)
    co, co_source = condition.effect("cardiac_output")
    for name, o in species.organs.items():  # absolute flows kept: fractions of a larger output
        if name not in ("lung", BALANCE_ORGAN):
            factor, source = condition.effect("spleen_flow") if name == "spleen" else (1.0, co_source)
            scaled(name, "flow_fraction", "blood_flow", factor / co, source)
    rest = organs[BALANCE_ORGAN]
    others = sum(o.flow_fraction for n, o in organs.items() if n not in ("lung", BALANCE_ORGAN))
    organs[BALANCE_ORGAN] = replace(rest, volume_L=rest.volume_L - delta, flow_fraction=1.0 - others,
                                    sources=types.MappingProxyType({
                                        **rest.sources, "volume": rest.sources.get("volume", "") + tag + "balances the spleen and liver volumes",
                                        "blood_flow": rest.sources.get("blood_flow", "") + tag + "takes the extra cardiac output"}))
    sources = {**species.sources, "cardiac_output": species.sources.get("cardiac_output", "") + tag + co_source}
    sp = check_species(replace(species, cardiac_output_L_per_h=species.cardiac_output_L_per_h * co,
                               organs=types.MappingProxyType(organs), sources=types.MappingProxyType(sources)))
    return sp, params.updated(_parameters(condition, species.name, params), source=f"condition {condition.name} "
                              f"stage {condition.stage} (data/conditions.toml)")


def _parameters(condition: Condition, species: str, params: ParameterSet) -> dict[str, float]:
    """The parameter values the condition sets (see :func:`apply_condition`)."""
    lung = f"Lung arteriovenous shunt fraction, {species} [-]"
    k = condition.effect("liver_phagocytic_clearance")[0]
    share = params[LIVER_SHARE]
    total = share * k + (1.0 - share)  # relative uptake rate of liver + spleen
    return {lung: min(params[lung] * condition.effect("lung_shunt")[0], 1.0),
            PORTOSYSTEMIC: condition.effect("portosystemic_shunt")[0],
            LIVER_SHARE: share * k / total,
            UPTAKE: params[UPTAKE] / total}


__all__ = ["Condition", "EFFECTS", "apply_condition", "condition_species", "condition_names", "stages"]
