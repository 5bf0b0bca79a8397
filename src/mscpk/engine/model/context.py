"""What every submodel receives: the scenario, its species and parameters, and the layout."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mscpk.inputs.course import Segment
from mscpk.inputs.parameters import ParameterSet
from mscpk.inputs.physiology import Species
from mscpk.inputs.scenario import Scenario
from mscpk.engine.network import StateLayout, Transition, state_id


@dataclass
class BuildContext:
    """Mutable only during the build: submodels add states and transitions here."""

    scenario: Scenario
    species: Species
    params: ParameterSet
    layout: StateLayout = field(default_factory=StateLayout)
    #: True while the transitions of a primed mode are built (adaptive immune priming:
    #: :func:`mscpk.engine.model.fate.immune_hazard` multiplies the immune hazard by the factor).
    primed: bool = False
    #: The disease-course interval of the mode being built (:class:`mscpk.inputs.course.Segment`:
    #: each injured site's level, the sites whose onset has passed); a site not in it (an
    #: injury without a course) is at its full severity from time 0. None: no course.
    course: Segment | None = None

    def course_key(self) -> tuple:
        """What of the course the submodels read (the build memo's key)."""
        return () if self.course is None else (tuple(self.course.levels.items()), self.course.started)

    def started(self, site: str) -> bool:
        """Whether the injury at ``site`` has begun (its onset passed) in this mode."""
        c = self.course
        return c is None or site not in c.levels or site in c.started

    def p(self, name: str) -> float:
        return self.params[name]

    def rate_from_half_life(self, name: str) -> float:
        """First-order rate [1/h] from a half-life parameter [h] (inf -> 0)."""
        t_half = self.params[name]
        if is_batch(t_half):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(np.isinf(t_half) | (t_half <= 0), 0.0, 0.6931471805599453 / t_half)
        return 0.0 if t_half == float("inf") or t_half <= 0 else 0.6931471805599453 / t_half

    def s(self, site: str, kind: str) -> str:
        """Name of a state, adding it to the layout if new."""
        return self.layout.add(site, kind)

    @property
    def organs(self) -> tuple[str, ...]:
        return self.species.organ_names()

    def injury(self, site: str, course: bool = True):
        """The injury at ``site`` (None if none) at its disease-course level in this mode: severity
        and chemokine excess over 1 times the level (``course=False``: as the scenario gives it)."""
        for inj in self.scenario.subject.injury:
            if inj.site == site:
                if not course:
                    return inj
                level = 1.0 if self.course is None else self.course.levels.get(site, 1.0)
                if level == 1.0:
                    return inj
                return inj.model_copy(update={"severity": inj.severity * level, "chemokines": {
                    k: 1.0 + (v - 1.0) * level for k, v in inj.chemokines.items()}})
        return None


def tr(ctx: BuildContext, source: tuple[str, str], target: tuple[str, str], rate: float,
       process: str, saturable: str | None = None) -> Transition:
    """Shorthand: a transition between ``(site, kind)`` pairs, registering both states.

    ``rate`` is a float, or (batch builds) an array of one rate per subject.
    """
    rate = np.asarray(rate, dtype=float) if is_batch(rate) else float(rate)
    return Transition(ctx.s(*source), ctx.s(*target), rate, process, saturable)


# ---- array-safe arithmetic --------------------------------------------------------------
# A batch build (mscpk.engine.batch) passes parameters as arrays of shape (N,), one value per
# subject. These helpers keep the scalar path exactly as it was (Python floats, math.*,
# builtin min/max, transitions omitted when their rate is 0) and use numpy only when a value
# is an array; there every transition is emitted (its rate may be 0 for some subjects) so that
# all subjects share one network structure.

def is_batch(x) -> bool:
    """True if ``x`` is an array of per-subject values (not a plain number)."""
    return isinstance(x, np.ndarray) and x.ndim > 0


def vmin(a, b):
    return np.minimum(a, b) if is_batch(a) or is_batch(b) else min(a, b)


def vmax(a, b):
    return np.maximum(a, b) if is_batch(a) or is_batch(b) else max(a, b)


def vexp(x):
    return np.exp(x) if is_batch(x) else math.exp(x)


def emit(rate) -> bool:
    """Whether a transition (or term) with ``rate`` must be emitted: ``rate > 0`` for a
    number; always for an array (the structure must not depend on the subject)."""
    return True if is_batch(rate) else rate > 0


def where_positive(x, value, default: float = 0.0):
    """``value(x)`` where ``x > 0``, else ``default`` (``value``: a callable)."""
    if is_batch(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, value(x), default)
    return value(x) if x > 0 else default


__all__ = ["BuildContext", "tr", "state_id", "is_batch", "vmin", "vmax", "vexp", "emit",
           "where_positive"]
