"""Scenario files (TOML): one simulated experiment, validated when loaded.

The format is fixed by ``shared/INTERFACE.md``. Every error is a :class:`ScenarioError`
naming the key (``dose[1].route``), the value given and what is allowed.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ScenarioError

ROUTES = ("iv", "ia", "ip", "intra_articular", "intramyocardial", "intracoronary",
          "intrathecal", "intratracheal", "local", "scaffold")
ORIGINS = ("autologous", "syngeneic", "allogeneic", "xenogeneic")
SOURCES = ("bone_marrow", "adipose", "umbilical_cord", "cord_blood", "placenta")
IMMUNE = ("immunocompetent", "immunodeficient")
#: Routes whose ``site`` key is required (the organ reached by the artery or the needle).
ROUTES_NEEDING_SITE = ("ia", "local", "scaffold")
#: Default target organ of routes whose site is optional.
DEFAULT_ROUTE_SITE = {"intracoronary": "heart", "intramyocardial": "heart"}

_CFG = ConfigDict(extra="forbid", frozen=True)


class Injury(BaseModel):
    """An injured / inflamed site. ``severity``: 0 none, 1 typical acute injury."""

    model_config = _CFG
    site: str
    severity: float = Field(1.0, ge=0.0, le=10.0)
    chemokines: dict[str, float] = Field(default_factory=dict)

    @field_validator("chemokines")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not (x > 0):
                raise ValueError(f"chemokine {k!r} fold change must be > 0, got {x!r}")
        return v


class Subject(BaseModel):
    model_config = _CFG
    species: str
    body_weight_kg: float | None = Field(None, gt=0.0, le=500.0)
    immune: Literal["immunocompetent", "immunodeficient"] = "immunocompetent"
    injury: tuple[Injury, ...] = ()


class Diameter(BaseModel):
    """Cell diameter in suspension [um]: normal distribution, mean and SD."""

    model_config = _CFG
    mean: float = Field(18.0, gt=1.0, le=100.0)
    sd: float = Field(3.0, ge=0.0, le=30.0)


class Product(BaseModel):
    model_config = _CFG
    name: str = "MSC"
    origin: Literal["autologous", "syngeneic", "allogeneic", "xenogeneic"] = "allogeneic"
    source: Literal["bone_marrow", "adipose", "umbilical_cord", "cord_blood", "placenta"] = "bone_marrow"
    diameter_um: Diameter = Diameter()
    viability: float = Field(0.95, gt=0.0, le=1.0)
    passage: int = Field(4, ge=0, le=50)
    receptors: dict[str, float] = Field(default_factory=dict)
    preconditioning: tuple[str, ...] = ()
    label: str = "none"

    @field_validator("receptors")
    @classmethod
    def _nonneg(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not (x >= 0):
                raise ValueError(f"receptor {k!r} level must be >= 0, got {x!r}")
        return v


class Dose(BaseModel):
    model_config = _CFG
    route: Literal["iv", "ia", "ip", "intra_articular", "intramyocardial", "intracoronary",
                   "intrathecal", "intratracheal", "local", "scaffold"]
    cells: float | None = Field(None, gt=0.0, le=1e12)
    cells_per_kg: float | None = Field(None, gt=0.0, le=1e11)
    time_h: float = Field(0.0, ge=0.0)
    infusion_min: float = Field(0.0, ge=0.0, le=7 * 24 * 60)
    site: str | None = None
    vasodilator: bool = False

    @model_validator(mode="after")
    def _amount(self) -> "Dose":
        if (self.cells is None) == (self.cells_per_kg is None):
            raise ValueError("give exactly one of 'cells' or 'cells_per_kg'")
        if self.route in ROUTES_NEEDING_SITE and not self.site:
            raise ValueError(f"route {self.route!r} needs 'site' (the organ reached)")
        return self

    def target_site(self) -> str | None:
        return self.site or DEFAULT_ROUTE_SITE.get(self.route)


class Run(BaseModel):
    model_config = _CFG
    end_h: float = Field(672.0, gt=0.0, le=24 * 365 * 5)
    times_h: tuple[float, ...] | None = None
    saturation: Literal["auto", "on", "off"] = "auto"

    @field_validator("times_h")
    @classmethod
    def _times(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is None:
            return v
        if len(v) == 0:
            raise ValueError("must list at least one time")
        for t in v:
            if not (t >= 0):
                raise ValueError(f"times must be >= 0, got {t!r}")
        return tuple(sorted(set(float(t) for t in v)))


class Scenario(BaseModel):
    """One experiment: subject, product, administrations, parameter overrides, run settings."""

    model_config = _CFG
    name: str = "scenario"
    subject: Subject
    product: Product = Product()
    dose: tuple[Dose, ...] = Field(min_length=1)
    parameters: dict[str, float] = Field(default_factory=dict)
    run: Run = Run()

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


# --------------------------------------------------------------------------------------
# Loading with clear messages

def _known_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


_NESTED: dict[str, type[BaseModel]] = {
    "subject": Subject, "product": Product, "run": Run,
}


def _check_unknown(raw: Mapping[str, Any], model: type[BaseModel], prefix: str) -> None:
    """Raise on unknown keys with a did-you-mean (before pydantic, for a nicer message)."""
    known = _known_keys(model)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(known)}"
            raise ScenarioError(f"{prefix}{key}: unknown key; {hint}")
    sub = {"subject": Subject, "product": Product, "run": Run, "injury": Injury,
           "dose": Dose, "diameter_um": Diameter}
    for key, value in raw.items():
        if key in sub and key != "parameters":
            if isinstance(value, Mapping):
                _check_unknown(value, sub[key], f"{prefix}{key}.")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, Mapping):
                        _check_unknown(item, sub[key], f"{prefix}{key}[{i + 1}].")


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def scenario_from_dict(raw: Mapping[str, Any]) -> Scenario:
    """Validate a plain dict (as parsed from TOML) into a :class:`Scenario`."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"scenario must be a table, got {type(raw).__name__}")
    _check_unknown(raw, Scenario, "")
    try:
        scenario = Scenario.model_validate(dict(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _format_loc(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        given_txt = "" if isinstance(given, Mapping) else f" (got {given!r})"
        if err["type"] == "missing":
            raise ScenarioError(f"{loc}: required key is missing") from None
        raise ScenarioError(f"{loc}: {msg}{given_txt}") from None
    from .validation import check_scenario  # cross-checks needing species / parameter data

    check_scenario(scenario)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Example
    -------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/iv_mouse.toml")  # doctest: +SKIP
    >>> sc.subject.species
    'mouse'
    """
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{p.name}: not a UTF-8 text file") from None
    return scenario_from_dict(raw)
