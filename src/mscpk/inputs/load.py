"""Loading scenarios: TOML or a plain dict -> a validated, cross-checked :class:`Scenario`.

Every error is a :class:`~mscpk.errors.ScenarioError` naming the key (``dose[1].route``), the
value given and what is allowed.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from mscpk.errors import ScenarioError, did_you_mean
from mscpk.inputs.checks import check_scenario
from mscpk.inputs.condition import Condition
from mscpk.inputs.keys import set_path
from mscpk.inputs.parameters import load_parameter_set
from mscpk.inputs.physiology import load_species, physiology_names
from mscpk.inputs.physiology.age import sexes
from mscpk.inputs.effect import Effect
from mscpk.inputs.population import Correlation, Population, Responder
from mscpk.inputs.scenario import Diameter, Dose, Injury, Product, Run, Scenario, Subject


#: Tables of the scenario whose keys are checked, by the key that holds them.
_TABLES: dict[str, type[BaseModel]] = {"subject": Subject, "product": Product, "run": Run, "injury": Injury,
                                       "condition": Condition,
                                       "dose": Dose, "diameter_um": Diameter, "population": Population,
                                       "correlation": Correlation, "responder": Responder, "effect": Effect}


def _check_unknown(raw: Mapping[str, Any], model: type[BaseModel], prefix: str) -> None:
    """Raise on unknown keys with a did-you-mean (before pydantic, for a nicer message)."""
    known = list(model.model_fields)
    for key in raw:
        if key not in known:
            hint = did_you_mean(key, known).removesuffix(" ") or f"allowed: {', '.join(known)}"
            raise ScenarioError(f"{prefix}{key}: unknown key; {hint}")
    sub = _TABLES
    for key, value in raw.items():
        if key in sub:
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
        # a table is named, not printed (a model-level message is about the table itself)
        given_txt = ((" (got a table)" if msg.startswith("Input should be") else "") if isinstance(given, Mapping)
                     else f" (got {given!r})")
        if err["type"] == "missing":
            raise ScenarioError(f"{loc}: required key is missing") from None
        raise ScenarioError(f"{loc}: {msg}{given_txt}" if loc else f"{msg}{given_txt}") from None
    check_scenario(scenario)  # cross-checks against species, homing and parameter data
    if scenario.population is not None:
        _check_population(scenario)
    if scenario.effect is not None:
        organs = load_species(scenario.subject.species).organ_names()
        if scenario.effect.site not in organs + ("blood",):
            raise ScenarioError(f"effect.site: {scenario.effect.site!r} is not a site; allowed: {', '.join(organs)}, blood")
    return scenario


#: Covariates a population may vary (each sets the physiology it determines; docs/populations.md).
COVARIATES = ("covariate.age_y", "covariate.sex")
#: The scenario tables whose keys a population may vary (``subject.body_weight_kg``, ...).
SCENARIO_KEY_TABLES = ("subject", "product", "dose")


def vary_kind(key: str, scenario: Scenario) -> str:
    """What a ``[population.vary]`` key names: ``"parameter"`` (a model parameter),
    ``"physiology"`` (a physiology name of the scenario's species), ``"covariate"``
    (:data:`COVARIATES`) or ``"scenario"`` (a scenario key such as ``"dose[1].cells"``)."""
    params = load_parameter_set("default")
    if key in params:
        return "parameter"
    phys = physiology_names(load_species(scenario.subject.species, scenario.subject.body_weight_kg))
    if key in phys:
        return "physiology"
    if key in COVARIATES:
        return "covariate"
    if key.split(".")[0].split("[")[0] in SCENARIO_KEY_TABLES:
        return "scenario"
    names = list(params) + list(phys)
    raise ScenarioError(f"population.vary: {key!r} is neither a parameter (`mscpk params` lists them) nor a "
                        f"scenario key ({', '.join(SCENARIO_KEY_TABLES)}...); {did_you_mean(key, names)}".rstrip("; "))


def _check_population(scenario: Scenario) -> None:
    """Every varied scenario key must give a valid scenario at its distribution's extremes
    (quantiles 0.001 and 0.999, every value of a categorical one); parameter values are
    range-checked per subject by the batch engine, physiology by the species validation."""
    pop = scenario.population
    base = scenario.model_dump(mode="json", exclude_none=True, exclude={"population"})
    kinds = {key: vary_kind(key, scenario) for key in pop.vary}
    resample = [k for k in kinds if k in COVARIATES or k == "subject.body_weight_kg"]
    if scenario.subject.condition is not None and resample:
        raise ScenarioError(f"population.vary[{resample[0]!r}] sets every physiology value per subject, which "
                            f"would drop subject.condition {scenario.subject.condition.name!r}; vary physiology "
                            "names or other keys with a condition")
    for cov in (k for k in COVARIATES if k in kinds):
        clash = "physiology" in kinds.values() or "subject.body_weight_kg" in kinds
        if scenario.subject.species != "human":
            raise ScenarioError(f"population.vary[{cov!r}]: an age and sex model exists for humans only, "
                                f"not {scenario.subject.species!r}")
        if clash:
            raise ScenarioError(f"population.vary[{cov!r}] sets the body weight and every organ volume: "
                                "do not vary physiology names or subject.body_weight_kg with it")
    if "covariate.age_y" in kinds:
        dist = pop.vary["covariate.age_y"]
        ages = list(dist["values"]) if dist.categorical else dist.ppf([1e-3, 1 - 1e-3]).tolist()
        if not all(isinstance(a, (int, float)) and not isinstance(a, bool) and 0 <= a <= 120 for a in ages):
            raise ScenarioError("population.vary['covariate.age_y']: give a numeric distribution of ages in "
                                "[0, 120] years (e.g. uniform from 2 to 17, or categorical values = [8, 40])")
    if "covariate.sex" in kinds:
        dist = pop.vary["covariate.sex"]
        if not dist.categorical or any(v not in sexes() for v in dist["values"]):
            raise ScenarioError("population.vary['covariate.sex']: give a categorical distribution of "
                                f"{' and '.join(map(repr, sexes()))}, e.g. values = ['male', 'female'], "
                                f"weights = [0.5, 0.5]; got {dict(dist.args)!r}")
    for key, dist in pop.vary.items():
        if kinds[key] != "scenario":
            continue
        values = dist["values"] if dist.categorical else dist.ppf([1e-3, 0.5, 1 - 1e-3]).tolist()
        for v in values:
            raw = copy.deepcopy(base)
            try:
                set_path(raw, key, v, what="population.vary key")
                scenario_from_dict(raw)
            except ScenarioError as exc:
                raise ScenarioError(f"population.vary[{key!r}] = {v!r}: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Example
    -------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
    >>> sc.subject.species
    'mouse'
    """
    if not isinstance(path, (str, Path)):
        raise ScenarioError(f"load_scenario: give the path of a scenario TOML file, not {type(path).__name__} "
                            f"({path!r}); a dict goes to scenario_from_dict")
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file {str(p)!r} does not exist")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # a BOM is not TOML
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{p.name}: not a UTF-8 text file") from None
    return scenario_from_dict(raw)
