"""Species physiology: organ volumes, blood flows and capillary geometry, loaded from TOML.

The packaged species (``mscpk/data/species/*.toml``) and any user file share one format and
one validation. Every numeric entry is a table ``{ value = ..., unit = "...", source = "..." }``;
:mod:`pint` converts it to the canonical unit used throughout mscpk:

- ``body.body_weight`` [kg]: body weight
- ``body.cardiac_output`` [L/h]: cardiac output
- ``body.blood_volume`` [L]: total blood volume
- ``body.venous_fraction`` [-]: fraction of the blood volume in the venous pool
- ``body.cells_per_gram_tissue`` [1/g]: nucleated host cells per g tissue (qPCR ratios)
- ``organs.<name>.volume`` [L]: tissue volume
- ``organs.<name>.blood_flow`` [-]: arterial inflow as a fraction of cardiac output
- ``organs.<name>.residual_blood`` [-]: fraction of the organ volume that is blood
- ``organs.<name>.depth`` [mm]: typical depth below the body surface (optical imaging)
- ``organs.<name>.capillary_median`` [um]: median capillary segment diameter (lognormal)
- ``organs.<name>.capillary_gsd`` [-]: geometric SD of the diameter distribution (> 1)
- ``organs.<name>.capillary_segments`` [-]: capillary segments in series on one path
- ``organs.<name>.drains_to`` (plain string, optional): portal organs only, the organ that
  receives the venous outflow (``"liver"`` for gut and spleen)

The lung receives the whole cardiac output (``blood_flow = 1``). For the liver the flow
fraction is the hepatic *arterial* inflow only; the portal flow arrives from the organs with
``drains_to = "liver"`` (gut, spleen). The non-lung fractions sum to 1 (within 0.01).

Errors are raised as :class:`mscpk.errors.PhysiologyError` naming species, organ, field, value
and what is allowed.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import tomllib
import types
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from mscpk.errors import ParameterError, PhysiologyError

__all__ = [
    "Capillary",
    "Organ",
    "Species",
    "REQUIRED_ORGANS",
    "available_species",
    "load_species",
    "species_from_file",
    "apply_physiology",
    "physiology_names",
]

#: Organs every species file must define (snake_case; more may be added).
REQUIRED_ORGANS: tuple[str, ...] = (
    "lung",
    "heart",
    "brain",
    "liver",
    "spleen",
    "gut",
    "kidney",
    "muscle",
    "skin",
    "adipose",
    "bone_marrow",
    "rest",
)

#: Allometric exponent of cardiac output on body weight (West GB, Brown JH, Enquist BJ 1997
#: Science 276:122; Brown RP et al. 1997 Toxicol Ind Health 13:407 scale flows with BW^0.75).
CARDIAC_OUTPUT_EXPONENT = 0.75

_BODY_FIELDS: dict[str, str] = {
    "body_weight": "kg",
    "cardiac_output": "L/h",
    "blood_volume": "L",
    "venous_fraction": "dimensionless",
    "cells_per_gram_tissue": "1/g",
}
_ORGAN_FIELDS: dict[str, str] = {
    "volume": "L",
    "blood_flow": "dimensionless",
    "residual_blood": "dimensionless",
    "depth": "mm",
    "capillary_median": "um",
    "capillary_gsd": "dimensionless",
    "capillary_segments": "dimensionless",
}
_ORGAN_OPTIONAL = ("drains_to",)
_TOP_FIELDS = ("name", "description", "body", "organs")
_VALUE_KEYS = ("value", "unit", "source")
_FLOW_SUM_TOLERANCE = 0.01
_LUNG_FLOW_TOLERANCE = 1e-6
_ORGAN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_PRETTY_UNIT = {"dimensionless": "-"}


# --------------------------------------------------------------------------------------------
# data classes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Capillary:
    """Lognormal distribution of capillary segment diameters on the path through an organ.

    Attributes:
        median_um: median segment diameter [um].
        gsd: geometric standard deviation [-], > 1.
        segments: number of capillary segments in series on one path [-], >= 1.
    """

    median_um: float
    gsd: float
    segments: float

    def fraction_below(self, diameter_um: float) -> float:
        """Fraction of segments narrower than ``diameter_um`` [um] (lognormal CDF) [-]."""
        if diameter_um <= 0:
            return 0.0
        z = math.log(diameter_um / self.median_um) / math.log(self.gsd)
        return 0.5 * math.erfc(-z / math.sqrt(2.0))


@dataclass(frozen=True)
class Organ:
    """One organ (tissue compartment) of a species.

    Attributes:
        name: snake_case organ name (e.g. ``"bone_marrow"``).
        volume_L: tissue volume [L].
        flow_fraction: arterial inflow as a fraction of cardiac output [-]; 1.0 for the lung;
            for the liver the hepatic-arterial part only.
        residual_blood_fraction: fraction of the organ volume that is blood [-].
        drains_to: organ receiving this organ's venous outflow (``"liver"`` for portal organs),
            or ``None`` when the outflow joins the systemic venous blood.
        depth_mm: typical depth below the body surface [mm] (signal attenuation in imaging).
        capillary: capillary segment diameter distribution.
        sources: TOML field name (``"volume"``, ``"blood_flow"``, ``"residual_blood"``,
            ``"depth"``, ``"capillary_median"``, ``"capillary_gsd"``, ``"capillary_segments"``)
            -> source text.
    """

    name: str
    volume_L: float
    flow_fraction: float
    residual_blood_fraction: float
    drains_to: str | None
    depth_mm: float
    capillary: Capillary
    sources: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))

    @property
    def is_portal(self) -> bool:
        """True when the venous outflow goes to another organ (e.g. gut -> liver)."""
        return self.drains_to is not None

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"Bone marrow"``."""
        return self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Species:
    """Physiology of one species, in canonical units.

    Attributes:
        name: species name (e.g. ``"mouse"``).
        description: free text (strain, sex, weight).
        body_weight_kg: body weight [kg].
        cardiac_output_L_per_h: cardiac output [L/h].
        blood_volume_L: total blood volume [L].
        venous_fraction: fraction of the blood volume in the venous pool [-].
        cells_per_gram_tissue: nucleated host cells per g tissue [1/g].
        organs: organ name -> :class:`Organ`, in file order (read-only mapping).
        sources: body field name (``"body_weight"``, ``"cardiac_output"``, ``"blood_volume"``,
            ``"venous_fraction"``, ``"cells_per_gram_tissue"``) -> source text.
    """

    name: str
    description: str
    body_weight_kg: float
    cardiac_output_L_per_h: float
    blood_volume_L: float
    venous_fraction: float
    cells_per_gram_tissue: float
    organs: Mapping[str, Organ]
    sources: Mapping[str, str]

    def organ_names(self) -> tuple[str, ...]:
        """Organ names in file order."""
        return tuple(self.organs)

    def organ(self, name: str) -> Organ:
        """The organ called ``name``; :class:`PhysiologyError` (with suggestions) if unknown."""
        try:
            return self.organs[name]
        except KeyError:
            raise PhysiologyError(
                f"species '{self.name}': unknown organ '{name}'"
                f"{_did_you_mean(name, self.organs)}; organs are: {', '.join(self.organs)}"
            ) from None

    def flow_L_per_h(self, organ: str) -> float:
        """Arterial inflow of ``organ`` [L/h] (flow fraction x cardiac output)."""
        return self.organ(organ).flow_fraction * self.cardiac_output_L_per_h

    def portal_organs(self, target: str = "liver") -> tuple[str, ...]:
        """Names of the organs whose outflow drains into ``target``."""
        return tuple(n for n, o in self.organs.items() if o.drains_to == target)

    def scaled(self, body_weight_kg: float) -> "Species":
        """Allometrically scale to another body weight; returns a new :class:`Species`.

        Organ volumes and blood volume scale in proportion to body weight (BW^1); cardiac
        output scales with BW^0.75 (West, Brown & Enquist 1997 Science 276:122; Brown et al.
        1997 Toxicol Ind Health 13:407); organ depths scale with BW^(1/3) (geometric
        similarity); all fractions and capillary geometry are unchanged.

        Args:
            body_weight_kg: target body weight [kg], > 0.
        """
        bw = _check_positive_number(body_weight_kg, f"species '{self.name}'", "body_weight_kg")
        ratio = bw / self.body_weight_kg
        note = (
            f"; scaled from {self.body_weight_kg:g} kg to {bw:g} kg"
        )
        organs: dict[str, Organ] = {}
        for name, o in self.organs.items():
            src = dict(o.sources)
            src["volume"] = src.get("volume", "") + note + " (volume proportional to BW)"
            src["depth"] = src.get("depth", "") + note + " (depth proportional to BW^(1/3))"
            organs[name] = replace(
                o,
                volume_L=o.volume_L * ratio,
                depth_mm=o.depth_mm * ratio ** (1.0 / 3.0),
                sources=types.MappingProxyType(src),
            )
        sources = dict(self.sources)
        sources["body_weight"] = f"user-specified body weight {bw:g} kg (reference: {self.body_weight_kg:g} kg)"
        sources["cardiac_output"] = (
            sources.get("cardiac_output", "")
            + note
            + " (cardiac output proportional to BW^0.75; West GB et al. 1997 Science 276:122,"
            " Brown RP et al. 1997 Toxicol Ind Health 13:407)"
        )
        sources["blood_volume"] = sources.get("blood_volume", "") + note + " (proportional to BW)"
        return replace(
            self,
            body_weight_kg=bw,
            cardiac_output_L_per_h=self.cardiac_output_L_per_h * ratio**CARDIAC_OUTPUT_EXPONENT,
            blood_volume_L=self.blood_volume_L * ratio,
            organs=types.MappingProxyType(organs),
            sources=types.MappingProxyType(sources),
        )

    def parameter_rows(self) -> list[tuple[str, float, str, str]]:
        """All numeric parameters as ``(name, value, unit, source)`` rows for reports.

        Names look like ``"Cardiac output [L/h]"``, ``"Liver volume [L]"``,
        ``"Liver blood flow fraction [-]"``, ``"Lung capillary median diameter [um]"``.
        """
        rows: list[tuple[str, float, str, str]] = []

        def add(label: str, value: float, unit: str, source: str) -> None:
            u = _PRETTY_UNIT.get(unit, unit)
            rows.append((f"{label} [{u}]", float(value), u, source))

        s = self.sources
        add("Body weight", self.body_weight_kg, "kg", s.get("body_weight", ""))
        add("Cardiac output", self.cardiac_output_L_per_h, "L/h", s.get("cardiac_output", ""))
        add("Blood volume", self.blood_volume_L, "L", s.get("blood_volume", ""))
        add("Venous blood fraction", self.venous_fraction, "dimensionless", s.get("venous_fraction", ""))
        add("Cells per gram tissue", self.cells_per_gram_tissue, "1/g", s.get("cells_per_gram_tissue", ""))
        for o in self.organs.values():
            src = o.sources
            lab = o.label
            add(f"{lab} volume", o.volume_L, "L", src.get("volume", ""))
            add(f"{lab} blood flow fraction", o.flow_fraction, "dimensionless", src.get("blood_flow", ""))
            add(f"{lab} residual blood fraction", o.residual_blood_fraction, "dimensionless",
                src.get("residual_blood", ""))
            add(f"{lab} depth", o.depth_mm, "mm", src.get("depth", ""))
            add(f"{lab} capillary median diameter", o.capillary.median_um, "um",
                src.get("capillary_median", ""))
            add(f"{lab} capillary geometric SD", o.capillary.gsd, "dimensionless",
                src.get("capillary_gsd", ""))
            add(f"{lab} capillary segments in series", o.capillary.segments, "dimensionless",
                src.get("capillary_segments", ""))
        return rows


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def _species_dir() -> Any:
    """Traversable of the packaged species directory."""
    try:
        d = resources.files("mscpk").joinpath("data", "species")
        if d.is_dir():
            return d
    except (ModuleNotFoundError, TypeError, AttributeError, NotImplementedError):  # pragma: no cover
        pass
    return Path(__file__).resolve().parent / "data" / "species"  # pragma: no cover


