"""Age as a covariate (humans): the species at a given age from the ICRP 89 reference masses
(data/covariates/human_age.toml explains the rule and the source).

>>> from mscpk.inputs.physiology import load_species
>>> child = at_age(load_species("human"), 5.0)
>>> round(child.body_weight_kg, 1), round(child.organs["liver"].volume_L / child.body_weight_kg, 4)
(18.2, 0.0313)
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


@functools.lru_cache(maxsize=None)
def _table() -> dict:
    return tomllib.loads(resources.files("mscpk.data").joinpath("covariates", "human_age.toml").read_text("utf-8"))


def age_range() -> tuple[float, float]:
    """Youngest and oldest tabulated age [y] (older subjects are adults)."""
    ages = _table()["age_y"]["value"]
    return float(ages[0]), float(ages[-1])


def physiology_at_age(species: Species, ages_y) -> dict[str, np.ndarray]:
    """Every physiology parameter (names as ``mscpk params`` lists them) of ``species`` at each
    of ``ages_y``: arrays (N,), for a population's per-subject physiology."""
    rows = [{name: value for name, value, *_ in at_age(species, float(a)).parameter_rows()} for a in ages_y]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]} if rows else {}


def at_age(species: Species, age_y: float) -> Species:
    """``species`` (the adult reference) at ``age_y`` years: body weight and organ volumes from
    the ICRP 89 masses by age, the rest allometric (:meth:`Species.scaled`)."""
    t = _table()
    if species.name != t["species"]:
        raise ParameterError(f"covariate.age_y: an age model exists for {t['species']!r} only, not {species.name!r}")
    if not np.isfinite(age_y) or age_y < 0 or age_y > 120:
        raise ParameterError(f"covariate.age_y: {age_y!r} is not allowed; give an age in [0, 120] years")
    ages = np.asarray(t["age_y"]["value"])
    body = np.asarray(t["body_mass"]["value"])
    bw = species.body_weight_kg * float(np.interp(age_y, ages, body)) / body[-1]
    sp = species.scaled(bw)
    organs = dict(sp.organs)
    note = f"; age {age_y:g} y: organ mass fraction by age from ICRP Publication 89 (data/covariates/human_age.toml)"
    delta = 0.0
    for name, entry in t["organ_mass"].items():
        frac = np.asarray(entry["value"]) / body
        ratio = float(np.interp(age_y, ages, frac)) / frac[-1]
        o = organs[name]
        delta += float(o.volume_L * (ratio - 1.0))
        organs[name] = replace(o, volume_L=float(o.volume_L * ratio),
                               sources=types.MappingProxyType({**o.sources, "volume": o.sources.get("volume", "") + note}))
    rest = organs[BALANCE_ORGAN]
    if rest.volume_L - delta <= 0.1 * rest.volume_L:
        raise ParameterError(f"covariate.age_y: at {age_y:g} y the tabulated organs leave too little for organ "
                             f"{BALANCE_ORGAN!r}")
    organs[BALANCE_ORGAN] = replace(rest, volume_L=rest.volume_L - delta)
    return check_species(replace(sp, organs=types.MappingProxyType(organs)), ParameterError)


__all__ = ["at_age", "physiology_at_age", "age_range", "BALANCE_ORGAN"]
