"""The scenario schema: one simulated experiment (subject, product, doses, parameters, run).

The format is fixed by ``shared/INTERFACE.md``; loading and cross-checks are in
:mod:`mscpk.inputs.load` and :mod:`mscpk.inputs.checks`.
"""

from __future__ import annotations

from typing import Annotated, Iterable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from mscpk.errors import ScenarioError, did_you_mean
from mscpk.inputs.condition import Condition, condition_species
from mscpk.inputs.course import Course, make_course
from mscpk.inputs.effect import Effect
from mscpk.inputs.population import Population
from mscpk.inputs.routes import route as route_info, route_aliases, route_names

_CFG = ConfigDict(extra="forbid", frozen=True)

#: A number as a scenario gives it: an int or a float, never a bool or a string, finite.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
#: A parameter value: a number (``inf`` allowed: a half-life of inf means "never").
ParameterValue = Annotated[float, Strict()]
#: Longest run and latest output time [h] (5 years).
MAX_TIME_H = 24 * 365 * 5.0
#: Largest chemokine fold change over healthy tissue and relative receptor level accepted [-]
#: (far above any published value: the review's strongest injury signals are ~10-100 fold).
MAX_FOLD = 1e3


def check_times(values: Iterable[object], key: str = "times_h") -> np.ndarray:
    """Output times [h], sorted and unique: one or more finite numbers in [0, MAX_TIME_H].

    The one check of output times (scenario ``run.times_h``, ``simulate(times_h=...)``,
    ``simulate_batch``, the CLI's ``--times``). Raises :class:`ScenarioError`.

    >>> check_times([24, 1, 1]).tolist()
    [1.0, 24.0]
    """
    try:
        return _times(values)
    except ValueError as exc:
        raise ScenarioError(f"{key}: {exc}") from None


def _times(values: Iterable[object]) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{values!r} is not a list of times [h]")
    values = values if isinstance(values, np.ndarray) else list(values)
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged input
        arr = np.asarray([None])
    if arr.ndim != 1 or arr.dtype.kind not in "iuf" or (
            not isinstance(values, np.ndarray) and any(type(v) in (bool, np.bool_) for v in values)):
        bad = next((v for v in values if type(v) in (bool, np.bool_) or not isinstance(v, (int, float, np.number))),
                   values)
    else:
        arr = arr.astype(float, copy=False)
        wrong = np.flatnonzero(~(np.isfinite(arr) & (arr >= 0) & (arr <= MAX_TIME_H)))
        bad = None if wrong.size == 0 else values[int(wrong[0])]
    if bad is not None:
        raise ValueError(f"time {bad!r} is not allowed; give finite times in [0, {MAX_TIME_H:g}] h")
    if arr.size == 0:
        raise ValueError("must list at least one time")
    return np.unique(arr)