@functools.lru_cache(maxsize=1)
def available_species() -> tuple[str, ...]:
    """Names of the packaged species, sorted alphabetically."""
    d = _species_dir()
    return tuple(sorted(p.name[: -len(".toml")] for p in d.iterdir() if p.name.endswith(".toml")))


@functools.lru_cache(maxsize=None)
def _load_packaged(name: str) -> Species:
    res = _species_dir().joinpath(f"{name}.toml")
    text = res.read_text(encoding="utf-8")
    sp = _parse(text, f"packaged species '{name}'")
    if sp.name != name:
        raise PhysiologyError(
            f"packaged species file '{name}.toml' declares name '{sp.name}'; it must be '{name}'"
        )
    return sp


def load_species(name: str, body_weight_kg: float | None = None) -> Species:
    """Load a packaged species (cached), optionally scaled to ``body_weight_kg`` [kg].

    Raises:
        PhysiologyError: unknown species (the message lists the available ones), or invalid
            data.
    """
    if not isinstance(name, str):
        raise PhysiologyError(f"species name must be a string, got {name!r}")
    key = name.strip().lower()
    avail = available_species()
    if key not in avail:
        raise PhysiologyError(
            f"unknown species '{name}'{_did_you_mean(key, avail)}; "
            f"available species: {', '.join(avail)}"
        )
    sp = _load_packaged(key)
    if body_weight_kg is not None:
        sp = sp.scaled(body_weight_kg)
    return sp


