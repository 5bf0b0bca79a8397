"""What every submodel receives: the scenario, its species and parameters, and the layout."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..parameters import ParameterSet
from ..physiology import Species
from ..scenario import Scenario
from .network import StateLayout, Transition, state_id


@dataclass
class BuildContext:
    """Mutable only during the build: submodels add states and transitions here."""

    scenario: Scenario
    species: Species
    params: ParameterSet
    layout: StateLayout = field(default_factory=StateLayout)
    depots: list[str] = field(default_factory=list)

    def p(self, name: str) -> float:
        return self.params[name]

    def rate_from_half_life(self, name: str) -> float:
        """First-order rate [1/h] from a half-life parameter [h] (inf -> 0)."""
        t_half = self.params[name]
        return 0.0 if t_half == float("inf") or t_half <= 0 else 0.6931471805599453 / t_half

    def s(self, site: str, kind: str) -> str:
        """Name of a state, adding it to the layout if new."""
        return self.layout.add(site, kind)

    @property
    def organs(self) -> tuple[str, ...]:
        return self.species.organ_names()

    def injury(self, site: str):
        for inj in self.scenario.subject.injury:
            if inj.site == site:
                return inj
        return None


def tr(ctx: BuildContext, source: tuple[str, str], target: tuple[str, str], rate: float,
       process: str, saturable: str | None = None) -> Transition:
    """Shorthand: a transition between ``(site, kind)`` pairs, registering both states."""
    return Transition(ctx.s(*source), ctx.s(*target), float(rate), process, saturable)


__all__ = ["BuildContext", "tr", "state_id"]