class Injury(BaseModel):
    """An injured / inflamed site. ``severity``: 0 none, 1 typical acute injury (at its peak when
    a ``course`` is given: onset at ``onset_h`` on the scenario clock, negative = before time 0)."""

    model_config = _CFG
    site: str
    severity: Number = Field(1.0, ge=0.0, le=10.0)
    chemokines: dict[str, Number] = Field(default_factory=dict)
    course: str | None = None
    onset_h: Number = Field(0.0, ge=-MAX_TIME_H, le=MAX_TIME_H)
    peak_h: Number | None = Field(None, ge=0.0, le=MAX_TIME_H)
    half_life_h: Number | None = Field(None, ge=0.0, le=MAX_TIME_H)
    chronic: Number | None = Field(None, ge=0.0, le=1.0)
    perfusion_loss: Number | None = Field(None, ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _course(self) -> "Injury":
        if self.time_course() is None and self.onset_h != 0.0:  # time_course names a bad course
            raise ValueError(f"onset_h = {self.onset_h:g} needs a course ('course', or 'peak_h' and 'half_life_h')")
        return self

    def time_course(self) -> Course | None:
        """The injury's :class:`~mscpk.inputs.course.Course`, or None (constant severity)."""
        return make_course(self.course, peak_h=self.peak_h, half_life_h=self.half_life_h, chronic=self.chronic,
                           perfusion_loss=self.perfusion_loss)

    @field_validator("chemokines")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not 0 < x <= MAX_FOLD:
                raise ValueError(f"chemokine {k!r} fold change must be in (0, {MAX_FOLD:g}], got {x!r}")
        return v


class Subject(BaseModel):
    model_config = _CFG
    species: str
    body_weight_kg: Number | None = Field(None, gt=0.0, le=500.0)
    immune: Literal["immunocompetent", "immunodeficient"] = "immunocompetent"
    injury: tuple[Injury, ...] = ()
    condition: Condition | None = None

    @model_validator(mode="after")
    def _condition_species(self) -> "Subject":
        if self.condition is not None and self.species not in condition_species(self.condition.name):
            raise ValueError(f"condition {self.condition.name!r} is described for "
                             f"{', '.join(condition_species(self.condition.name))} only, not {self.species!r} "
                             "(data/conditions.toml)")
        return self


class Diameter(BaseModel):
    """Cell diameter in suspension [um]: normal distribution, mean and SD."""

    model_config = _CFG
    mean: Number = Field(18.0, gt=1.0, le=100.0)
    sd: Number = Field(3.0, ge=0.0, le=30.0)


class Product(BaseModel):
    model_config = _CFG
    name: str = "MSC"
    origin: Literal["autologous", "syngeneic", "allogeneic", "xenogeneic"] = "allogeneic"
    source: Literal["bone_marrow", "adipose", "umbilical_cord", "cord_blood", "placenta"] = "bone_marrow"
    diameter_um: Diameter = Diameter()
    viability: Number = Field(0.95, gt=0.0, le=1.0)
    passage: Annotated[int, Strict()] = Field(4, ge=0, le=50)
    receptors: dict[str, Number] = Field(default_factory=dict)
    preconditioning: tuple[str, ...] = ()
    label: str = "none"

    @field_validator("receptors")
    @classmethod
    def _nonneg(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not 0 <= x <= MAX_FOLD:
                raise ValueError(f"receptor {k!r} level must be in [0, {MAX_FOLD:g}], got {x!r}")
        return v


class Dose(BaseModel):
    model_config = _CFG
    route: str  # a name of the route table (mscpk.inputs.routes)
    cells: Number | None = Field(None, gt=0.0, le=1e12)
    cells_per_kg: Number | None = Field(None, gt=0.0, le=1e11)
    time_h: Number = Field(0.0, ge=0.0, le=MAX_TIME_H)
    infusion_min: Number = Field(0.0, ge=0.0, le=7 * 24 * 60)
    site: str | None = None
    vasodilator: Annotated[bool, Strict()] = False
    every_h: Number | None = Field(None, gt=0.0, le=MAX_TIME_H)  # repeat every ... h (NONMEM II)
    count: Annotated[int, Strict()] = Field(1, ge=1, le=1000)  # ... count times in all (ADDL + 1)
    injections: Annotated[int, Strict()] = Field(1, ge=1, le=1000)  # sites the dose is split over (organ injections)

    @field_validator("route")
    @classmethod
    def _route(cls, v: str) -> str:
        names = route_names()
        if v not in names:
            meant = route_aliases().get(str(v).strip().lower())
            hint = f"did you mean {meant!r}? " if meant else did_you_mean(v, names)
            raise ValueError(f"unknown route; {hint}allowed: {', '.join(names)}")
        return v

    @model_validator(mode="after")
    def _amount(self) -> "Dose":
        if (self.cells is None) == (self.cells_per_kg is None):
            raise ValueError("give exactly one of 'cells' or 'cells_per_kg'")
        if route_info(self.route).needs_site and not self.site:
            raise ValueError(f"route {self.route!r} needs 'site' (the organ reached)")
        if self.injections > 1 and not route_info(self.route).in_organ:
            raise ValueError(f"injections = {self.injections} splits a dose over injection sites in an organ; "
                             f"route {self.route!r} is not an injection into an organ (allowed: "
                             f"{', '.join(n for n in route_names() if route_info(n).in_organ)})")
        if self.count > 1 and self.every_h is None:
            raise ValueError(f"count = {self.count} needs 'every_h' (the interval between administrations [h])")
        if self.count > 1 and self.every_h < self.infusion_min / 60.0:
            raise ValueError(f"every_h = {self.every_h:g} h is shorter than the infusion "
                             f"({self.infusion_min:g} min): administrations would overlap")
        return self

    def repeats(self) -> "tuple[Dose, ...]":
        """The administrations this entry stands for: ``count`` copies, ``every_h`` apart."""
        if self.count == 1:
            return (self,)
        return tuple(self.model_copy(update={"time_h": self.time_h + k * self.every_h, "count": 1, "every_h": None})
                     for k in range(self.count))

    def target_site(self) -> str | None:
        """The organ the artery or needle reaches (``site`` or the route's default)."""
        return route_info(self.route).target_site(self.site)


class Run(BaseModel):
    model_config = _CFG
    end_h: Number = Field(672.0, gt=0.0, le=MAX_TIME_H)
    times_h: tuple[object, ...] | None = None
    saturation: Literal["auto", "on", "off"] = "auto"

    @field_validator("times_h")
    @classmethod
    def _times(cls, v: tuple[object, ...] | None) -> tuple[float, ...] | None:
        return None if v is None else tuple(_times(v).tolist())


class Scenario(BaseModel):
    """One experiment: subject, product, administrations, parameter overrides, run settings."""

    model_config = _CFG
    name: str = "scenario"
    subject: Subject
    product: Product = Product()
    dose: tuple[Dose, ...] = Field(min_length=1)
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    run: Run = Run()
    population: Population | None = None
    effect: Effect | None = None

    @model_validator(mode="after")
    def _administrations(self) -> "Scenario":
        """Repeated entries (``every_h``, ``count``) become one dose per administration."""
        if all(d.count == 1 for d in self.dose):
            return self
        for i, d in enumerate(self.dose, 1):
            last = d.time_h + (d.count - 1) * (d.every_h or 0.0)
            if last > self.run.end_h:
                raise ValueError(f"dose[{i}].count: administration {d.count} of {d.count} at {last:g} h is after "
                                 f"run.end_h = {self.run.end_h:g}; raise end_h or lower count")
        return self.model_copy(update={"dose": tuple(a for d in self.dose for a in d.repeats())})

    def output_times(self) -> "list[float]":
        """Output grid [h]: ``run.times_h`` if given, else a grid dense early, then every 6 h."""
        if self.run.times_h is not None:
            return list(self.run.times_h)
        return self.dense_times()

    def dense_times(self) -> "list[float]":
        """The default output grid [h]: dense in the first day and after each dose, then 6-hourly."""
        import numpy as np

        end = self.run.end_h
        early = np.array([0, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 18, 24])
        late = np.arange(30.0, end + 1e-9, 6.0)
        grid = np.unique(np.concatenate([early[early <= end], late[late <= end], [end]]))
        # add the first times after each dose so the first pass is visible
        for d in self.dose:
            for dt in (0.05, 0.25, 1.0):
                if d.time_h + dt <= end:
                    grid = np.append(grid, d.time_h + dt)
        return sorted(set(float(t) for t in np.round(grid, 9)))
