"""The qualification library: published studies as data (``data/studies/<id>.toml``), each
read into an immutable, checked :class:`Study` (format: docs/qualification.md).

>>> study = load_study("lee2009")
>>> study.used_for, study.scenario.subject.species
('calibration', 'mouse')
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from mscpk.errors import ScenarioError, did_you_mean
from mscpk.inputs.catalogue import ASSAYS
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.scenario import Scenario

#: Assays a study may use: mscpk's observation models, and two that see live cells only.
METHODS = (*ASSAYS, "culture", "histology")
UNITS = ("percent_dose", "cells", "cells_per_g", "percent_injected_activity", "percent_id_per_g",
         "fraction_positive", "detected", "percent_of_initial")
PROVENANCE = ("text", "table", "figure", "derived")
#: Units an observation may give as a share of another site's readout (``relative_to``).
RELATIVE_UNITS = ("percent_dose", "percent_injected_activity")
USES = ("calibration", "validation")
OPS = (">", "<", ">=", "<=")
_TOP = ("id", "citation", "doi", "cell_type", "used_for", "source_checked", "note", "assumed", "scenario",
        "assay", "observation", "finding")
#: The cells the library is about; studies of other cell types are reported apart.
MSC = "MSC"
#: What an observation's value is; a bound is compared as held / not held, not by fold error.
STATS = ("mean", "median", "single", "pooled", "upper_bound", "lower_bound")
BOUNDS = {"upper_bound": "upper", "lower_bound": "lower"}
_OBS = ("site", "time_h", "value", "stat", "spread", "spread_kind", "low", "high", "n", "unit", "provenance",
        "where", "note", "reference_h", "relative_to")
_FINDING = ("statement", "a", "op", "b", "factor", "unit", "provenance", "where", "note")


@dataclass(frozen=True)
class Observation:
    """One reported value: ``value`` [``unit``] at ``site`` and ``time_h`` [h], with ``n``."""

    site: str
    time_h: float
    value: float
    unit: str
    n: int | None
    provenance: str
    where: str
    reference_h: float | None = None  # percent_of_initial: the time of the initial measurement
    bound: str | None = None  # "upper" / "lower": the value is a reported bound ("less than 0.05 %")
    relative_to: str | None = None  # a site: the value is % of that site's readout at the same time
    spread: float | None = None  # the reported between-animal SD (spread_kind = "sd"), in ``unit``


@dataclass(frozen=True)
class Point:
    """A model quantity of a finding: ``site`` at ``time_h`` [h]."""

    site: str
    time_h: float


@dataclass(frozen=True)
class Finding:
    """A qualitative statement checked as ``a op factor * b`` (``b`` a Point or a number)."""

    statement: str
    a: Point
    op: str
    b: Point | float
    factor: float
    unit: str
    where: str


@dataclass(frozen=True)
class Study:
    """One publication: its design (a scenario and an assay) and what it reported."""

    id: str
    citation: str
    used_for: str
    scenario: Scenario
    method: str
    observations: tuple[Observation, ...]
    findings: tuple[Finding, ...]
    source_checked: str = ""
    cell_type: str = MSC
    nucleic_acid: str = "dna"  # qpcr: "dna" (genomic) or "rna" (RT-qPCR of a transcript, live cells only)

    @property
    def times_h(self) -> tuple[float, ...]:
        """Every time [h] an observation or a finding refers to."""
        pts = [o.time_h for o in self.observations] + [o.reference_h for o in self.observations
                                                        if o.reference_h is not None]
        for f in self.findings:
            pts += [f.a.time_h] + ([f.b.time_h] if isinstance(f.b, Point) else [])
        return tuple(sorted(set(pts)))


def _fail(sid: str, where: str, msg: str) -> ScenarioError:
    return ScenarioError(f"study {sid!r}, {where}: {msg}")


def _choose(sid: str, where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(sid, where, f"{value!r} is not allowed; {did_you_mean(value, allowed)}allowed: {', '.join(allowed)}")
    return value


def _number(sid: str, where: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise _fail(sid, where, f"{value!r} must be a finite number >= {minimum:g}")
    return float(value)


def _keys(sid: str, where: str, table: Mapping, allowed: tuple[str, ...]) -> None:
    for k in table:
        _choose(sid, f"{where} key", k, allowed)


def _point(sid: str, where: str, raw: Any) -> Point:
    if not isinstance(raw, Mapping) or set(raw) != {"site", "time_h"}:
        raise _fail(sid, where, f"{raw!r} must be a table {{ site = ..., time_h = ... }}")
    return Point(str(raw["site"]), _number(sid, f"{where}.time_h", raw["time_h"]))


def _relative_to(sid: str, where: str, o: Mapping[str, Any]) -> str | None:
    """The ``relative_to`` site of an observation (a share of another site's readout)."""
    site = o.get("relative_to")
    if site is None:
        return None
    if not isinstance(site, str) or not site:
        raise _fail(sid, f"{where}.relative_to", f"{site!r} must be a site name, e.g. 'whole_body'")
    if o.get("unit") not in RELATIVE_UNITS:
        raise _fail(sid, f"{where}.relative_to", f"applies to units {', '.join(RELATIVE_UNITS)} only, "
                                                 f"not {o.get('unit')!r}")
    return site


def _spread(sid: str, where: str, o: Mapping[str, Any]) -> float | None:
    """The reported SD of an observation (``spread`` with ``spread_kind = "sd"``), else None."""
    if o.get("spread") is None:
        return None
    _choose(sid, f"{where}.spread_kind", o.get("spread_kind"), ("sd",))
    return _number(sid, f"{where}.spread", o["spread"])


def study_from_dict(raw: Mapping[str, Any]) -> Study:
    """A checked :class:`Study` from a parsed study file (ScenarioError naming the key)."""
    sid = str(raw.get("id", "?"))
    _keys(sid, "top level", raw, _TOP)
    for key in ("id", "citation", "used_for", "scenario", "assay"):
        if key not in raw:
            raise _fail(sid, key, "required key is missing")
    used_for = _choose(sid, "used_for", raw["used_for"], USES)
    scen = dict(raw["scenario"])
    try:
        scenario = scenario_from_dict(scen)
    except ScenarioError as exc:
        raise _fail(sid, "scenario", str(exc)) from None
    method = _choose(sid, "assay.method", raw["assay"].get("method"), METHODS)
    nucleic = _choose(sid, "assay.nucleic_acid", raw["assay"].get("nucleic_acid", "dna"), ("dna", "rna"))
    if nucleic != "dna" and method != "qpcr":
        raise _fail(sid, "assay.nucleic_acid", f"applies to method 'qpcr' only, not {method!r}")
    obs = []
    for i, o in enumerate(raw.get("observation", ()), 1):
        where = f"observation[{i}]"
        _keys(sid, where, o, _OBS)
        n = o.get("n")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise _fail(sid, f"{where}.n", f"{n!r} must be a whole number >= 1")
        obs.append(Observation(str(o["site"]), _number(sid, f"{where}.time_h", o["time_h"]),
                               _number(sid, f"{where}.value", o["value"]), _choose(sid, f"{where}.unit", o["unit"], UNITS),
                               n, _choose(sid, f"{where}.provenance", o.get("provenance"), PROVENANCE),
                               str(o.get("where", "")),
                               None if o.get("reference_h") is None else _number(sid, f"{where}.reference_h",
                                                                                 o["reference_h"]),
                               BOUNDS.get(_choose(sid, f"{where}.stat", o.get("stat", "single"), STATS)),
                               _relative_to(sid, where, o), _spread(sid, where, o)))
    findings = []
    for i, f in enumerate(raw.get("finding", ()), 1):
        where = f"finding[{i}]"
        _keys(sid, where, f, _FINDING)
        b = f.get("b")
        b = _number(sid, f"{where}.b", b) if isinstance(b, (int, float)) else _point(sid, f"{where}.b", b)
        findings.append(Finding(str(f.get("statement", "")), _point(sid, f"{where}.a", f.get("a")),
                                _choose(sid, f"{where}.op", f.get("op"), OPS), b,
                                _number(sid, f"{where}.factor", f.get("factor", 1.0)),
                                _choose(sid, f"{where}.unit", f.get("unit"), UNITS), str(f.get("where", ""))))
    if not obs and not findings:
        raise _fail(sid, "observation", "a study needs at least one observation or finding")
    return Study(sid, str(raw["citation"]), used_for, scenario, method, tuple(obs), tuple(findings),
                 str(raw.get("source_checked", "")), str(raw.get("cell_type", MSC)), nucleic)


def study_ids() -> tuple[str, ...]:
    """Ids of the packaged studies, sorted."""
    folder = resources.files("mscpk.data").joinpath("studies")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


@lru_cache(maxsize=None)
def load_study(sid: str) -> Study:
    """The packaged study ``sid`` (ScenarioError with a did-you-mean if unknown)."""
    ids = study_ids()
    if sid not in ids:
        raise ScenarioError(f"unknown study {sid!r}; {did_you_mean(sid, ids)}`mscpk qualify --list` shows them")
    text = resources.files("mscpk.data").joinpath("studies", f"{sid}.toml").read_text("utf-8-sig")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"study {sid!r}: not valid TOML: {exc}") from None
    if raw.get("id") != sid:
        raise _fail(sid, "id", f"{raw.get('id')!r} must equal the file name {sid!r}")
    return study_from_dict(raw)


__all__ = ["Study", "Observation", "Finding", "Point", "METHODS", "UNITS", "MSC", "load_study", "study_ids",
           "study_from_dict"]