def species_from_file(path: str | os.PathLike[str]) -> Species:
    """Read and validate a user's species TOML file (same format as the packaged ones)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PhysiologyError(f"cannot read species file '{p}': {exc.strerror or exc}") from None
    return _parse(text, f"species file '{p}'")


# --------------------------------------------------------------------------------------------
# parsing and validation
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _ureg() -> Any:
    import pint

    return pint.UnitRegistry()


def _did_you_mean(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _check_positive_number(value: Any, where: str, fld: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PhysiologyError(f"{where}, field '{fld}': value {value!r} must be a number > 0")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise PhysiologyError(f"{where}, field '{fld}': value {v!r} must be a finite number > 0")
    return v


def _convert(entry: Any, canonical: str, where: str, fld: str) -> tuple[float, str, str]:
    """Validate one ``{value, unit, source}`` table.

    Returns (value in the canonical unit, source text, the value as written for messages).
    """
    if not isinstance(entry, dict):
        raise PhysiologyError(
            f"{where}, field '{fld}': value {entry!r} must be a table "
            "{ value = ..., unit = \"...\", source = \"...\" }"
        )
    missing = [k for k in _VALUE_KEYS if k not in entry]
    if missing:
        raise PhysiologyError(
            f"{where}, field '{fld}': missing key(s) {', '.join(missing)}; "
            "each value needs value, unit and source"
        )
    extra = [k for k in entry if k not in _VALUE_KEYS]
    if extra:
        raise PhysiologyError(
            f"{where}, field '{fld}': unknown key(s) {', '.join(extra)}; allowed: value, unit, source"
        )
    value, unit, source = entry["value"], entry["unit"], entry["source"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PhysiologyError(f"{where}, field '{fld}': value {value!r} is not a number")
    if not math.isfinite(float(value)):
        raise PhysiologyError(f"{where}, field '{fld}': value {value!r} must be finite")
    if not isinstance(source, str) or not source.strip():
        raise PhysiologyError(
            f"{where}, field '{fld}': source {source!r} must be a non-empty text naming the "
            "reference or 'assumption: <why>'"
        )
    if not isinstance(unit, str) or not unit.strip():
        raise PhysiologyError(
            f"{where}, field '{fld}': unit {unit!r} must be a non-empty unit string "
            f"convertible to {canonical}"
        )
    try:
        q = _ureg().Quantity(float(value), unit.strip())
        v = float(q.to(canonical).magnitude)
    except Exception as exc:  # pint raises several error types (undefined, dimensionality, syntax)
        raise PhysiologyError(
            f"{where}, field '{fld}': value {value!r} with unit '{unit}' cannot be converted to "
            f"{canonical} ({type(exc).__name__})"
        ) from None
    written = f"{value:g}" if unit.strip() == "dimensionless" else f"{value:g} {unit.strip()}"
    if v != float(value):
        written += f" (= {v:g} {canonical})"
    return v, source.strip(), written


def _check_unknown(table: Mapping[str, Any], allowed: Any, where: str) -> None:
    for k in table:
        if k not in allowed:
            raise PhysiologyError(
                f"{where}: unknown field '{k}'{_did_you_mean(k, allowed)}; "
                f"allowed fields: {', '.join(allowed)}"
            )


def _check_missing(table: Mapping[str, Any], required: Any, where: str) -> None:
    for k in required:
        if k not in table:
            raise PhysiologyError(f"{where}: missing required field '{k}'")


def _fraction(v: float, where: str, fld: str) -> None:
    if not (0.0 <= v <= 1.0):
        raise PhysiologyError(f"{where}, field '{fld}': value {v:g} must be a fraction in [0, 1]")


def _parse(text: str, origin: str) -> Species:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PhysiologyError(f"{origin}: invalid TOML: {exc}") from None

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PhysiologyError(f"{origin}: missing required field 'name' (a non-empty string)")
    name = name.strip()
    sp_where = f"species '{name}'"
    _check_unknown(data, _TOP_FIELDS, sp_where)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PhysiologyError(f"{sp_where}, field 'description': value {description!r} must be a string")

    # ---- body ---------------------------------------------------------------------------
    body = data.get("body")
    if not isinstance(body, dict):
        raise PhysiologyError(f"{sp_where}: missing required table [body]")
    bwhere = f"{sp_where}, [body]"
    _check_unknown(body, _BODY_FIELDS, bwhere)
    _check_missing(body, _BODY_FIELDS, bwhere)
    bvals: dict[str, float] = {}
    bsrc: dict[str, str] = {}
    bwritten: dict[str, str] = {}
    for fld, unit in _BODY_FIELDS.items():
        bvals[fld], bsrc[fld], bwritten[fld] = _convert(body[fld], unit, bwhere, fld)
    for fld in ("body_weight", "cardiac_output", "blood_volume", "cells_per_gram_tissue"):
        if bvals[fld] <= 0:
            raise PhysiologyError(f"{bwhere}, field '{fld}': value {bwritten[fld]} must be > 0")
    if not 0.0 < bvals["venous_fraction"] < 1.0:
        raise PhysiologyError(
            f"{bwhere}, field 'venous_fraction': value {bwritten['venous_fraction']} must be a "
            "fraction in (0, 1) (some blood is venous, some arterial)"
        )

    # ---- organs -------------------------------------------------------------------------
    organs_raw = data.get("organs")
    if not isinstance(organs_raw, dict) or not organs_raw:
        raise PhysiologyError(f"{sp_where}: missing required tables [organs.<name>]")
    for req in REQUIRED_ORGANS:
        if req not in organs_raw:
            raise PhysiologyError(
                f"{sp_where}: missing required organ '{req}'; every species needs: "
                f"{', '.join(REQUIRED_ORGANS)}"
            )
    allowed_organ_fields = tuple(_ORGAN_FIELDS) + _ORGAN_OPTIONAL
    parsed: dict[str, tuple[dict[str, float], dict[str, str], Any]] = {}
    for oname, otab in organs_raw.items():
        owhere = f"{sp_where}, organ '{oname}'"
        if not _ORGAN_NAME_RE.match(oname):
            raise PhysiologyError(f"{owhere}: organ names must be snake_case (a-z, 0-9, _)")
        if not isinstance(otab, dict):
            raise PhysiologyError(f"{owhere}: must be a table [organs.{oname}]")
        _check_unknown(otab, allowed_organ_fields, owhere)
        _check_missing(otab, _ORGAN_FIELDS, owhere)
        vals: dict[str, float] = {}
        srcs: dict[str, str] = {}
        written: dict[str, str] = {}
        for fld, unit in _ORGAN_FIELDS.items():
            vals[fld], srcs[fld], written[fld] = _convert(otab[fld], unit, owhere, fld)
        for fld in ("volume", "blood_flow", "capillary_median"):
            if vals[fld] <= 0:
                raise PhysiologyError(f"{owhere}, field '{fld}': value {written[fld]} must be > 0")
        _fraction(vals["blood_flow"], owhere, "blood_flow")
        _fraction(vals["residual_blood"], owhere, "residual_blood")
        if vals["depth"] < 0:
            raise PhysiologyError(f"{owhere}, field 'depth': value {written['depth']} must be >= 0")
        if vals["capillary_gsd"] <= 1.0:
            raise PhysiologyError(
                f"{owhere}, field 'capillary_gsd': value {vals['capillary_gsd']:g} must be > 1 "
                "(geometric standard deviation of a lognormal)"
            )
        if vals["capillary_segments"] < 1.0:
            raise PhysiologyError(
                f"{owhere}, field 'capillary_segments': value {vals['capillary_segments']:g} must be >= 1"
            )
        drains = otab.get("drains_to")
        if drains is not None and (not isinstance(drains, str) or not drains.strip()):
            raise PhysiologyError(
                f"{owhere}, field 'drains_to': value {drains!r} must be an organ name (string)"
            )
        parsed[oname] = (vals, srcs, drains.strip() if isinstance(drains, str) else None)

    # ---- cross-organ checks -------------------------------------------------------------
    lung_flow = parsed["lung"][0]["blood_flow"]
    if abs(lung_flow - 1.0) > _LUNG_FLOW_TOLERANCE:
        raise PhysiologyError(
            f"{sp_where}, organ 'lung', field 'blood_flow': value {lung_flow:g} must be 1.0 "
            "(the lung receives the whole cardiac output)"
        )
    if parsed["lung"][2] is not None:
        raise PhysiologyError(
            f"{sp_where}, organ 'lung', field 'drains_to': value '{parsed['lung'][2]}' is not "
            "allowed; the lung drains to the systemic arteries"
        )
    portal = {n for n, (_, _, d) in parsed.items() if d is not None}
    for oname, (_, _, d) in parsed.items():
        if d is None:
            continue
        owhere = f"{sp_where}, organ '{oname}', field 'drains_to'"
        if d not in parsed:
            raise PhysiologyError(
                f"{owhere}: value '{d}' is not an organ of this species{_did_you_mean(d, parsed)}; "
                f"organs are: {', '.join(parsed)}"
            )
        if d == oname or d == "lung":
            raise PhysiologyError(
                f"{owhere}: value '{d}' is not allowed (an organ cannot drain into itself or the lung)"
            )
        if d in portal:
            raise PhysiologyError(
                f"{owhere}: value '{d}' is itself a portal organ (drains to '{parsed[d][2]}'); "
                "drains_to must name a non-portal organ such as 'liver'"
            )
    flow_sum = sum(v["blood_flow"] for n, (v, _, _) in parsed.items() if n != "lung")
    if abs(flow_sum - 1.0) > _FLOW_SUM_TOLERANCE:
        detail = ", ".join(
            f"{n}={v['blood_flow']:g}" for n, (v, _, _) in parsed.items() if n != "lung"
        )
        raise PhysiologyError(
            f"{sp_where}, field 'blood_flow': non-lung organ flow fractions sum to {flow_sum:.4f}; "
            f"they must sum to 1 within {_FLOW_SUM_TOLERANCE} ({detail}); adjust organ 'rest'"
        )
    bw_L = bvals["body_weight"]  # density 1 kg/L
    vol_sum = sum(v["volume"] for v, _, _ in parsed.values())
    total = vol_sum + bvals["blood_volume"]
    if total > bw_L * (1.0 + 1e-6):
        raise PhysiologyError(
            f"{sp_where}, field 'volume': organ volumes ({vol_sum:.6g} L) plus blood volume "
            f"({bvals['blood_volume']:.6g} L) = {total:.6g} L exceed the body weight "
            f"{bvals['body_weight']:.6g} kg (density 1 kg/L); reduce organ 'rest'"
        )

    organs: dict[str, Organ] = {}
    for oname, (vals, srcs, drains) in parsed.items():
        organs[oname] = Organ(
            name=oname,
            volume_L=vals["volume"],
            flow_fraction=vals["blood_flow"],
            residual_blood_fraction=vals["residual_blood"],
            drains_to=drains,
            depth_mm=vals["depth"],
            capillary=Capillary(
                median_um=vals["capillary_median"],
                gsd=vals["capillary_gsd"],
                segments=vals["capillary_segments"],
            ),
            sources=types.MappingProxyType(srcs),
        )
    return Species(
        name=name,
        description=description,
        body_weight_kg=bvals["body_weight"],
        cardiac_output_L_per_h=bvals["cardiac_output"],
        blood_volume_L=bvals["blood_volume"],
        venous_fraction=bvals["venous_fraction"],
        cells_per_gram_tissue=bvals["cells_per_gram_tissue"],
        organs=types.MappingProxyType(organs),
        sources=types.MappingProxyType(bsrc),
    )


# --------------------------------------------------------------------------------------------
# overrides by parameter name (as `mscpk params` lists them)
# --------------------------------------------------------------------------------------------
_OVERRIDE_ORGAN_FIELDS = {
    "volume [L]": ("volume_L", None), "blood flow fraction [-]": ("flow_fraction", None),
    "residual blood fraction [-]": ("residual_blood_fraction", None), "depth [mm]": ("depth_mm", None),
    "capillary median diameter [um]": ("capillary", "median_um"),
    "capillary geometric SD [-]": ("capillary", "gsd"),
    "capillary segments in series [-]": ("capillary", "segments"),
}
_OVERRIDE_BODY_FIELDS = {"Body weight [kg]": "body_weight_kg", "Cardiac output [L/h]": "cardiac_output_L_per_h",
                "Blood volume [L]": "blood_volume_L", "Venous blood fraction [-]": "venous_fraction",
                "Cells per gram tissue [1/g]": "cells_per_gram_tissue"}


def physiology_names(species: "Species") -> tuple[str, ...]:
    return tuple(r[0] for r in species.parameter_rows())


def apply_physiology(species: "Species", overrides: Mapping[str, float]) -> "Species":
    """A new species with physiology overrides (names as listed by ``mscpk params``)."""
    if not overrides:
        return species
    body: dict[str, float] = {}
    organs = dict(species.organs)
    labels = {o.label: name for name, o in species.organs.items()}
    for key, value in overrides.items():
        v = float(value)
        if key in _OVERRIDE_BODY_FIELDS:
            if not v > 0:
                raise ParameterError(f"parameter {key!r}: value {v:g} must be > 0")
            body[_OVERRIDE_BODY_FIELDS[key]] = v
            continue
        for suffix, (fld, sub) in _OVERRIDE_ORGAN_FIELDS.items():
            if key.endswith(" " + suffix) and key[: -len(suffix) - 1] in labels:
                name = labels[key[: -len(suffix) - 1]]
                organ = organs[name]
                if v < 0 or (fld != "flow_fraction" and v == 0 and fld != "depth_mm"):
                    raise ParameterError(f"parameter {key!r}: value {v:g} must be > 0")
                if sub:
                    organs[name] = replace(organ, capillary=replace(organ.capillary, **{sub: v}))
                else:
                    organs[name] = replace(organ, **{fld: v})
                break
        else:
            raise ParameterError(f"unknown physiology parameter {key!r}")
    total = sum(o.flow_fraction for n, o in organs.items() if n != "lung")
    if abs(total - 1.0) > 0.01:
        raise ParameterError(f"physiology overrides make the organ blood flow fractions sum to {total:.3f}; "
                             "they must sum to 1 (adjust 'Rest blood flow fraction [-]' too)")
    return replace(species, organs=types.MappingProxyType(organs), **body)
