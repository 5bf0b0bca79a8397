"""Detection parameters by name: label and method settings overridable from a scenario.

Every number of ``labels.toml`` and ``methods.toml`` that a user may reasonably change has a
name with its unit, in the style of the model and physiology parameters (``mscpk params``):

* label properties: ``"{Label} {what} [unit]"``, e.g. ``"111In-oxine label efflux half-life
  [h]"``, ``"Luciferase photons per cell [photons/s]"``, ``"Luciferase tissue attenuation
  [1/mm]"``, ``"GFP optical background per site [photons/s]"``; the label's name with its
  first letter upper-case and ``_`` as a blank (``"Reporter PET probe uptake per cell [-]"``).
  Physical half-lives of radionuclides and probes (C11) are constants, not parameters.
* method settings: ``"{Method} {what} [unit]"``, e.g. ``"qPCR detection limit [cells]"``,
  ``"BLI measurement CV [-]"``, ``"BLI exposure [s]"``, ``"Fluorescence imaging minimum
  signal-to-background ratio [-]"``.

A scenario's ``[parameters]`` table may hold these names next to model and physiology
names; :func:`apply_detection_overrides` picks out the detection names (ignoring the rest)
and returns the :class:`DetectionSettings` in force, which the observation models use
(``observe``, ``detection_windows``, ``design_study``, ``simulate_study``,
``label_kinetics``). Engine calls get the scenario without detection names
(:func:`mscpk.inputs.resolve.cell_scenario`).

Example
-------
>>> from mscpk.inputs.detection import apply_detection_overrides
>>> s = apply_detection_overrides({"111In-oxine label efflux half-life [h]": 30.0,
...                                "Lung volume [L]": 2e-4})  # not a detection name: ignored
>>> s.label("111In-oxine").efflux_half_life_h
30.0
>>> apply_detection_overrides({"qPCR detection limit [cells]": 50}).method("qpcr").detection_limit_cells
50.0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from mscpk.errors import DetectionError, ParameterError
from mscpk.inputs.catalogue import (ASSAYS, LABEL_RULES, LabelInfo, MethodInfo, _labels_raw, check_number, label_info,
                                    label_names, method_info)


class DetectionParameterError(DetectionError, ParameterError):
    """An invalid value of a detection parameter (both a DetectionError and a ParameterError;
    printed as ParameterError prints: the message without KeyError's quotes)."""


#: Label fields that are parameters: field -> (what, unit); their rules are
#: :data:`~mscpk.inputs.catalogue.LABEL_RULES`.
LABEL_FIELDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "efflux_half_life_h": ("label efflux half-life", "h"),
    "dead_release_half_life_h": ("label release half-life from dead cells", "h"),
    "unbound_half_life_h": ("unbound label clearance half-life", "h"),
    "host_half_life_h": ("host-held label turnover half-life", "h"),
    "labelled_fraction": ("labelled fraction", "-"),
    "per_cell_cv": ("per-cell label CV", "-"),
    "specific_activity_Bq_per_cell": ("specific activity per cell", "Bq"),
    "photons_per_cell_per_s": ("photons per cell", "photons/s"),
    "mu_eff_per_mm": ("tissue attenuation", "1/mm"),
    "background_photons_per_s": ("optical background per site", "photons/s"),
    "probe_uptake_per_cell": ("probe uptake per cell", "-"),
    "probe_activity_MBq": ("probe activity", "MBq"),
    "probe_uptake_time_h": ("probe uptake time", "h"),
})

#: Display names of the assays in parameter names.
METHOD_DISPLAY: Mapping[str, str] = MappingProxyType({
    "qpcr": "qPCR", "flow": "Flow cytometry", "ihc": "IHC", "bli": "BLI",
    "fluorescence": "Fluorescence imaging", "mri": "MRI", "spect": "SPECT", "pet": "PET"})

#: Method fields: key (``detection_limit_cells``, ``cv``, ``per_cell_threshold`` or
#: ``sample.<setting>``) -> (what, unit, rule); rules as :func:`~mscpk.inputs.catalogue.check_number`.
METHOD_FIELDS: Mapping[str, tuple[str, str, str]] = MappingProxyType({
    "detection_limit_cells": ("detection limit", "cells", "pos"),
    "cv": ("measurement CV", "-", "nonneg"),
    "per_cell_threshold": ("label-positive threshold per cell", "-", "frac"),
    "sample.dna_analysed_ug": ("DNA analysed", "ug", "pos"),
    "sample.dna_per_cell_pg": ("DNA per cell", "pg", "pos"),
    "sample.blood_nucleated_cells_per_mL": ("nucleated blood cells", "1/mL", "pos"),
    "sample.depot_fraction": ("sampled fraction of a depot", "-", "frac"),
    "sample.events_acquired": ("events acquired", "cells", "count"),
    "sample.sections": ("sections per organ", "-", "count"),
    "sample.section_thickness_um": ("section thickness", "um", "pos"),
    "sample.blood_fraction": ("sampled fraction of blood", "-", "frac"),
    "sample.exposure_s": ("exposure", "s", "pos"),
    "sample.collection_efficiency": ("collection efficiency", "-", "frac"),
    "sample.reference_depth_mm": ("reference depth", "mm", "nonneg"),
    "sample.signal_to_background_min": ("minimum signal-to-background ratio", "-", "nonneg"),
    "sample.sensitivity_counts_per_decay": ("sensitivity", "counts/decay", "frac"),
    "sample.acquisition_s": ("acquisition time", "s", "pos"),
})


def label_display(name: str) -> str:
    """``luciferase`` -> ``Luciferase``, ``reporter_PET`` -> ``Reporter PET``."""
    return (name[:1].upper() + name[1:]).replace("_", " ")


