"""Age and sex as covariates (humans): the species at a given age and sex from the ICRP 89
reference masses (data/covariates/human_age.toml explains the rule and the source).

>>> from mscpk.inputs.physiology import load_species
>>> child = at_age(load_species("human"), 5.0)
>>> round(child.body_weight_kg, 1), round(child.organs["liver"].volume_L / child.body_weight_kg, 4)
(18.2, 0.0313)
>>> woman = at_age(load_species("human"), 40.0, "female")
>>> round(woman.body_weight_kg, 1), round(woman.organs["adipose"].volume_L / woman.body_weight_kg, 3)
(57.5, 0.322)
"""

from __future__ import annotations

import functools
import tomllib
import types
from dataclasses import replace
from importlib import resources

import numpy as np

from mscpk.errors import ParameterError
from mscpk.inputs.physiology.species import Species, check_species

#: The organ that absorbs the volume differences (keeps the body's volume).
BALANCE_ORGAN = "rest"
#: Oldest age accepted [y].
MAX_AGE_Y = 120.0


@functools.lru_cache(maxsize=None)
def _table() -> dict:
    return tomllib.loads(resources.files("mscpk.data").joinpath("covariates", "human_age.toml").read_text("utf-8"))


def age_range() -> tuple[float, float]:
    """Youngest and oldest tabulated age [y] (older subjects are adults)."""
    ages = _table()["age_y"]["value"]
    return float(ages[0]), float(ages[-1])


def sexes() -> tuple[str, ...]:
    """The values ``covariate.sex`` takes (``male``: the packaged adult human)."""
    return tuple(_table()["sexes"])


def physiology_at_age(species: Species, ages_y, sex=None) -> dict[str, np.ndarray]:
    """Every physiology parameter (names as ``mscpk params`` lists them) of ``species`` at each
    of ``ages_y`` (and ``sex``: one per subject, or None for the reference sex): arrays (N,),
    for a population's per-subject physiology."""
    ages = np.asarray(ages_y, dtype=float)
    if ages.size == 0:
        return {}
    sp = at_age(species, ages, sex)
    return {k: np.broadcast_to(np.asarray(v, dtype=float), ages.shape).copy() for k, v in sp.parameter_values().items()}


def _by_sex(entry: dict, ages: np.ndarray, sex: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``entry[sex]`` interpolated at each subject's age (``x``: the tabulated ages)."""
    out = np.empty(ages.shape)
    for s in sexes():
        mask = sex == s
        if mask.any():
            out[mask] = np.interp(ages[mask], x, np.asarray(entry[s]["value"], dtype=float))
    return out


def at_age(species: Species, age_y, sex=None) -> Species:
    """``species`` (the adult reference male) at ``age_y`` years and ``sex`` (``"male"`` or
    ``"female"``; default the reference): body weight and organ volumes from the ICRP 89 masses
    by age and sex, the rest allometric (:meth:`Species.scaled`). ``age_y`` (and ``sex``) may be
    arrays (N,): the species then holds per-subject arrays, checked per subject."""
    t = _table()
    if species.name != t["species"]:
        raise ParameterError(f"covariate.age_y: an age model exists for {t['species']!r} only, not {species.name!r}")
    many = np.ndim(age_y) > 0
    ages = np.atleast_1d(np.asarray(age_y, dtype=float))
    bad = ~(np.isfinite(ages) & (ages >= 0) & (ages <= MAX_AGE_Y))
    if bad.any():
        raise ParameterError(f"covariate.age_y: {ages[bad][0]!r} is not allowed; give an age in [0, {MAX_AGE_Y:g}] years")
    sex_of = np.broadcast_to(np.asarray(t["reference_sex"] if sex is None else sex, dtype=object), ages.shape)
    unknown = [s for s in sex_of if s not in sexes()]
    if unknown:
        raise ParameterError(f"covariate.sex: {unknown[0]!r} is not allowed; allowed: {', '.join(sexes())}")
    x = np.asarray(t["age_y"]["value"], dtype=float)
    ref = float(t["body_mass"][t["reference_sex"]]["value"][-1])
    body = _by_sex(t["body_mass"], ages, sex_of, x)
    one = (lambda a: a) if many else (lambda a: float(a[0]))  # noqa: E731
    sp = species.scaled(one(species.body_weight_kg * body / ref))
    organs = dict(sp.organs)
    note = (f"; age {'per subject' if many else f'{ages[0]:g} y'}: organ mass fraction by age and sex from "
            "ICRP Publication 89 (data/covariates/human_age.toml)")
    delta = 0.0
    for name, entry in t["organ_mass"].items():
        adult = float(entry[t["reference_sex"]]["value"][-1]) / ref
        ratio = one(_by_sex(entry, ages, sex_of, x) / body / adult)
        o = organs[name]
        delta = delta + o.volume_L * (ratio - 1.0)
        organs[name] = replace(o, volume_L=o.volume_L * ratio,
                               sources=types.MappingProxyType({**o.sources, "volume": o.sources.get("volume", "") + note}))
    rest = organs[BALANCE_ORGAN]
    short = np.atleast_1d(np.asarray(rest.volume_L - delta) <= 0.1 * np.asarray(rest.volume_L))
    if short.any():
        i = int(np.argmax(short))
        raise ParameterError(f"covariate.age_y: at {ages[i]:g} y ({sex_of[i]}) the tabulated organs leave too little "
                             f"for organ {BALANCE_ORGAN!r}")
    organs[BALANCE_ORGAN] = replace(rest, volume_L=rest.volume_L - delta)
    return check_species(replace(sp, organs=types.MappingProxyType(organs)), ParameterError)


__all__ = ["at_age", "physiology_at_age", "age_range", "sexes", "BALANCE_ORGAN", "MAX_AGE_Y"]
