"""Species physiology: the ONE table of fields (TOML key, attribute, parameter name, unit,
allowed range), the objects (:class:`Species`, :class:`Organ`, :class:`Capillary`) and the
ONE validation of their values (:func:`check_species`), used after parsing, scaling and
``[parameters]`` overrides alike.

The species file parser, :meth:`Species.parameter_rows` (the names ``mscpk params`` lists)
and the ``[parameters]`` overrides are all derived from :data:`BODY_FIELDS` and
:data:`ORGAN_FIELDS`. The file format is described in docs/physiology.md.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field, replace
from typing import Iterator, Mapping

import numpy as np

from mscpk.errors import PhysiologyError, did_you_mean

#: Organs every species file must define (snake_case; more may be added).
REQUIRED_ORGANS: tuple[str, ...] = (
    "lung", "heart", "brain", "liver", "spleen", "gut", "kidney", "muscle", "skin", "adipose",
    "bone_marrow", "rest",
)


@dataclass(frozen=True)
class Rule:
    """Allowed interval of a value: from ``low`` to ``high``, each end open or closed.

    >>> str(Rule(0.0, 1.0, low_open=False, high_open=False)), Rule(0.0, 1.0, low_open=False).allows(1.0)
    ('in [0, 1]', False)
    """

    low: float = 0.0
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    def allows(self, value):
        """True when ``value`` is finite and inside the interval (an array: per element)."""
        v = np.asarray(value, dtype=float)
        with np.errstate(invalid="ignore"):
            above = v > self.low if self.low_open else v >= self.low
            below = v < self.high if self.high_open else v <= self.high
        ok = np.isfinite(v) & above & below
        return bool(ok) if ok.ndim == 0 else ok

    def __str__(self) -> str:
        if math.isinf(self.high):
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


POSITIVE = Rule()
NON_NEGATIVE = Rule(low_open=False)
FRACTION = Rule(0.0, 1.0, low_open=False, high_open=False)


@dataclass(frozen=True)
class Field:
    """One numeric physiology field.

    Attributes:
        key: field name in the species TOML file (``"capillary_gsd"``).
        attr: attribute of :class:`Species` or :class:`Organ` (``"capillary"``).
        sub: attribute of :class:`Capillary` when ``attr == "capillary"``, else ``None``.
        label: parameter name without unit; organ fields are prefixed with the organ label
            (``"Liver capillary geometric SD [-]"``).
        unit: canonical :mod:`pint` unit (``"dimensionless"`` is shown as ``-``).
        rule: allowed values.
    """

    key: str
    attr: str
    sub: str | None
    label: str
    unit: str
    rule: Rule

    @property
    def display_unit(self) -> str:
        """Unit as shown in parameter names (``-`` for dimensionless)."""
        return "-" if self.unit == "dimensionless" else self.unit

    def name(self, organ_label: str | None = None) -> str:
        """Parameter name as ``mscpk params`` lists it, e.g. ``"Liver volume [L]"``."""
        label = self.label if organ_label is None else f"{organ_label} {self.label}"
        return f"{label} [{self.display_unit}]"

    def get(self, obj: object) -> float:
        """The value of this field on a :class:`Species` or :class:`Organ`."""
        return float(self.raw(obj))

    def raw(self, obj: object):
        """The value as stored: a number, or an array of per-subject values (a population's
        physiology, :func:`~mscpk.inputs.physiology.apply_physiology` with arrays)."""
        value = getattr(obj, self.attr)
        return getattr(value, self.sub) if self.sub else value


BODY_FIELDS: tuple[Field, ...] = (
    Field("body_weight", "body_weight_kg", None, "Body weight", "kg", POSITIVE),
    Field("cardiac_output", "cardiac_output_L_per_h", None, "Cardiac output", "L/h", POSITIVE),
    Field("blood_volume", "blood_volume_L", None, "Blood volume", "L", POSITIVE),
    Field("venous_fraction", "venous_fraction", None, "Venous blood fraction", "dimensionless",
          Rule(0.0, 1.0)),
    Field("cells_per_gram_tissue", "cells_per_gram_tissue", None, "Cells per gram tissue", "1/g",
          POSITIVE),
)
ORGAN_FIELDS: tuple[Field, ...] = (
    Field("volume", "volume_L", None, "volume", "L", POSITIVE),
    Field("blood_flow", "flow_fraction", None, "blood flow fraction", "dimensionless",
          Rule(0.0, 1.0, high_open=False)),
    Field("residual_blood", "residual_blood_fraction", None, "residual blood fraction",
          "dimensionless", FRACTION),
    Field("depth", "depth_mm", None, "depth", "mm", NON_NEGATIVE),
    Field("capillary_median", "capillary", "median_um", "capillary median diameter", "um", POSITIVE),
    Field("capillary_gsd", "capillary", "gsd", "capillary geometric SD", "dimensionless", Rule(1.0)),
    Field("capillary_segments", "capillary", "segments", "capillary segments in series",
          "dimensionless", Rule(1.0, low_open=False)),
)

#: Non-lung organ flow fractions must sum to 1 within this [-] (rounding of tabulated data).
FLOW_SUM_TOLERANCE = 0.01
#: The lung flow fraction must be 1 within this [-] (it receives the whole cardiac output).
LUNG_FLOW_TOLERANCE = 1e-6
#: Relative slack [-] of "organ volumes + blood volume <= body weight" (float rounding).
VOLUME_SUM_SLACK = 1e-6

#: Allometric exponent of cardiac output on body weight (West GB, Brown JH, Enquist BJ 1997
#: Science 276:122; Brown RP et al. 1997 Toxicol Ind Health 13:407 scale flows with BW^0.75).
CARDIAC_OUTPUT_EXPONENT = 0.75


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
        sources: TOML field name (``"volume"``, ``"blood_flow"``, ...) -> source text.
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
        sources: body field name (``"body_weight"``, ``"cardiac_output"``, ...) -> source text.
        plausible_body_weight_kg: (lowest, highest) plausible body weight of the species [kg].
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
    plausible_body_weight_kg: tuple[float, float]

    def organ_names(self) -> tuple[str, ...]:
        """Organ names in file order."""
        return tuple(self.organs)

    def organ(self, name: str) -> Organ:
        """The organ called ``name``; :class:`PhysiologyError` (with suggestions) if unknown."""
        try:
            return self.organs[name]
        except KeyError:
            raise PhysiologyError(
                f"species '{self.name}': unknown organ '{name}'; "
                f"{did_you_mean(name, self.organs)}organs are: {', '.join(self.organs)}"
            ) from None

    def portal_organs(self, target: str = "liver") -> tuple[str, ...]:
        """Names of the organs whose outflow drains into ``target``."""
        return tuple(n for n, o in self.organs.items() if o.drains_to == target)

    def field_items(self) -> Iterator[tuple[str, Organ | None, Field]]:
        """``(parameter name, organ or None for a body field, field)`` for every number."""
        for f in BODY_FIELDS:
            yield f.name(), None, f
        for o in self.organs.values():
            for f in ORGAN_FIELDS:
                yield f.name(o.label), o, f

    def parameter_values(self) -> dict[str, object]:
        """Every numeric parameter by name, as stored (numbers, or per-subject arrays)."""
        return {name: f.raw(o or self) for name, o, f in self.field_items()}

    def parameter_rows(self) -> list[tuple[str, float, str, str]]:
        """All numeric parameters as ``(name, value, unit, source)`` rows for reports.

        >>> from mscpk.inputs.physiology import load_species
        >>> name, value, unit, source = load_species("rat").parameter_rows()[1]
        >>> name, round(value, 2), unit
        ('Cardiac output [L/h]', 4.44, 'L/h')
        """
        return [(name, f.get(o or self), f.display_unit, (o or self).sources.get(f.key, ""))
                for name, o, f in self.field_items()]

    def scaled(self, body_weight_kg) -> "Species":
        """Allometrically scale to another body weight; returns a new, checked :class:`Species`.

        Organ volumes and blood volume scale in proportion to body weight (BW^1); cardiac
        output scales with BW^0.75 (West, Brown & Enquist 1997 Science 276:122; Brown et al.
        1997 Toxicol Ind Health 13:407); organ depths scale with BW^(1/3) (geometric
        similarity); all fractions and capillary geometry are unchanged.

        Args:
            body_weight_kg: target body weight [kg], within the species' plausible range; or an
                array (N,) of per-subject weights (a population: the species then holds arrays).
        """
        many = isinstance(body_weight_kg, np.ndarray) and body_weight_kg.ndim > 0
        if not many and (isinstance(body_weight_kg, bool) or not isinstance(body_weight_kg, (int, float))):
            raise PhysiologyError(f"species '{self.name}': body weight {body_weight_kg!r} must be a number [kg]")
        bw = np.asarray(body_weight_kg, dtype=float) if many else float(body_weight_kg)
        ratio = bw / self.body_weight_kg
        note = f"; scaled from {self.body_weight_kg:g} kg to {'per-subject weights' if many else f'{bw:g} kg'}"
        organs: dict[str, Organ] = {}
        for name, o in self.organs.items():
            src = dict(o.sources)
            src["volume"] = src.get("volume", "") + note + " (volume proportional to BW)"
            src["depth"] = src.get("depth", "") + note + " (depth proportional to BW^(1/3))"
            organs[name] = replace(o, volume_L=o.volume_L * ratio, depth_mm=o.depth_mm * ratio ** (1.0 / 3.0),
                                   sources=types.MappingProxyType(src))
        sources = dict(self.sources)
        sources["body_weight"] = (f"user-specified body weight {'per subject' if many else f'{bw:g} kg'} "
                                  f"(reference: {self.body_weight_kg:g} kg)")
        sources["cardiac_output"] = (
            sources.get("cardiac_output", "") + note
            + " (cardiac output proportional to BW^0.75; West GB et al. 1997 Science 276:122,"
            " Brown RP et al. 1997 Toxicol Ind Health 13:407)"
        )
        sources["blood_volume"] = sources.get("blood_volume", "") + note + " (proportional to BW)"
        return check_species(replace(
            self,
            body_weight_kg=bw,
            cardiac_output_L_per_h=self.cardiac_output_L_per_h * ratio**CARDIAC_OUTPUT_EXPONENT,
            blood_volume_L=self.blood_volume_L * ratio,
            organs=types.MappingProxyType(organs),
            sources=types.MappingProxyType(sources),
        ))


def check_species(sp: Species, error: type[Exception] = PhysiologyError) -> Species:
    """Return ``sp`` when all its values are allowed; else raise ``error`` naming the first bad one.

    Every number finite and inside its :class:`Rule`; body
    weight inside the species' plausible range; lung flow 1; portal drainage into a non-portal
    organ; non-lung flow fractions summing to 1; blood volume below the body weight and organ
    volumes plus blood volume not above it (density 1 kg/L). Messages name the parameter as
    ``mscpk params`` lists it and, in parentheses, the species file field. A species with
    per-subject arrays (a population) is checked per subject: the message then starts with
    ``subject I:`` (the first subject with a bad value, counted from 0).
    """
    found = species_violation(sp)
    if found is not None:
        subject, message = found
        raise error(message if subject is None else f"subject {subject}: {message}")
    return sp


def _first(bad) -> int | None:
    """Index of the first True of ``bad`` (a bool or an array), or None."""
    bad = np.atleast_1d(bad)
    return int(np.argmax(bad)) if bad.any() else None


def _at(value, i: int) -> float:
    a = np.asarray(value, dtype=float)
    return float(a) if a.ndim == 0 else float(a[i])


def species_violation(sp: Species) -> tuple[int | None, str] | None:
    """The first violated rule of :func:`check_species` as ``(subject, message)`` (subject:
    None for a species of plain numbers, else the first subject breaking it), or None."""
    where = f"species '{sp.name}'"
    batch = any(np.ndim(f.raw(o or sp)) for _, o, f in sp.field_items())

    def found(bad, message):
        i = _first(bad)
        return None if i is None else (i if batch else None, message(i))

    checks = []
    for name, o, f in sp.field_items():
        v = f.raw(o or sp)
        checks.append((lambda v=v, f=f: np.logical_not(f.rule.allows(v)),
                       lambda i, v=v, f=f, name=name, o=o: (
                           f"{where}: '{name}' = {_at(v, i):g} must be "
                           f"{'' if math.isfinite(_at(v, i)) else 'a finite number '}{f.rule} ({_in_file(o, f.key)})")))
    low, high = sp.plausible_body_weight_kg
    bw, blood = sp.body_weight_kg, sp.blood_volume_L
    checks.append((lambda: ~((np.asarray(bw) >= low) & (np.asarray(bw) <= high)),
                   lambda i: f"{where}: 'Body weight [kg]' = {_at(bw, i):g} is outside the plausible range "
                             f"[{low:g}, {high:g}] kg for a {sp.name} (species file: [plausible] body_weight)"))
    organs = sp.organs
    lung = organs["lung"]
    checks.append((lambda: ~(np.abs(np.asarray(lung.flow_fraction) - 1.0) <= LUNG_FLOW_TOLERANCE),
                   lambda i: f"{where}: 'Lung blood flow fraction [-]' = {_at(lung.flow_fraction, i):g} must be 1.0, "
                             f"the lung receives the whole cardiac output ({_in_file(lung, 'blood_flow')})"))
    for bad, message in checks:
        hit = found(bad(), message)
        if hit is not None:
            return hit
    for o in organs.values():
        d = o.drains_to
        if d is None:
            continue
        at = f"{where}, {_in_file(o, 'drains_to')}"
        if o.name == "lung":
            return None, f"{at}: value '{d}' is not allowed; the lung drains to the systemic arteries"
        if d not in organs:
            return None, (f"{at}: value '{d}' is not an organ of this species; {did_you_mean(d, organs)}"
                          f"organs are: {', '.join(organs)}")
        if d in (o.name, "lung"):
            return None, f"{at}: value '{d}' is not allowed (an organ cannot drain into itself or the lung)"
        if organs[d].drains_to is not None:
            return None, (f"{at}: value '{d}' is itself a portal organ (drains to '{organs[d].drains_to}'); "
                          "drains_to must name a non-portal organ such as 'liver'")
    others = [o for o in organs.values() if o.name != "lung"]
    flow_sum = sum(o.flow_fraction for o in others)
    vol_sum = sum(o.volume_L for o in organs.values())
    tail = [
        (~(np.abs(np.asarray(flow_sum) - 1.0) <= FLOW_SUM_TOLERANCE),
         lambda i: (f"{where}: the non-lung organ blood flow fractions (field 'blood_flow') sum to "
                    f"{_at(flow_sum, i):.4f}; they must sum to 1 within {FLOW_SUM_TOLERANCE:g} ("
                    + ", ".join(f"{o.name}={_at(o.flow_fraction, i):g}" for o in others)
                    + "); adjust organ 'rest' ('Rest blood flow fraction [-]')")),
        (~(np.asarray(blood) < np.asarray(bw)),
         lambda i: (f"{where}: 'Blood volume [L]' = {_at(blood, i):g} must be below the body weight "
                    f"{_at(bw, i):g} kg (density 1 kg/L) ([body] blood_volume)")),
        (~(np.asarray(vol_sum) + blood <= np.asarray(bw) * (1.0 + VOLUME_SUM_SLACK)),
         lambda i: (f"{where}: organ volumes (field 'volume', {_at(vol_sum, i):.6g} L) plus blood volume "
                    f"({_at(blood, i):.6g} L) = {_at(vol_sum, i) + _at(blood, i):.6g} L exceed the body weight "
                    f"{_at(bw, i):.6g} kg (density 1 kg/L); reduce organ 'rest' ('Rest volume [L]')")),
    ]
    for bad, message in tail:
        hit = found(bad, message)
        if hit is not None:
            return hit
    return None


def _in_file(organ: Organ | None, key: str) -> str:
    return f"[body] {key}" if organ is None else f"organ '{organ.name}', field '{key}'"