def label_parameter_name(label: str, fld: str) -> str:
    """The parameter name of field ``fld`` of ``label`` (``"Luciferase photons per cell [photons/s]"``)."""
    what, unit = LABEL_FIELDS[fld]
    return f"{label_display(label)} {what} [{unit}]"


def method_parameter_name(assay: str, key: str) -> str:
    """The parameter name of setting ``key`` of ``assay`` (``"qPCR detection limit [cells]"``)."""
    what, unit, _ = METHOD_FIELDS[key]
    return f"{METHOD_DISPLAY[assay]} {what} [{unit}]"


@functools.lru_cache(maxsize=1)
def _catalogue() -> Mapping[str, tuple[str, str, str, str, str]]:
    """name -> (kind 'label'|'method', owner, field, unit, rule), in display order."""
    out: dict[str, tuple[str, str, str, str, str]] = {}
    raw_labels = _labels_raw()
    for lab in label_names():
        for fld, (_what, unit) in LABEL_FIELDS.items():
            if fld in raw_labels[lab]:
                out[label_parameter_name(lab, fld)] = ("label", lab, fld, unit, LABEL_RULES[fld])
    for a in ASSAYS:
        m = method_info(a)
        for key, (_what, unit, rule) in METHOD_FIELDS.items():
            if (key[len("sample."):] in m.sample if key.startswith("sample.") else getattr(m, key) is not None):
                out[method_parameter_name(a, key)] = ("method", a, key, unit, rule)
    return MappingProxyType(out)


def detection_parameter_names() -> tuple[str, ...]:
    """Every detection parameter name (labels, then methods)."""
    return tuple(_catalogue())


def is_detection_parameter(name: str) -> bool:
    """True when ``name`` is a detection parameter name."""
    return name in _catalogue()


@dataclass(frozen=True)
class DetectionSettings:
    """Label and method properties in force: the packaged data with overrides applied.

    ``overrides``: the detection names given, with their (checked) values.
    """

    overrides: Mapping[str, float] = field(default_factory=dict)
    label_changes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    method_changes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.overrides)

    def label(self, name: str) -> LabelInfo:
        """The :class:`LabelInfo` of ``name`` with the overrides (DetectionError if unknown)."""
        info = label_info(name)
        ch = self.label_changes.get(name)
        return replace(info, **ch) if ch else info

    def method(self, assay: str) -> MethodInfo:
        """The :class:`MethodInfo` of ``assay`` with the overrides (DetectionError if unknown)."""
        m = method_info(assay)
        ch = self.method_changes.get(assay)
        if not ch:
            return m
        top = {k: v for k, v in ch.items() if not k.startswith("sample.")}
        sample = {**m.sample, **{k[len("sample."):]: v for k, v in ch.items() if k.startswith("sample.")}}
        return replace(m, sample=MappingProxyType(sample), **top)


def apply_detection_overrides(overrides: Mapping[str, float] | None) -> DetectionSettings:
    """The :class:`DetectionSettings` for the detection names among ``overrides``.

    Names that are not detection parameters (model and physiology parameters, typos) are
    ignored here; the scenario validator reports unknown names. A bad value of a detection
    parameter raises :class:`DetectionParameterError` (a DetectionError and a ParameterError)
    naming the parameter.
    """
    if not overrides:
        return DetectionSettings()
    cat = _catalogue()
    given: dict[str, float] = {}
    labels: dict[str, dict[str, float]] = {}
    methods: dict[str, dict[str, float]] = {}
    for name, value in dict(overrides).items():
        if name not in cat:
            continue
        kind, owner, fld, _unit, rule = cat[name]
        v = check_number(f"parameter {name!r}", value, rule, DetectionParameterError)
        given[name] = v
        (labels if kind == "label" else methods).setdefault(owner, {})[fld] = v
    return DetectionSettings(MappingProxyType(given),
                             MappingProxyType({k: MappingProxyType(v) for k, v in labels.items()}),
                             MappingProxyType({k: MappingProxyType(v) for k, v in methods.items()}))


def detection_parameter_rows(overrides: Mapping[str, float] | None = None,
                             labels: Any = None) -> list[tuple[str, float, str, str]]:
    """``(name, value, unit, source)`` of every detection parameter (as ``mscpk params``).

    ``overrides``: a scenario's ``[parameters]`` (detection names among them replace the
    packaged value; source ``"scenario override"``). ``labels``: only these labels' rows
    (default: every label); method rows are always listed.

    >>> rows = detection_parameter_rows()
    >>> [r for r in rows if r[0] == "qPCR detection limit [cells]"][0][1:3]
    (100.0, 'cells')
    """
    settings = apply_detection_overrides(overrides)
    keep = None if labels is None else {labels} if isinstance(labels, str) else set(labels)
    rows: list[tuple[str, float, str, str]] = []
    for name, (kind, owner, fld, unit, _rule) in _catalogue().items():
        if kind == "label":
            if keep is not None and owner not in keep:
                continue
            info = settings.label(owner)
            value, source = getattr(info, fld), info.sources.get(fld, "")
        else:
            m = settings.method(owner)
            value = m.sample[fld[len("sample."):]] if fld.startswith("sample.") else getattr(m, fld)
            source = m.sources.get("detection_limit" if fld == "detection_limit_cells" else fld, "")
        rows.append((name, float(value), unit, "scenario override" if name in settings.overrides else source))
    return rows


__all__ = ["DetectionSettings", "DetectionParameterError", "apply_detection_overrides",
           "detection_parameter_rows", "detection_parameter_names", "is_detection_parameter",
           "LABEL_FIELDS", "METHOD_FIELDS", "METHOD_DISPLAY", "label_display", "label_parameter_name",
           "method_parameter_name"]
