"""Assemble the network of a scenario from its submodels.

Order of states is fixed here (blood, organs in species order, depots, eliminated) so the
layout is stable and reproducible; no code outside the layout uses indices.
"""

from __future__ import annotations

from types import MappingProxyType

from ..parameters import ParameterSet, load_parameter_set
from ..physiology import Species, load_species
from ..scenario import Scenario
from .circulation import capacities, circulation
from .context import BuildContext
from .fate import cell_fate
from .network import Network, Transition
from .routes import DEPOT_OF_ROUTE, depots, dose_inputs

ORGAN_KINDS = ("vascular", "arrested", "engrafted", "dead")
DEPOT_KINDS = {"peritoneum": ("free", "aggregated", "attached", "dead"),
               "joint": ("free", "attached", "dead"), "csf": ("free", "attached", "dead"),
               "airway": ("free", "dead"), "injection_site": ("free", "dead")}


def scenario_species(scenario: Scenario) -> Species:
    """The subject's species, scaled to its body weight, with physiology overrides applied."""
    from ..params_table import apply_physiology, split_overrides

    species = load_species(scenario.subject.species, scenario.subject.body_weight_kg)
    return apply_physiology(species, split_overrides(scenario.parameters, species)[1])


def scenario_parameters(scenario: Scenario, base: ParameterSet | None = None) -> ParameterSet:
    """Model parameters (default set unless ``base``) with the scenario's model overrides."""
    from ..params_table import split_overrides

    params = base if base is not None else load_parameter_set("default")
    species = load_species(scenario.subject.species, scenario.subject.body_weight_kg)
    model = split_overrides(scenario.parameters, species)[0]
    return params.updated(model, source="scenario override") if model else params


def build_network(scenario: Scenario, params: ParameterSet | None = None,
                  species: Species | None = None) -> Network:
    """The scenario's :class:`Network` (states, transitions per mode, doses, capacities)."""
    species = species or scenario_species(scenario)
    params = params or scenario_parameters(scenario)
    ctx = BuildContext(scenario, species, params)
    for kind in ("venous", "arterial", "dead"):
        ctx.s("blood", kind)
    for o in species.organ_names():
        for kind in ORGAN_KINDS:
            ctx.s(o, kind)
    used = list(dict.fromkeys(DEPOT_OF_ROUTE[d.route] for d in scenario.dose if d.route in DEPOT_OF_ROUTE))
    for depot in used:
        for kind in DEPOT_KINDS[depot]:
            ctx.s(depot, kind)
    ctx.s("eliminated", "degraded")
    inputs = dose_inputs(ctx)
    shared: list[Transition] = cell_fate(ctx) + depots(ctx)
    modes = {"base": tuple(circulation(ctx) + shared)}
    schedule: list[tuple[float, float, str]] = []
    vaso = sorted((d for d in scenario.dose if d.vasodilator), key=lambda d: d.time_h)
    if vaso:
        modes["vasodilated"] = tuple(circulation(ctx, params["Vasodilator capillary dilation factor [-]"]) + shared)
        duration = params["Vasodilator effect duration [h]"]
        for d in vaso:
            start, end = d.time_h, d.time_h + d.infusion_min / 60.0 + duration
            if schedule and start <= schedule[-1][1]:
                schedule[-1] = (schedule[-1][0], max(end, schedule[-1][1]), "vasodilated")
            else:
                schedule.append((start, end, "vasodilated"))
    ctx.layout.freeze()
    return Network(ctx.layout, MappingProxyType(modes), tuple(inputs),
                   MappingProxyType(capacities(ctx)), tuple(schedule))
