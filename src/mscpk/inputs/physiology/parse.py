"""Reading species TOML files (packaged or user-supplied) into checked :class:`Species`, and
physiology overrides by parameter name (as ``mscpk params`` lists them).

Every numeric entry is ``{ value = ..., unit = "...", source = "..." }``, converted with
:mod:`pint` to the canonical unit of its field; the format is described in docs/physiology.md.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
import types
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mscpk.errors import ParameterError, PhysiologyError, did_you_mean
from mscpk.inputs.physiology.species import (BODY_FIELDS, ORGAN_FIELDS, REQUIRED_ORGANS, Capillary,
                                             Field, Organ, Species, check_species)

_TOP_FIELDS = ("name", "description", "body", "organs", "plausible")
_VALUE_KEYS = ("value", "unit", "source")
_RANGE_KEYS = ("min", "max", "unit", "source")
_ORGAN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _species_dir() -> Any:
    """Traversable of the packaged species directory."""
    return resources.files("mscpk").joinpath("data", "species")


@functools.lru_cache(maxsize=1)
def available_species() -> tuple[str, ...]:
    """Names of the packaged species, sorted alphabetically.

    >>> available_species()
    ('dog', 'human', 'mouse', 'pig', 'rat')
    """
    return tuple(sorted(p.name[: -len(".toml")] for p in _species_dir().iterdir() if p.name.endswith(".toml")))


@functools.lru_cache(maxsize=None)
def _load_packaged(name: str) -> Species:
    text = _species_dir().joinpath(f"{name}.toml").read_text(encoding="utf-8")
    sp = _parse(text, f"packaged species '{name}'")
    if sp.name != name:
        raise PhysiologyError(f"packaged species file '{name}.toml' declares name '{sp.name}'; it must be '{name}'")
    return sp


def load_species(name: str, body_weight_kg: float | None = None) -> Species:
    """Load a packaged species (cached), optionally scaled to ``body_weight_kg`` [kg].

    >>> load_species("mouse", body_weight_kg=0.03).body_weight_kg
    0.03

    Raises:
        PhysiologyError: unknown species (the message lists the available ones), invalid
            data, or a body weight outside the species' plausible range.
    """
    if not isinstance(name, str):
        raise PhysiologyError(f"species name must be a string, got {name!r}")
    key = name.strip().lower()
    avail = available_species()
    if key not in avail:
        raise PhysiologyError(f"unknown species '{name}'; {did_you_mean(key, avail)}"
                              f"available species: {', '.join(avail)}")
    sp = _load_packaged(key)
    return sp if body_weight_kg is None else sp.scaled(body_weight_kg)


def species_from_file(path: str | os.PathLike[str]) -> Species:
    """Read and validate a user species TOML file (same format as the packaged ones)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark is read as such
    except OSError as exc:
        raise PhysiologyError(f"cannot read species file '{p}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PhysiologyError(f"species file '{p}': not a UTF-8 text file") from None
    return _parse(text, f"species file '{p}'")


@functools.lru_cache(maxsize=1)
def _ureg() -> Any:
    import pint  # heavy; only needed when a species file is read

    return pint.UnitRegistry()


def _table(entry: Any, keys: tuple[str, ...], where: str, fld: str) -> Mapping[str, Any]:
    """``entry`` checked to be a table with exactly ``keys`` and a non-empty source."""
    form = "{ " + ", ".join(f'{k} = ...' for k in keys) + " }"
    if not isinstance(entry, dict):
        raise PhysiologyError(f"{where}, field '{fld}': value {entry!r} must be a table {form}")
    missing = [k for k in keys if k not in entry]
    if missing:
        raise PhysiologyError(f"{where}, field '{fld}': missing key(s) {', '.join(missing)}; "
                              f"each value needs {', '.join(keys)}")
    extra = [k for k in entry if k not in keys]
    if extra:
        raise PhysiologyError(f"{where}, field '{fld}': unknown key(s) {', '.join(extra)}; "
                              f"allowed: {', '.join(keys)}")
    source = entry["source"]
    if not isinstance(source, str) or not source.strip():
        raise PhysiologyError(f"{where}, field '{fld}': source {source!r} must be a non-empty text naming "
                              "the reference or 'assumption: <why>'")
    return entry


def _convert(value: Any, unit: Any, canonical: str, where: str, fld: str) -> float:
    """``value`` in ``unit`` converted to ``canonical`` (range checks come later)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PhysiologyError(f"{where}, field '{fld}': value {value!r} is not a number")
    if not isinstance(unit, str) or not unit.strip():
        raise PhysiologyError(f"{where}, field '{fld}': unit {unit!r} must be a non-empty unit string "
                              f"convertible to {canonical}")
    try:
        return float(_ureg().Quantity(float(value), unit.strip()).to(canonical).magnitude)
    except Exception as exc:  # pint raises several error types (undefined, dimensionality, syntax)
        raise PhysiologyError(f"{where}, field '{fld}': value {value!r} with unit '{unit}' cannot be "
                              f"converted to {canonical} ({type(exc).__name__})") from None


def _values(table: Any, fields: tuple[Field, ...], extra: tuple[str, ...], where: str
            ) -> tuple[dict[str, float], dict[str, str]]:
    """Field key -> canonical value and field key -> source of one [body] or [organs.x] table."""
    allowed = tuple(f.key for f in fields) + extra
    for k in table:
        if k not in allowed:
            raise PhysiologyError(f"{where}: unknown field '{k}'; {did_you_mean(k, allowed)}"
                                  f"allowed fields: {', '.join(allowed)}")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for f in fields:
        if f.key not in table:
            raise PhysiologyError(f"{where}: missing required field '{f.key}'")
        entry = _table(table[f.key], _VALUE_KEYS, where, f.key)
        values[f.key] = _convert(entry["value"], entry["unit"], f.unit, where, f.key)
        sources[f.key] = entry["source"].strip()
    return values, sources


def _organ(name: str, table: Any, where: str) -> Organ:
    if not _ORGAN_NAME_RE.match(name):
        raise PhysiologyError(f"{where}: organ names must be snake_case (a-z, 0-9, _)")
    if not isinstance(table, dict):
        raise PhysiologyError(f"{where}: must be a table [organs.{name}]")
    values, sources = _values(table, ORGAN_FIELDS, ("drains_to",), where)
    drains = table.get("drains_to")
    if drains is not None and (not isinstance(drains, str) or not drains.strip()):
        raise PhysiologyError(f"{where}, field 'drains_to': value {drains!r} must be an organ name (string)")
    plain = {f.attr: values[f.key] for f in ORGAN_FIELDS if f.sub is None}
    capillary = Capillary(**{f.sub: values[f.key] for f in ORGAN_FIELDS if f.sub is not None})
    return Organ(name=name, drains_to=drains.strip() if drains else None, capillary=capillary,
                 sources=types.MappingProxyType(sources), **plain)


def _plausible_body_weight(data: Mapping[str, Any], where: str) -> tuple[float, float]:
    table = data.get("plausible")
    if not isinstance(table, dict) or "body_weight" not in table:
        raise PhysiologyError(f"{where}: missing required table [plausible] with field 'body_weight' "
                              '= { min = ..., max = ..., unit = "kg", source = "..." }')
    if set(table) != {"body_weight"}:
        raise PhysiologyError(f"{where}, [plausible]: unknown field(s) "
                              f"{', '.join(k for k in table if k != 'body_weight')}; allowed: body_weight")
    entry = _table(table["body_weight"], _RANGE_KEYS, f"{where}, [plausible]", "body_weight")
    low, high = (_convert(entry[k], entry["unit"], "kg", f"{where}, [plausible]", f"body_weight.{k}")
                 for k in ("min", "max"))
    if not 0.0 < low < high < float("inf"):
        raise PhysiologyError(f"{where}, [plausible], field 'body_weight': min {low:g} kg and max {high:g} kg "
                              "must be finite with 0 < min < max")
    return low, high


def _parse(text: str, origin: str) -> Species:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PhysiologyError(f"{origin}: invalid TOML: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PhysiologyError(f"{origin}: missing required field 'name' (a non-empty string)")
    name = name.strip()
    where = f"species '{name}'"
    for k in data:
        if k not in _TOP_FIELDS:
            raise PhysiologyError(f"{where}: unknown field '{k}'; {did_you_mean(k, _TOP_FIELDS)}"
                                  f"allowed fields: {', '.join(_TOP_FIELDS)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PhysiologyError(f"{where}, field 'description': value {description!r} must be a string")
    body = data.get("body")
    if not isinstance(body, dict):
        raise PhysiologyError(f"{where}: missing required table [body]")
    bvalues, bsources = _values(body, BODY_FIELDS, (), f"{where}, [body]")
    organs_raw = data.get("organs")
    if not isinstance(organs_raw, dict) or not organs_raw:
        raise PhysiologyError(f"{where}: missing required tables [organs.<name>]")
    for req in REQUIRED_ORGANS:
        if req not in organs_raw:
            raise PhysiologyError(f"{where}: missing required organ '{req}'; every species needs: "
                                  f"{', '.join(REQUIRED_ORGANS)}")
    organs = {o: _organ(o, t, f"{where}, organ '{o}'") for o, t in organs_raw.items()}
    return check_species(Species(
        name=name, description=description, organs=types.MappingProxyType(organs),
        sources=types.MappingProxyType(bsources),
        plausible_body_weight_kg=_plausible_body_weight(data, where),
        **{f.attr: bvalues[f.key] for f in BODY_FIELDS},
    ))


def physiology_names(species: Species) -> tuple[str, ...]:
    """Names of the physiology parameters of ``species`` (body first, then organ by organ).

    >>> from mscpk.inputs.physiology import load_species
    >>> physiology_names(load_species("mouse"))[:2]
    ('Body weight [kg]', 'Cardiac output [L/h]')
    """
    return _names(tuple(o.label for o in species.organs.values()))


@functools.lru_cache(maxsize=64)
def _names(labels: tuple[str, ...]) -> tuple[str, ...]:
    """The physiology names for organs labelled ``labels`` (they depend on nothing else)."""
    return (*(f.name() for f in BODY_FIELDS), *(f.name(label) for label in labels for f in ORGAN_FIELDS))


def apply_physiology(species: Species, overrides: Mapping[str, Any]) -> Species:
    """A new species with physiology overrides, checked like a species file.

    A value may be an array (N,) of per-subject values (a population): the species then
    holds arrays (the network build broadcasts over them) and is checked per subject.

    >>> from mscpk.inputs.physiology import load_species
    >>> apply_physiology(load_species("mouse"), {"Venous blood fraction [-]": 0.7}).venous_fraction
    0.7
    >>> many = apply_physiology(load_species("mouse"), {"Cardiac output [L/h]": np.array([0.8, 0.9])})
    >>> many.cardiac_output_L_per_h.tolist()
    [0.8, 0.9]

    Raises:
        ParameterError: unknown name, or a value (or the resulting physiology) out of range;
            the message names the parameter, the value and what is allowed (and, for arrays,
            the first subject, from 0, that breaks a rule).
    """
    if not overrides:
        return species
    targets = {name: (organ, f) for name, organ, f in species.field_items()}
    body: dict[str, Any] = {}
    organs = dict(species.organs)
    for key, value in overrides.items():
        if key not in targets:
            raise ParameterError(f"unknown physiology parameter {key!r}; {did_you_mean(key, targets)}"
                                 "`mscpk params` lists the names")
        organ, f = targets[key]
        value = np.asarray(value, dtype=float) if np.ndim(value) else float(value)
        if organ is None:
            body[f.attr] = value
            continue
        current = organs[organ.name]
        new: Any = value if f.sub is None else replace(current.capillary, **{f.sub: value})
        organs[organ.name] = replace(current, **{f.attr: new})
    return check_species(replace(species, organs=types.MappingProxyType(organs), **body), ParameterError)
