"""Model parameters: named values with unit and source, kept as data.

A parameter name carries its unit in brackets, as in PyBaMM: ``"Lung arrested cell death
half-life [h]"``. Parameter sets live in ``mscpk/data/parameters/<name>.toml`` (one file per
source) and are registered by name. :class:`ParameterSet` is immutable; ``updated`` returns
a new set.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Iterator, Mapping

from mscpk.errors import ParameterError, did_you_mean

#: name -> packaged TOML file holding that parameter set
REGISTERED_SETS: Mapping[str, str] = MappingProxyType({"default": "default.toml"})


@dataclass(frozen=True)
class Parameter:
    """One parameter: ``name`` (with unit in brackets), ``value``, ``unit``, ``source``."""

    name: str
    value: float
    unit: str
    source: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: float) -> float:
        """Return ``value`` as float if it lies in the allowed range, else raise ParameterError."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"parameter {self.name!r}: value {value!r} is not a number") from None
        if v != v:
            raise ParameterError(f"parameter {self.name!r}: value is NaN")
        if self.minimum is not None and v < self.minimum:
            raise ParameterError(
                f"parameter {self.name!r}: value {v:g} is below the allowed minimum {self.minimum:g}")
        if self.maximum is not None and v > self.maximum:
            raise ParameterError(
                f"parameter {self.name!r}: value {v:g} is above the allowed maximum {self.maximum:g}")
        return v


class ParameterSet(Mapping[str, float]):
    """Immutable mapping ``name -> value`` with the :class:`Parameter` records behind it."""

    def __init__(self, records: Mapping[str, Parameter], set_name: str = "custom") -> None:
        self._records = MappingProxyType(dict(records))
        self.set_name = set_name

    def __getitem__(self, name: str) -> float:
        try:
            return self._records[name].value
        except KeyError:
            raise ParameterError(_unknown_message(name, self._records)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def record(self, name: str) -> Parameter:
        """The full record (value, unit, source) of ``name``."""
        if name not in self._records:
            raise ParameterError(_unknown_message(name, self._records))
        return self._records[name]

    def records(self) -> tuple[Parameter, ...]:
        return tuple(self._records.values())

    def updated(self, overrides: Mapping[str, float], source: str = "user override") -> "ParameterSet":
        """A new set with ``overrides`` applied (names must exist; values range-checked)."""
        new = dict(self._records)
        for name, value in overrides.items():
            rec = self.record(name)
            new[name] = Parameter(name, rec.check(value), rec.unit, source, rec.minimum, rec.maximum)
        return ParameterSet(new, self.set_name)



def _unknown_message(name: str, known: Mapping[str, object]) -> str:
    hint = did_you_mean(name, known, cutoff=0.6).removesuffix(" ") or "`mscpk params` lists the names"
    return f"unknown parameter {name!r}; {hint}"


@lru_cache(maxsize=None)
def load_parameter_set(name: str = "default") -> ParameterSet:
    """Load a registered parameter set by name (cached; the result is immutable)."""
    if name not in REGISTERED_SETS:
        raise ParameterError(_unknown_message(name, REGISTERED_SETS).replace("parameter", "parameter set", 1))
    text = resources.files("mscpk.data.parameters").joinpath(REGISTERED_SETS[name]).read_text("utf-8")
    raw = tomllib.loads(text)
    records: dict[str, Parameter] = {}
    for row in raw["parameter"]:
        p = Parameter(row["name"], float(row["value"]), row["unit"], row["source"],
                      row.get("min"), row.get("max"))
        if p.name in records:
            raise ParameterError(f"parameter set {name!r} defines {p.name!r} twice")
        p.check(p.value)
        records[p.name] = p
    return ParameterSet(records, name)


def split_names(text: str) -> list[str]:
    """Parameter names from a comma-separated list (``--estimate``): every name ends with its
    unit in brackets, and only a comma after a ``]`` separates names, since names may hold
    commas themselves.

    >>> split_names("Immunogenicity, allogeneic [-], Engrafted cell death half-life [h]")
    ['Immunogenicity, allogeneic [-]', 'Engrafted cell death half-life [h]']
    """
    return [n.strip() for n in re.split(r"(?<=\]),", text) if n.strip()]
