"""Packaged detection data: labels, methods (review Table 2) and products (review Table 1).

The data live in ``mscpk/data/detection/``:

* ``labels.toml``: every label a product may carry (``product.label``) with its kinetics
  (half-life, efflux, fate of label from dead cells, optical and radioactive properties);
* ``methods.toml``: the eight assays (``qpcr, flow, ihc, bli, fluorescence, mri, spect, pet``)
  with the review's Table 2 row, the default detection limit (Table 2) and the published
  alternatives, the measurement CV and the sampling / counting settings;
* ``products.csv``: the review's Table 1 (marketed MSC products), one row per product;
* ``constants.toml``: species-independent numbers of the observation models and the study
  design (tissue density, depot depths, sampling grid, ...), see :func:`detection_constants`.

Every number in the TOML files is a ``{ value, unit, source }`` table.

Example
-------
>>> from mscpk.analysis.detection import knowledge_table
>>> knowledge_table("methods")[["assay", "detection_limit_cells"]].head(2)
  assay  detection_limit_cells
0  qpcr                  100.0
1  flow                 1000.0
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

from mscpk.errors import DetectionError, did_you_mean

#: Assays of the INTERFACE contract, in display order.
ASSAYS: tuple[str, ...] = ("qpcr", "flow", "ihc", "bli", "fluorescence", "mri", "spect", "pet")
#: Unit of each assay's ``value`` (INTERFACE, Detection).
ASSAY_UNITS: Mapping[str, str] = MappingProxyType({
    "qpcr": "cells", "flow": "cells", "ihc": "cells", "mri": "cells",
    "bli": "photons_per_s", "fluorescence": "photons_per_s",
    "spect": "percent_injected_activity", "pet": "percent_injected_activity"})
#: Assays possible for any xenogeneic product (species-specific DNA / antibodies).
XENOGENEIC_ASSAYS: tuple[str, ...] = ("qpcr", "flow", "ihc")
#: Knowledge tables available through :func:`knowledge_table`.
KNOWLEDGE_TABLES: tuple[str, ...] = ("products", "methods", "labels")

_LABEL_KINDS = ("radionuclide", "particle", "dye", "reporter", "none")
#: Where freed label spreads (``unbound_space`` of labels.toml): plasma only (protein-bound
#: label, particles) or the extracellular fluid (plasma and interstitium: small hydrophilic
#: complexes); docs/detection.md, "Label kinetics".
UNBOUND_SPACES = ("plasma", "extracellular")
#: Fields every direct label states: its kinetics in the label network.
_DIRECT_FIELDS = ("efflux_half_life_h", "dead_release_half_life_h", "unbound_half_life_h", "unbound_fate",
                  "host_half_life_h", "labelled_fraction", "per_cell_cv")


#: Rule of each number a label option may change (``LabelInfo.updated``; the scenario's
#: detection parameters use the same rules): "pos" finite > 0, "half" > 0 (inf: never),
#: "nonneg" finite >= 0, "frac" in (0, 1].
LABEL_RULES: Mapping[str, str] = MappingProxyType({
    "half_life_h": "half", "efflux_half_life_h": "half", "dead_release_half_life_h": "half",
    "unbound_half_life_h": "half", "host_half_life_h": "half", "labelled_fraction": "frac",
    "per_cell_cv": "nonneg", "specific_activity_Bq_per_cell": "pos", "photons_per_cell_per_s": "pos",
    "mu_eff_per_mm": "nonneg", "background_photons_per_s": "nonneg", "probe_uptake_per_cell": "frac",
    "probe_activity_MBq": "pos", "probe_half_life_h": "pos", "probe_uptake_time_h": "pos"})
_RULE_TEXT = {"pos": "> 0 and finite", "half": "> 0 (inf: never)", "nonneg": ">= 0 and finite",
              "frac": "in (0, 1]", "count": "a whole number >= 1 (finite)"}


def check_number(where: str, value: Any, rule: str, error: type[DetectionError] = DetectionError) -> float:
    """``value`` as a float if it obeys ``rule`` (:data:`LABEL_RULES`; "count": a whole number
    >= 1), else ``error`` naming ``where``, the value and what is allowed.

    >>> check_number("label option labelled_fraction", 0.5, "frac")
    0.5
    """
    try:
        if isinstance(value, bool):
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise error(f"{where}: {value!r} is not a number; it must be {_RULE_TEXT[rule]}") from None
    ok = {"pos": 0 < v < math.inf, "half": v > 0, "nonneg": 0 <= v < math.inf, "frac": 0 < v <= 1,
          "count": 1 <= v < math.inf and v == int(v)}[rule]
    if not ok:
        raise error(f"{where}: value {value!r} must be {_RULE_TEXT[rule]}")
    return v


def _data_dir():
    return resources.files("mscpk").joinpath("data", "detection")


def _unknown(what: str, value: Any, allowed) -> DetectionError:
    """The error for a name that is not one of ``allowed`` (with a did-you-mean)."""
    return DetectionError(f"{what}: unknown value {value!r}; {did_you_mean(value, allowed)}"
                          f"allowed: {', '.join(allowed)}")


def _num(entry: Any, where: str) -> float:
    """The number of a ``{ value, unit, source }`` table (or a bare number)."""
    value = entry.get("value") if isinstance(entry, Mapping) else entry
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DetectionError(f"{where}: value {value!r} is not a number")
    return float(value)


@dataclass(frozen=True)
class LabelInfo:
    """Properties of one cell label (see ``labels.toml`` for the meaning of each field).

    Half-lives are in h (``inf`` = never), fractions in [-], ``specific_activity_Bq_per_cell``
    in Bq per cell at labelling, ``photons_per_cell_per_s`` in photons/s per cell at the
    body surface, ``mu_eff_per_mm`` in 1/mm, ``background_photons_per_s`` the optical
    background (autofluorescence, instrument) of one site's region of interest in photons/s.
    """

    name: str
    kind: str
    direct: bool
    assays: tuple[str, ...]
    description: str = ""
    nuclide: str | None = None
    half_life_h: float = math.inf
    efflux_half_life_h: float = math.inf
    dead_release_half_life_h: float = math.inf
    debris_to_local_macrophages: bool = False
    unbound_space: str = "plasma"
    unbound_half_life_h: float = math.inf
    unbound_fate: Mapping[str, float] = field(default_factory=dict)
    host_half_life_h: float = math.inf
    labelled_fraction: float = 1.0
    per_cell_cv: float = 0.0
    specific_activity_Bq_per_cell: float | None = None
    photons_per_cell_per_s: float | None = None
    mu_eff_per_mm: float | None = None
    background_photons_per_s: float = 0.0
    probe_uptake_per_cell: float | None = None
    probe_activity_MBq: float | None = None
    probe_half_life_h: float | None = None
    probe_uptake_time_h: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def decay_rate(self) -> float:
        """Physical decay constant [1/h] (0 for a stable label)."""
        return self.rate("half_life_h")

    @property
    def radioactive(self) -> bool:
        return self.kind == "radionuclide"

    def rate(self, half_life_field: str) -> float:
        """First-order rate [1/h] from a half-life field (inf -> 0)."""
        t = getattr(self, half_life_field)
        return 0.0 if math.isinf(t) else math.log(2.0) / t

    def updated(self, **changes: Any) -> "LabelInfo":
        """A copy with some numbers replaced (e.g. ``efflux_half_life_h=30``; rules in :data:`LABEL_RULES`)."""
        for key, value in changes.items():
            if key not in LABEL_RULES:
                raise DetectionError(f"label option {key!r} is unknown; {did_you_mean(key, LABEL_RULES, cutoff=0.6)}"
                                     f"allowed: {', '.join(LABEL_RULES)}")
        return replace(self, **{k: check_number(f"label option {k}", v, LABEL_RULES[k]) for k, v in changes.items()})


@dataclass(frozen=True)
class MethodInfo:
    """One assay: its review Table 2 row and the observation-model defaults.

    ``detection_limit_cells`` [cells in the whole site]; ``cv`` [-] log-normal CV;
    ``sample`` maps setting name -> value (units in ``methods.toml``);
    ``per_cell_threshold`` [-] fraction of the mean initial label per cell below which a
    cell is no longer label-positive (flow, ihc); ``standard_label``: the label a study
    design proposes for the assay when the product's cannot serve it; ``alternatives``:
    published limits.
    """

    assay: str
    name: str
    unit: str
    sees: str
    sampling: str
    detection_limit_cells: float
    cv: float
    sample: Mapping[str, float]
    per_cell_threshold: float | None
    standard_label: str
    alternatives: tuple[Mapping[str, Any], ...]
    review: Mapping[str, Any]
    sources: Mapping[str, str]


@functools.lru_cache(maxsize=1)
def _labels_raw() -> dict:
    with _data_dir().joinpath("labels.toml").open("rb") as fh:
        return tomllib.load(fh)["labels"]


@functools.lru_cache(maxsize=1)
def _methods_raw() -> dict:
    with _data_dir().joinpath("methods.toml").open("rb") as fh:
        return tomllib.load(fh)


@functools.lru_cache(maxsize=1)
def detection_constants() -> Mapping[str, Any]:
    """Species-independent numbers of the observation models and the study design
    (``constants.toml``; units and sources there): name -> a number, a tuple of numbers or a
    mapping of names.

    >>> detection_constants()["tissue_density_g_per_mL"]
    1.0
    """
    with _data_dir().joinpath("constants.toml").open("rb") as fh:
        raw = tomllib.load(fh)
    out: dict[str, Any] = {}
    for key, entry in raw.items():
        value = entry["value"]
        if isinstance(value, list):
            out[key] = tuple(_num(v, f"constants.toml {key}") for v in value)
        elif isinstance(value, Mapping):
            out[key] = MappingProxyType(dict(value))
        else:
            out[key] = _num(value, f"constants.toml {key}")
    return MappingProxyType(out)


def label_names() -> tuple[str, ...]:
    """Names of the packaged labels: the values ``product.label`` may take."""
    return tuple(_labels_raw())


@functools.lru_cache(maxsize=None)
def label_info(name: str) -> LabelInfo:
    """The packaged :class:`LabelInfo` of label ``name``; :class:`DetectionError` if unknown."""
    raw = _labels_raw()
    if not isinstance(name, str) or name not in raw:
        raise _unknown("label", name, raw)
    d = raw[name]
    where = f"labels.toml [{name}]"
    kind = d.get("kind")
    if kind not in _LABEL_KINDS:
        raise DetectionError(f"{where}: kind {kind!r}; allowed: {', '.join(_LABEL_KINDS)}")
    missing = [f for f in _DIRECT_FIELDS if f not in d] if d.get("direct", False) else []
    if missing:
        raise DetectionError(f"{where}: a direct label needs {', '.join(missing)}")
    sources: dict[str, str] = {}
    kw: dict[str, Any] = {}
    for key, value in d.items():
        if key in ("kind", "direct", "assays", "description", "nuclide", "debris_to_local_macrophages"):
            continue
        if key == "unbound_space":
            if value not in UNBOUND_SPACES:
                raise DetectionError(f"{where}: unbound_space {value!r}; allowed: {', '.join(UNBOUND_SPACES)}")
            kw[key] = value
            continue
        if isinstance(value, Mapping):
            sources[key] = value.get("source", "")
        if key == "unbound_fate":
            fate = {k: float(v) for k, v in value.items() if k != "source"}
            if abs(sum(fate.values()) - 1.0) > 1e-9 or any(v < 0 for v in fate.values()):
                raise DetectionError(f"{where}: unbound_fate fractions must be >= 0 and sum to 1")
            kw[key] = MappingProxyType(fate)
        else:
            kw[key] = _num(value, f"{where} {key}")
    for a in d.get("assays", []):
        if a not in ASSAYS:
            raise DetectionError(f"{where}: unknown assay {a!r}")
    return LabelInfo(name=name, kind=kind, direct=bool(d.get("direct", False)),
                     assays=tuple(d.get("assays", ())), description=d.get("description", ""),
                     nuclide=d.get("nuclide"),
                     debris_to_local_macrophages=bool(d.get("debris_to_local_macrophages", False)),
                     sources=MappingProxyType(sources), **kw)


@functools.lru_cache(maxsize=None)
def method_info(assay: str) -> MethodInfo:
    """The packaged :class:`MethodInfo` of ``assay``; :class:`DetectionError` if unknown."""
    raw = _methods_raw()
    if not isinstance(assay, str) or assay not in raw:
        raise _unknown("assay", assay, ASSAYS)
    d = raw[assay]
    where = f"methods.toml [{assay}]"
    sample = {k: _num(v, f"{where} sample.{k}") for k, v in d.get("sample", {}).items()}
    sources = {"detection_limit": d["detection_limit"]["source"], "cv": d["cv"]["source"],
               **{f"sample.{k}": v.get("source", "") for k, v in d.get("sample", {}).items()}}
    thr = d.get("per_cell_threshold")
    if thr is not None:
        sources["per_cell_threshold"] = thr.get("source", "")
    review = {k[len("review_"):]: v for k, v in d.items() if k.startswith("review_")}
    if d.get("standard_label") not in _labels_raw():
        raise DetectionError(f"{where}: standard_label {d.get('standard_label')!r} is not a label of labels.toml")
    return MethodInfo(assay=assay, name=d["name"], unit=d["unit"], sees=d["sees"],
                      sampling=d["sampling"],
                      detection_limit_cells=_num(d["detection_limit"], f"{where} detection_limit"),
                      cv=_num(d["cv"], f"{where} cv"), sample=MappingProxyType(sample),
                      per_cell_threshold=None if thr is None else _num(thr, f"{where} per_cell_threshold"),
                      standard_label=d["standard_label"],
                      alternatives=tuple(MappingProxyType(dict(a)) for a in d.get("detection_limit_alternatives", [])),
                      review=MappingProxyType(review), sources=MappingProxyType(sources))


def supported_assays(label: str, origin: str = "allogeneic") -> tuple[str, ...]:
    """Assays that can see a product with this ``label`` and ``origin``, in :data:`ASSAYS` order.

    The label's own assays (e.g. ``bli`` for luciferase, ``spect`` for 111In-oxine), plus
    ``qpcr``, ``flow`` and ``ihc`` for a xenogeneic product (species-specific sequence such as
    human Alu, species-specific antibodies such as anti-human nuclei or HLA). qPCR of a
    genetic reporter's transgene is listed among the reporter labels' own assays.

    >>> supported_assays("luciferase", "syngeneic")
    ('qpcr', 'ihc', 'bli')
    """
    allowed = set(label_info(label).assays)
    if origin == "xenogeneic":
        allowed.update(XENOGENEIC_ASSAYS)
    return tuple(a for a in ASSAYS if a in allowed)


def check_assay(assay: str, label: str, origin: str) -> None:
    """Raise :class:`DetectionError` unless ``assay`` can see a ``label``/``origin`` product."""
    method_info(assay)  # unknown assay -> error
    allowed = supported_assays(label, origin)
    if assay in allowed:
        return
    labels_for = [n for n in label_names() if assay in label_info(n).assays]
    extra = " or a xenogeneic product (species-specific sequence / antibodies)" if assay in XENOGENEIC_ASSAYS else ""
    raise DetectionError(
        f"assay {assay!r} cannot see a product labelled {label!r} (origin {origin!r}); "
        f"it needs label {' / '.join(labels_for) or '(none)'}{extra}; "
        f"assays possible here: {', '.join(allowed) or 'none'}")


def knowledge_table(name: str):
    """A knowledge table of the review as a pandas DataFrame.

    ``name``: ``"products"`` (review Table 1: indication, product, market, cell source,
    origin, chemokines, route, and the matching mscpk route), ``"methods"`` (review Table 2:
    clinical use, in vivo, single-cell resolution, detection limit [cells], strengths,
    weaknesses, plus mscpk's defaults: unit, CV, sampling, alternatives) or ``"labels"``
    (the cell labels and their kinetics).

    Example
    -------
    >>> from mscpk.analysis.detection import knowledge_table
    >>> knowledge_table("products")["product"].tolist()[:3]
    ['Osteocel', 'Prochymal', 'Temcell']
    """
    import pandas as pd

    if name == "products":
        with _data_dir().joinpath("products.csv").open("r", encoding="utf-8") as fh:
            return pd.read_csv(fh, keep_default_na=False)
    if name == "methods":
        rows = []
        for a in ASSAYS:
            m = method_info(a)
            r = m.review
            rows.append({
                "assay": a, "method": r["method"], "method_zh": r["method_zh"],
                "clinical": r["clinical"], "in_vivo": r["in_vivo"], "single_cell": r["single_cell"],
                "detection_limit_cells": float(r["detection_limit_cells"]),
                "strengths": r["strengths"], "weaknesses": r["weaknesses"],
                "strengths_zh": r["strengths_zh"], "weaknesses_zh": r["weaknesses_zh"],
                "unit": m.unit, "sees": m.sees, "sampling": m.sampling, "cv": m.cv,
                "labels": "; ".join(n for n in label_names() if a in label_info(n).assays)
                          + ("; any xenogeneic product" if a in XENOGENEIC_ASSAYS else ""),
                "detection_limit_alternatives": "; ".join(
                    f"{alt['value']:g} {alt['unit']} ({alt['source']})" for alt in m.alternatives),
                "source": "review Table 2 (Wei M et al., China Pharmaceutical University); "
                          + m.sources["detection_limit"],
            })
        return pd.DataFrame(rows)
    if name == "labels":
        rows = []
        for n in label_names():
            li = label_info(n)
            rows.append({
                "label": n, "kind": li.kind, "direct": li.direct,
                "assays": "; ".join(li.assays), "description": li.description,
                "half_life_h": li.half_life_h, "efflux_half_life_h": li.efflux_half_life_h,
                "retained_in_cells_24h": math.exp(-li.rate("efflux_half_life_h") * 24.0),
                "dead_release_half_life_h": li.dead_release_half_life_h,
                "unbound_fate": "; ".join(f"{k} {v:g}" for k, v in li.unbound_fate.items()),
                "labelled_fraction": li.labelled_fraction,
                "background_photons_per_s": li.background_photons_per_s,
                "sources": " | ".join(f"{k}: {v}" for k, v in li.sources.items()),
            })
        return pd.DataFrame(rows)
    raise _unknown("knowledge table", name, KNOWLEDGE_TABLES)


__all__ = ["LABEL_RULES", "UNBOUND_SPACES", "check_number", "ASSAYS", "ASSAY_UNITS", "XENOGENEIC_ASSAYS", "KNOWLEDGE_TABLES", "LabelInfo", "MethodInfo",
           "label_names", "label_info", "method_info", "supported_assays", "check_assay", "knowledge_table",
           "detection_constants"]
