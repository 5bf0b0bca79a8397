"""``resolve(scenario) -> Inputs``: the one place a scenario's ``[parameters]`` table is read.

A name in ``[parameters]`` belongs to exactly one owner: the species physiology (as
``mscpk params`` lists it, e.g. ``"Lung volume [L]"``), the detection catalogue
(``"qPCR detection limit [cells]"``) or the model parameter set. :func:`resolve` splits the
table once, applies each part to its owner (each value checked there) and returns the
:class:`Inputs` in force, which the engine builds from and the analyses read.

>>> from mscpk.inputs.load import load_scenario
>>> inputs = resolve(load_scenario("examples/iv_mouse.toml"))
>>> inputs.species.name, inputs.params.set_name
('mouse', 'default')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from mscpk.errors import ParameterError, did_you_mean
from mscpk.inputs.detection import (DetectionSettings, apply_detection_overrides, detection_parameter_names,
                                    is_detection_parameter)
from mscpk.inputs.condition import apply_condition
from mscpk.inputs.parameters import ParameterSet, load_parameter_set
from mscpk.inputs.physiology import Species, apply_physiology, load_species, physiology_names
from mscpk.inputs.scenario import Scenario


@dataclass(frozen=True)
class Overrides:
    """A ``[parameters]`` table split by owner."""

    model: Mapping[str, float]
    physiology: Mapping[str, float]
    detection: Mapping[str, float]


def split_overrides(overrides: Mapping[str, float], species: Species) -> Overrides:
    """Split a ``[parameters]`` table into model, physiology and detection names."""
    phys = set(physiology_names(species)) if overrides else set()
    parts: dict[str, dict[str, float]] = {"model": {}, "physiology": {}, "detection": {}}
    for k, v in (overrides or {}).items():
        owner = "physiology" if k in phys else "detection" if is_detection_parameter(k) else "model"
        if owner == "model" and k not in load_parameter_set("default"):
            known = [*load_parameter_set("default"), *phys, *detection_parameter_names()]
            hint = did_you_mean(k, known, cutoff=0.6).removesuffix(" ") or "`mscpk params` lists the names"
            raise ParameterError(f"unknown parameter {k!r}; {hint}")
        parts[owner][k] = v
    return Overrides(**parts)


@dataclass(frozen=True)
class Inputs:
    """Everything a scenario puts in force: ``scenario``, ``species`` (body weight and
    physiology overrides applied), model ``params`` (overrides applied) and ``detection``
    settings. The engine's scenario is :attr:`cell_scenario` (detection names dropped)."""

    scenario: Scenario
    species: Species
    params: ParameterSet
    detection: DetectionSettings

    @property
    def cell_scenario(self) -> Scenario:
        return cell_scenario(self.scenario)


def cell_scenario(scenario: Scenario) -> Scenario:
    """The scenario without detection names in ``[parameters]`` (what the cell engine sees)."""
    params = scenario.parameters
    if not params or not any(is_detection_parameter(k) for k in params):
        return scenario
    return scenario.model_copy(update={"parameters": {k: v for k, v in params.items()
                                                      if not is_detection_parameter(k)}})


def resolve(scenario: Scenario, base: ParameterSet | None = None) -> Inputs:
    """The :class:`Inputs` of ``scenario``; ``base``: the model parameter set (default set).

    Raises :class:`~mscpk.errors.ParameterError` for an unknown name (with a did-you-mean
    over every owner's names) or a value its owner refuses.
    """
    species, params, detection = _resolved(scenario, base)
    return Inputs(scenario, species, params, apply_detection_overrides(detection))


def engine_inputs(scenario: Scenario, base: ParameterSet | None = None) -> tuple[Species, ParameterSet]:
    """``(species, params)`` the engine builds from: the subject's species (body weight,
    condition and physiology overrides applied) and the model parameters (default set unless
    ``base``, condition and model overrides applied); ``[parameters]`` is split once for both."""
    return _resolved(scenario, base)[:2]


def _resolved(scenario: Scenario, base: ParameterSet | None) -> tuple[Species, ParameterSet, Mapping[str, float]]:
    """Species, model parameters and detection overrides of ``scenario``, in this order: the
    species at the subject's body weight, its condition (:func:`apply_condition`: physiology
    and parameters), then the ``[parameters]`` overrides (which win over the condition)."""
    plain = load_species(scenario.subject.species, scenario.subject.body_weight_kg)
    parts = split_overrides(scenario.parameters, plain)
    params = base if base is not None else load_parameter_set("default")
    plain, params = apply_condition(plain, params, scenario.subject.condition)
    if parts.model:
        params = params.updated(parts.model, source="scenario override")
    return apply_physiology(plain, parts.physiology), params, parts.detection


def scenario_species(scenario: Scenario) -> Species:
    """The subject's species, scaled to its body weight, with physiology overrides applied."""
    return engine_inputs(scenario)[0]


def scenario_parameters(scenario: Scenario, base: ParameterSet | None = None) -> ParameterSet:
    """Model parameters (default set unless ``base``) with the scenario's model overrides."""
    return engine_inputs(scenario, base)[1]


__all__ = ["Inputs", "Overrides", "resolve", "split_overrides", "cell_scenario", "engine_inputs", "scenario_species",
           "scenario_parameters"]
