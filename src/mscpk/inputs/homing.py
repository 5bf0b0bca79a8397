"""Homing cascade data (axes, molecules, preconditioning), read from ``data/homing.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Axis:
    chemokine: str
    receptor: str
    weight: float
    source: str


@dataclass(frozen=True)
class HomingData:
    axes: tuple[Axis, ...]
    molecules: Mapping[str, str]  # name -> step
    preconditioning: Mapping[str, Mapping[str, float]]
    sources: Mapping[str, str]

    @property
    def chemokines(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.chemokine for a in self.axes))

    @property
    def receptors(self) -> tuple[str, ...]:
        """All product-side names a scenario may set under ``product.receptors``."""
        return tuple(dict.fromkeys([a.receptor for a in self.axes] + list(self.molecules)))


@lru_cache(maxsize=1)
def homing_data() -> HomingData:
    raw = tomllib.loads(resources.files("mscpk.data").joinpath("homing.toml").read_text("utf-8"))
    axes = tuple(Axis(a["chemokine"], a["receptor"], float(a["weight"]), a["source"]) for a in raw["axis"])
    molecules = {m["name"]: m["step"] for m in raw["molecule"]}
    pre = {k: MappingProxyType({r: float(x) for r, x in v["effects"].items()})
           for k, v in raw["preconditioning"].items()}
    sources = {f"preconditioning {k}": v["source"] for k, v in raw["preconditioning"].items()}
    return HomingData(axes, MappingProxyType(molecules), MappingProxyType(pre), MappingProxyType(sources))
