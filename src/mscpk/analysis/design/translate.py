"""``translate``: a scenario carried to another species by rules that are data
(data/translation.toml): physiology from the target species' file, the dose per kg (or per
lung capillary-bed capacity), each model parameter by its class (unchanged, allometric time,
allometric rate). Details: docs/design.md."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mscpk.errors import ScenarioError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.parameters import load_parameter_set
from mscpk.inputs.physiology import available_species, load_species, physiology_names
from mscpk.inputs.resolve import engine_inputs
from mscpk.inputs.scenario import Scenario

#: The parameter whose per-gram value and the lung's mass give a lung bed's capacity [cells].
LUNG_CAPACITY = "Lung embolic capacity [cells/g]"


@dataclass(frozen=True)
class Translation:
    """The translated ``scenario`` and the ``table`` of every quantity that changed or was
    kept by a rule (DataFrame ``parameter, from_value, to_value, unit, rule, source``)."""

    scenario: Scenario
    table: Any

    def to_toml(self) -> str:
        """The translated scenario as a scenario file."""
        import tomli_w

        raw = _without_empty(self.scenario.model_dump(mode="json", exclude_none=True))
        return tomli_w.dumps(raw)


def _without_empty(value):
    """``value`` without empty tables and lists (a scenario file leaves them out)."""
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in ({}, [], ())}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def rules() -> dict:
    """The translation rules (data/translation.toml)."""
    return tomllib.loads(resources.files("mscpk.data").joinpath("translation.toml").read_text("utf-8"))


def parameter_class(name: str) -> str:
    """The rule class of a model parameter (the default class for those not listed)."""
    for cls, spec in rules()["class"].items():
        if name in spec.get("parameters", ()):
            return cls
    return next(c for c, s in rules()["class"].items() if s.get("default"))


def _lung_capacity(species, params) -> float:
    return params[LUNG_CAPACITY] * species.organs["lung"].volume_L * 1000.0 * params["Tissue density [g/mL]"]


def translate(scenario: Scenario, to: str, *, dose: str | None = None, body_weight_kg: float | None = None,
              exponents: dict[str, float] | None = None) -> Translation:
    """``scenario`` in species ``to``.

    Parameters
    ----------
    dose : "per_kg" (default) or "capacity" (see data/translation.toml).
    body_weight_kg : the target subject's weight (default: the species' reference).
    exponents : class -> allometric exponent, replacing the rule's (for sampling its range).

    Examples
    --------
    >>> import mscpk
    >>> human = mscpk.translate(mscpk.load_scenario("examples/iv_mouse.toml"), "human")
    >>> human.scenario.subject.species, human.scenario.dose[0].cells  # 5e5 cells in 25 g: 2e7 cells/kg
    ('human', 1400000000.0)
    """
    import pandas as pd

    if to not in available_species():
        raise ScenarioError(f"--to: {to!r} is not a species; allowed: {', '.join(available_species())}")
    mode = dose or rules()["dose"]["default"]
    if mode not in ("per_kg", "capacity"):
        raise ScenarioError(f"--dose: {mode!r} is not allowed; allowed: per_kg, capacity")
    pop = scenario.population
    if pop is not None and any(k in physiology_names(load_species(scenario.subject.species)) for k in pop.vary):
        raise ScenarioError("translate: the [population.vary] table varies physiology names of the source species; "
                            "their distributions do not carry over (remove them, translate, then vary the target's)")
    src_species, src_params = engine_inputs(scenario)
    raw = scenario.model_dump(mode="json", exclude_none=True)
    raw["subject"] = {**raw["subject"], "species": to}
    raw["subject"].pop("body_weight_kg", None)
    if body_weight_kg is not None:
        raw["subject"]["body_weight_kg"] = body_weight_kg
    tgt_species = load_species(to, body_weight_kg)
    ratio = tgt_species.body_weight_kg / src_species.body_weight_kg
    rows = [{"parameter": "Body weight [kg]", "from_value": src_species.body_weight_kg,
             "to_value": tgt_species.body_weight_kg, "unit": "kg", "rule": f"the {to} species file",
             "source": tgt_species.sources.get("body_weight", "")}]
    # parameters: physiology overrides belong to the source species; model parameters by class
    src_phys = set(physiology_names(src_species))
    base = load_parameter_set("default")
    params = {}
    for name, value in scenario.parameters.items():
        if name in src_phys:
            rows.append({"parameter": name, "from_value": value, "to_value": None, "unit": "",
                         "rule": "dropped: physiology of the source species (the target's file applies)", "source": ""})
            continue
        params[name] = value
    for name in base:
        cls = parameter_class(name)
        spec = rules()["class"][cls]
        k = (exponents or {}).get(cls, spec["exponent"])
        if k == 0.0:
            continue
        old = float(src_params[name])
        new = old * ratio ** k
        if abs(new - base[name]) <= 1e-12 * abs(base[name]):
            params.pop(name, None)  # back at the packaged value (a round trip returns the original)
        else:
            params[name] = new
        rows.append({"parameter": name, "from_value": old, "to_value": new, "unit": base.record(name).unit,
                     "rule": f"{cls}: {spec['rule']} (exponent {k:g})", "source": spec["source"]})
    raw["parameters"] = params
    # doses
    tgt_params = src_params.updated(params, source="translation")
    factor = (_lung_capacity(tgt_species, tgt_params) / _lung_capacity(src_species, src_params)
              if mode == "capacity" else None)
    for i, (d, rd) in enumerate(zip(scenario.dose, raw["dose"]), 1):
        cells = d.cells if d.cells is not None else d.cells_per_kg * src_species.body_weight_kg
        per_kg = cells / src_species.body_weight_kg
        rd.pop("cells", None)
        rd.pop("cells_per_kg", None)
        if factor is None:  # per kg kept, written as the scenario gave it (cells or cells_per_kg)
            new_cells, rule = per_kg * tgt_species.body_weight_kg, rules()["dose"]["per_kg"]
            rd["cells" if d.cells is not None else "cells_per_kg"] = new_cells if d.cells is not None else per_kg
        else:
            rd["cells"] = new_cells = cells * factor
            rule = rules()["dose"]["capacity"]
        rows.append({"parameter": f"dose[{i}] cells", "from_value": cells, "to_value": new_cells, "unit": "cells",
                     "rule": rule["rule"], "source": rule["source"]})
    raw["name"] = f"{scenario.name} (translated to {to})"
    try:
        out = scenario_from_dict(raw)
    except ScenarioError as exc:
        raise ScenarioError(f"translate to {to}: {exc}") from None
    return Translation(out, pd.DataFrame(rows, columns=["parameter", "from_value", "to_value", "unit", "rule", "source"]))


__all__ = ["translate", "Translation", "rules", "parameter_class"]
