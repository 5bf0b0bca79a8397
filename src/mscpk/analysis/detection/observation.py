"""Observation models: what each assay or imaging method would report, per site and time.

:func:`readout` turns a :class:`~mscpk.analysis.detection.context.Context` (the engine's live
and dead cells, the label kinetics, the method in force) into the noise-free signal of one
assay in its INTERFACE unit, with its detection limit and expected counts; :func:`observe`
adds counting and log-normal noise and returns the tidy table. What each assay sees:
docs/detection.md ("Observation models").

>>> df = observe("examples/iv_mouse.toml", "spect", label="111In-oxine", times_h=[1, 24])
>>> df.query("site == 'whole_body'")["value"].round(1).tolist()  # % injected activity in the body
[100.0, 92.4]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.analysis.detection.context import EX_VIVO, Context, make_context
from mscpk.analysis.detection.labels import LABEL_PARTS, label_positive_fraction
from mscpk.analysis.detection.noise import counted, lognormal_factor, rng_from_seed
from mscpk.errors import DetectionError
from mscpk.inputs.catalogue import ASSAY_UNITS, LabelInfo, check_assay, check_number, detection_constants
from mscpk.inputs.detection import DetectionParameterError, label_parameter_name, method_parameter_name

#: [%ID] all of the injected activity: the largest value a % injected activity can take.
ALL_INJECTED = 100.0


def _check_finite(ro: "Readout", ctx: Context) -> None:
    """Refuse a readout that is not finite (detection settings far outside physical values)."""
    for what, x in (("signal", ro.expected), ("detected cells", ro.detected_cells),
                    ("detection limit", ro.limit), ("detection limit [cells]", ro.limit_cells)):
        if not np.isfinite(x).all():
            given = ", ".join(f"{k!r} = {v:g}" for k, v in ctx.inputs.detection.overrides.items())
            raise DetectionParameterError(
                f"{ro.assay} ({ro.label}): the {what} is not a finite number with the detection settings in force "
                f"({given or 'label options or packaged values'}); give physically possible values")


@dataclass
class Readout:
    """Noise-free readout of one assay: arrays ``(T, S)`` over ``times_h`` x ``sites``.

    ``expected`` [unit]; ``detected_cells`` [cells] compared with ``limit_cells`` [cells]
    (per site); ``limit`` [unit]; ``counts`` expected counts (None: no counting noise);
    ``sampled_fraction`` per site (ex vivo); ``background`` optical background per site
    [unit] (bli, fluorescence; None otherwise) and ``background_counts`` its expected counts;
    ``parts``: ``detected_cells`` by where the signal comes from (``live`` cells, ``dead``
    cell material, label held by ``host`` macrophages, ``unbound`` label in blood; they sum to
    ``detected_cells``); ``reachable``: False where even all of the injected activity would
    stay below the limit (spect, pet; None: reachable everywhere).
    """

    assay: str
    unit: str
    label: str
    times_h: np.ndarray
    sites: tuple[str, ...]
    expected: np.ndarray
    detected_cells: np.ndarray
    limit_cells: np.ndarray
    limit: np.ndarray
    counts: np.ndarray | None
    cv: float
    sampled_fraction: np.ndarray
    true_live: np.ndarray
    true_dead: np.ndarray
    notes: list[str] = field(default_factory=list)
    background: np.ndarray | None = None
    background_counts: np.ndarray | None = None
    parts: Mapping[str, np.ndarray] = field(default_factory=dict)
    reachable: np.ndarray | None = None

    def margin(self, part: str | None = None) -> np.ndarray:
        """Detected cells over the detection limit ``(T, S)`` (>= 1: detectable) of the whole
        signal or of one of its ``parts``; 0 where the limit cannot be reached. The whole-body
        region holds every site: it is detectable when its sum is or any site is."""
        det = self.detected_cells if part is None else self.parts.get(part, np.zeros_like(self.detected_cells))
        r = np.divide(det, self.limit_cells, out=np.zeros_like(det), where=det > 0)
        if self.reachable is not None:
            r = np.where(self.reachable, r, 0.0)
        if "whole_body" in self.sites:
            j = self.sites.index("whole_body")
            r[:, j] = np.maximum(r[:, j], r[:, :j].max(axis=1, initial=0.0))
        return r


def dilutes(assay: str, info: LabelInfo) -> bool:
    """True when a division time changes ``assay``'s readout of label ``info``: flow and ihc
    count cells above a per-cell threshold of a direct label, which division dilutes (the
    total label, which every other readout sees, does not change)."""
    return assay in ("flow", "ihc") and assay in info.assays and info.direct


def division_error(division_time_h: float, changes: str) -> DetectionError:
    """The error for a division time that changes ``changes`` (``"nothing for bli ..."``)."""
    return DetectionError(f"division time (--division-time, division_time_h) {division_time_h:g} h changes {changes}; "
                          "it dilutes the label per cell, which only flow and ihc of a direct label (a dye, SPIO) see")


#: What a qPCR reads: genomic DNA (live and dead cells) or a transcript (RT-qPCR: live cells).
NUCLEIC_ACIDS = ("dna", "rna")


def readout(ctx: Context, assay: str, *, decay_correct: bool = True,
            detection_limit: float | None = None, detection_limit_ratio: float | None = None,
            cv: float | None = None, sampled_fraction: float | None = None,
            division_time_h: float = math.inf, nucleic_acid: str = "dna") -> Readout:
    """Noise-free :class:`Readout` of ``assay`` in context ``ctx`` (docs/detection.md); options as
    in :func:`observe`."""
    m = ctx.method(assay)  # unknown assay -> DetectionError
    info = ctx.label
    check_assay(assay, info.name, ctx.scenario.product.origin)
    detection_limit, detection_limit_ratio, cv, sampled_fraction = (
        None if v is None else check_number(name, v, rule) for name, v, rule in (
            ("detection limit", detection_limit, "pos"), ("detection limit ratio", detection_limit_ratio, "pos"),
            ("cv", cv, "nonneg"), ("sampled fraction", sampled_fraction, "frac")))
    if not (division_time_h > 0):
        raise DetectionError(f"division_time_h: {division_time_h!r} must be > 0 (inf = no division)")
    if math.isfinite(division_time_h) and not dilutes(assay, info):
        raise division_error(division_time_h, f"nothing for {assay} with label {info.name!r}")
    if detection_limit_ratio is not None and assay not in EX_VIVO:
        raise DetectionError(f"a detection limit ratio (donor per host cell) applies to qpcr, flow and ihc, not {assay!r}")
    t = ctx.times
    sites = list(ctx.sites)
    imaging_sum = assay in ("bli", "fluorescence", "spect", "pet")  # planar images: a whole-body region
    own = assay in info.assays  # the label itself serves the assay (else a species marker)
    notes: list[str] = []
    T, S = len(t), len(sites)
    live_arr, dead_arr = ctx.cells("live_cells"), ctx.cells("dead_cells")
    frac = np.array([ctx.sampled_fraction(m, s) if sampled_fraction is None else sampled_fraction for s in sites])
    lod_cells = np.full(S, m.detection_limit_cells if detection_limit is None else detection_limit)
    if detection_limit_ratio is not None:
        for j, s in enumerate(sites):
            host = ctx.host_cells(s)  # a depot sample: an assumed number of host cells
            lod_cells[j] = detection_limit_ratio * (host if host is not None else
                                                    detection_constants()["depot_host_cells"])
    conv = np.ones((T, S))  # unit value per detected cell
    bg = None  # optical background per site [photons/s]
    bg_counts_per_unit = 0.0

    def positive_live() -> np.ndarray:
        """Live label-positive cells per site (direct labels: per-cell threshold)."""
        if not own or not info.direct:
            return live_arr * (info.labelled_fraction if own else 1.0)
        kin = ctx.kinetics()
        out = np.zeros((T, S))
        ret = np.exp(-info.rate("efflux_half_life_h") * np.maximum(t[None, :] - np.asarray(kin.group_times_h)[:, None], 0))
        for g, live_label in enumerate(kin.live_group_by_site()):
            pos = label_positive_fraction(t, info, m.per_cell_threshold, division_time_h=division_time_h,
                                          label_time_h=kin.group_times_h[g])
            for j, s in enumerate(sites):
                if s in live_label:  # label-positive cells of group g: their label / label kept per cell
                    out[:, j] += np.divide(live_label[s], ret[g], out=np.zeros(T), where=ret[g] > 0) * pos
        return out

    def label_parts(decay: bool = True, parts: Sequence[str] = LABEL_PARTS,
                    regions: bool = False) -> dict[str, np.ndarray]:
        """Label units ``(T, S)`` per site in each of the label ``parts`` (decay-corrected or not;
        ``regions``: an organ's region also holds the label in the organ's blood)."""
        kin = ctx.kinetics()
        out = {}
        for p in parts:
            bs = kin.by_site(decay_correct=decay, parts=(p,), regions=regions)
            out[p] = np.column_stack([bs.get(s, np.zeros(T)) for s in sites])
        if "unbound" in out and "blood" in sites and (regions or info.unbound_space == "extracellular"):
            # free label: in plasma (an organ's region holds its blood's share) or spread through
            # the extracellular fluid (organs hold their interstitium); docs/detection.md
            share = {s: x for s, x in (ctx.extracellular_shares(regions) if info.unbound_space == "extracellular"
                                       else ctx.region_blood_shares()).items() if s in sites and s != "blood"}
            free, b = out["unbound"], sites.index("blood")
            pool = free[:, b].copy()
            for s, x in share.items():
                free[:, sites.index(s)] += x * pool
            free[:, b] = pool * (1.0 - sum(share.values()))
        return out

    if nucleic_acid not in NUCLEIC_ACIDS:
        raise DetectionError(f"nucleic_acid: {nucleic_acid!r} is not allowed; allowed: {', '.join(NUCLEIC_ACIDS)}")
    if nucleic_acid != "dna" and assay != "qpcr":
        raise DetectionError(f"nucleic_acid applies to qpcr only, not {assay!r}")
    if assay == "qpcr" and nucleic_acid == "rna":
        parts = {"live": live_arr}
        notes.append("RT-qPCR of a donor transcript counts live donor cells only (the mRNA of dead cells is "
                     "degraded within hours; data/detection/methods.toml)")
    elif assay == "qpcr":
        parts = {"live": live_arr, "dead": dead_arr}
        notes.append("qPCR counts live and dead (not yet degraded) donor cells: "
                     + ("transgene of the reporter" if own else "species-specific sequence (xenogeneic product)"))
    elif assay in ("flow", "ihc"):
        parts = {"live": positive_live()}
        if assay == "ihc" and own and info.kind in ("particle", "dye"):
            parts.update(label_parts(parts=("dead", "host")))
            notes.append(f"{info.name} on sections also stains dead material and label-laden macrophages")
    elif assay in ("bli", "fluorescence"):
        mu = info.mu_eff_per_mm
        flux = info.photons_per_cell_per_s
        if mu is None or flux is None:
            raise DetectionError(f"label {info.name!r} has no optical properties for {assay}")
        ref = m.sample["reference_depth_mm"]
        deepest = max(o.depth_mm for o in ctx.species.organs.values())
        if ref > deepest:
            raise DetectionParameterError(
                f"parameter {method_parameter_name(assay, 'sample.reference_depth_mm')!r}: value {ref:g} mm is deeper "
                f"than any organ of this {ctx.species.name} (deepest {deepest:g} mm); the detection limit must refer "
                f"to a depth in the body: allowed 0-{deepest:g} mm")
        att = np.array([ctx.attenuation(s, mu) for s in sites])
        att_ref = math.exp(-mu * ref)
        if info.direct:  # membrane dye: all dye, wherever it is
            parts = label_parts()
            notes.append(f"{info.name} fluoresces in live cells, dead material and macrophages alike")
        else:
            parts = {"live": live_arr * info.labelled_fraction}
        val = sum(parts.values()) * flux * att[None, :]
        parts = {p: x * att[None, :] / att_ref for p, x in parts.items()}
        conv[:] = flux * att_ref
        bg_counts_per_unit = m.sample["exposure_s"] * m.sample["collection_efficiency"]
        bg = np.full(S, float(info.background_photons_per_s))
    elif assay == "mri":
        parts = label_parts()
        notes.append("MRI sees SPIO iron in live cells, dead material and macrophages alike")
    elif assay in ("spect", "pet"):
        adm = np.asarray(ctx.result.administered, dtype=float)
        inv = np.divide(100.0, adm, out=np.zeros_like(adm), where=adm > 0)
        sens = m.sample["sensitivity_counts_per_decay"] * m.sample["acquisition_s"]
        if info.direct:
            if not info.radioactive:
                raise DetectionError(f"label {info.name!r} is not radioactive")
            parts = label_parts(decay=False, regions=True)  # decayed activity in cell equivalents
            act = sum(parts.values())
            val = (sum(label_parts(regions=True).values()) if decay_correct else act) * inv[:, None]
            counts = act * info.specific_activity_Bq_per_cell * sens
            # unit per detected cell: site-specific when decay-corrected with several groups
            # (inf once the label has decayed below the smallest float: the limit is unreachable)
            body_act = act.sum(axis=1)
            with np.errstate(over="ignore"):
                body_ratio = np.divide(val.sum(axis=1), body_act, out=np.zeros(T), where=body_act > 0)
                conv = np.where(act > 0, np.divide(val, act, out=np.zeros_like(val), where=act > 0),
                                body_ratio[:, None])
                if info.decay_rate > 0:
                    t0 = min(ctx.kinetics().group_times_h)
                    fallback = inv * (np.exp(info.decay_rate * np.maximum(t - t0, 0)) if decay_correct else 1.0)
                    conv = np.where(conv > 0, conv, fallback[:, None])
            notes.append(f"{info.name}: activity of the label wherever it is (cells, debris, macrophages, blood); "
                         "an organ's region includes the label in the organ's blood"
                         + ("; decay-corrected" if decay_correct else "; not decay-corrected"))
        else:  # reporter PET: probe injected before each scan, trapped by live reporter cells
            u = info.probe_uptake_per_cell
            if u * float(adm.max(initial=0.0)) > 1.0:
                raise DetectionParameterError(
                    f"parameter {label_parameter_name(info.name, 'probe_uptake_per_cell')!r}: value {u:g} per cell "
                    f"x {adm.max():g} cells given = {u * adm.max():.3g}: the cells would trap more than all of the "
                    f"probe; allowed: at most 1 / cells given = {1.0 / adm.max():.3g}")
            scan = math.exp(-math.log(2) * info.probe_uptake_time_h / info.probe_half_life_h)  # probe left at the scan
            f_decay = 1.0 if decay_correct else scan
            parts = {"live": live_arr * info.labelled_fraction}
            val = 100.0 * u * parts["live"] * f_decay
            conv[:] = 100.0 * u * f_decay
            counts = info.probe_activity_MBq * 1e6 * u * parts["live"] * scan * sens
            notes.append("reporter PET: % of the injected probe trapped by live reporter cells")
    else:  # pragma: no cover - ctx.method validated the name
        raise DetectionError(f"assay {assay!r} is not implemented")
    det = sum(parts.values())
    if assay in ("qpcr", "flow", "ihc", "mri"):  # the readout counts cell equivalents
        val = det.copy()
        counts = det * frac if assay != "mri" else None
    elif assay in ("bli", "fluorescence"):
        counts = val * bg_counts_per_unit
    with np.errstate(over="ignore"):  # an overflowing limit is unreachable (capped below)
        limit = lod_cells[None, :] * conv
    if imaging_sum:
        sites.append("whole_body")
        val, det, counts, live_arr, dead_arr = (np.column_stack([x, x.sum(axis=1)])
                                                for x in (val, det, counts, live_arr, dead_arr))
        parts = {p: np.column_stack([x, x.sum(axis=1)]) for p, x in parts.items()}
        lod_cells = np.append(lod_cells, lod_cells[0])  # imaging: the same limit everywhere
        with np.errstate(over="ignore"):  # as conv above
            body_conv = np.divide(val[:, -1], det[:, -1], out=conv[:, 0].copy(), where=det[:, -1] > 0)
            limit = np.column_stack([limit, lod_cells[-1] * body_conv])
        frac = np.append(frac, 1.0)
        if bg is not None:  # the whole-body region holds every site's background
            bg = np.append(bg, bg.sum())
    if bg is not None and bg.any():
        # background-aware limit: the signal must reach k x background as well as the
        # Table 2 limit (optical conv is the same at every time and site)
        k_bg = float(m.sample["signal_to_background_min"])
        bg_cells = k_bg * bg / (flux * att_ref)  # flux x att_ref: unit value per detected cell
        if (bg_cells > lod_cells).any():
            lod_cells = np.maximum(lod_cells, bg_cells)
            limit = np.maximum(limit, (k_bg * bg)[None, :])
            notes.append(f"{info.name}: optical background {info.background_photons_per_s:g} photons/s per site "
                         f"raises the detection limit to {k_bg:g} x background where that exceeds the "
                         f"Table 2 limit")
    reachable = None
    if ASSAY_UNITS[assay] == "percent_injected_activity" and (limit > ALL_INJECTED).any():
        # a limit above all of the injected activity cannot be reached: nothing is detectable
        reachable = limit <= ALL_INJECTED
        first = float(t[np.flatnonzero(~reachable.all(axis=1))[0]])
        limit = np.minimum(limit, ALL_INJECTED)
        why = "the label has decayed" if decay_correct and info.decay_rate > 0 else "fewer cells given than the limit"
        notes.append(f"{info.name}: from {first:g} h even all of the injected activity would be below the {assay} "
                     f"detection limit ({why}); the limit is shown as {ALL_INJECTED:g} %ID there and nothing is "
                     "detectable")
    ro = Readout(assay, ASSAY_UNITS[assay], info.name, t, tuple(sites), val, det,
                 np.broadcast_to(lod_cells, det.shape).copy(), limit,
                 counts, m.cv if cv is None else cv, frac,
                 live_arr, dead_arr, notes, bg,
                 None if bg is None else bg * bg_counts_per_unit, parts, reachable)
    _check_finite(ro, ctx)
    return ro


def noisy(ro: Readout, rng: np.random.Generator, animal_factor: np.ndarray | float = 1.0) -> np.ndarray:
    """One noisy realisation of ``ro.expected`` (counting noise x log-normal CV x animal)."""
    bgc = ro.background_counts
    j = ro.sites.index("whole_body") if "whole_body" in ro.sites else len(ro.sites)  # whole body: sum of the sites
    v = ro.expected[:, :j]
    if ro.counts is not None:
        v = counted(rng, v, ro.counts[:, :j], None if bgc is None else bgc[None, :j])
    v = v * lognormal_factor(rng, ro.cv, v.shape) * animal_factor
    return v if j == len(ro.sites) else np.column_stack([v, v.sum(axis=1)])


def observe(source, assay: str, *, scenario=None, label: str | None = None,
            times_h: Sequence[float] | None = None, decay_correct: bool = True, seed=None,
            detection_limit: float | None = None, detection_limit_ratio: float | None = None,
            cv: float | None = None, sampled_fraction: float | None = None,
            division_time_h: float = math.inf, label_options: Mapping[str, Any] | None = None,
            params=None, nucleic_acid: str = "dna"):
    """Simulated readout of one assay: a tidy table, one row per time x site.

    Parameters
    ----------
    source : Scenario, path to a scenario TOML, or :class:`~mscpk.engine.result.Result`
        (a Result needs ``scenario=`` as well).
    assay : one of ``qpcr, flow, ihc, bli, fluorescence, mri, spect, pet``.
    label : overrides the product's label (one of :func:`mscpk.inputs.catalogue.label_names`).
    times_h : output times [h] (default: the scenario's grid).
    decay_correct : spect/pet values decay-corrected (default) or not.
    seed : None gives the noise-free readout; an int or ``numpy.random.Generator`` adds
        counting and log-normal noise (reproducibly).
    detection_limit : [cells in the whole site] (default: review Table 2).
    detection_limit_ratio : donor cells per host cell in the sample (qpcr, flow, ihc), e.g.
        1e-5 for 1 human cell in 1e5 mouse cells (C8); overrides ``detection_limit``.
    cv : log-normal measurement CV [-] (default: the method's).
    sampled_fraction : fraction of each site analysed (ex vivo; default from the method).
    division_time_h : cell division time [h] for label dilution per cell (default: none).
    label_options : overrides of label properties (e.g. ``{"mu_eff_per_mm": 2.0}``).
    nucleic_acid : qpcr only: "dna" (default; a genomic sequence, in live and not yet degraded
        dead cells) or "rna" (RT-qPCR of a donor transcript: live cells only).

    Returns
    -------
    pandas.DataFrame with columns ``time_h, site, assay, value, unit, detectable`` first, then
    ``expected`` (noise-free value), ``limit`` (detection limit in the value's unit),
    ``detection_limit_cells``, ``label``, ``true_live_cells``, ``true_dead_cells``,
    ``sampled_fraction``, ``background`` (optical background of the region [photons/s];
    0 for non-optical assays). For bli and fluorescence ``limit`` is background-aware:
    max(Table 2 limit, ``signal_to_background_min`` x ``background``); for spect and pet it is
    at most 100 %ID: where even all of the injected activity would stay below the detection
    limit (a decayed label) the limit reads 100 and nothing is detectable (see the notes).
    ``whole_body`` (imaging) is detectable when its summed region is or any site is. Detection
    parameters in the scenario's ``[parameters]`` apply (:mod:`mscpk.inputs.detection`).

    Raises
    ------
    DetectionError : unknown assay or label, an assay the label cannot support (e.g. ``bli``
        without luciferase), a negative detection limit, ...

    Example
    -------
    >>> df = observe("examples/iv_mouse.toml", "qpcr", label="luciferase", times_h=[24])
    >>> lung = df.query("site == 'lung'").iloc[0]
    >>> lung.unit, bool(lung.detectable), round(float(lung.value), -4)
    ('cells', True, 270000.0)
    """
    import pandas as pd

    ctx = make_context(source, scenario=scenario, label=label, times_h=times_h, params=params,
                       label_options=label_options)
    ro = readout(ctx, assay, decay_correct=decay_correct, detection_limit=detection_limit,
                 detection_limit_ratio=detection_limit_ratio, cv=cv, sampled_fraction=sampled_fraction,
                 division_time_h=division_time_h, nucleic_acid=nucleic_acid)
    rng = rng_from_seed(seed)
    value = ro.expected if rng is None else noisy(ro, rng)
    detectable = (value >= ro.limit) & (value > 0)
    if ro.reachable is not None:
        detectable &= ro.reachable
    if "whole_body" in ro.sites:  # the whole-body region holds every site
        detectable[:, -1] |= detectable[:, :-1].any(axis=1)
    T, S = value.shape
    df = pd.DataFrame({
        "time_h": np.repeat(ro.times_h, S),
        "site": np.tile(np.array(ro.sites, dtype=object), T),
        "assay": assay,
        "value": value.reshape(-1),
        "unit": ro.unit,
        "detectable": detectable.reshape(-1),
        "expected": ro.expected.reshape(-1),
        "limit": ro.limit.reshape(-1),
        "detection_limit_cells": ro.limit_cells.reshape(-1),
        "label": ro.label,
        "true_live_cells": ro.true_live.reshape(-1),
        "true_dead_cells": ro.true_dead.reshape(-1),
        "sampled_fraction": np.tile(ro.sampled_fraction, T),
        "background": np.tile(np.zeros(S) if ro.background is None else ro.background, T),
    })
    df.attrs["notes"] = list(ro.notes)
    return df


def expected_signals(result, scenario, assays: Sequence[str], *, label: str | None = None,
                     params=None, decay_correct: bool = True,
                     label_options: Mapping[str, Any] | None = None
                     ) -> dict[str, tuple[tuple[str, ...], np.ndarray, str]]:
    """Noise-free expected readout of several assays from one simulated ``result``.

    Returns ``{assay: (sites, expected, unit)}``; ``expected`` has shape ``(T, S)`` over
    ``result.times_h`` x ``sites`` and is in the assay's INTERFACE unit (as the ``expected``
    column of :func:`observe`). One context is shared by all assays, so the label kinetics of
    a direct label are solved once (with the same solver as ``result``). ``params``: the
    parameter set ``result`` was simulated with (needed only to rebuild the network of a
    Result that has none). Raises
    :class:`DetectionError` for an assay the label (and product origin) cannot support.
    Used by :mod:`mscpk.analysis.fitting` to pass each datum through its assay's observation model.
    """
    ctx = make_context(result, scenario=scenario, label=label, params=params,
                       label_options=label_options)
    out: dict[str, tuple[tuple[str, ...], np.ndarray, str]] = {}
    for a in assays:
        ro = readout(ctx, a, decay_correct=decay_correct)
        out[a] = (tuple(ro.sites), ro.expected, ro.unit)
    return out


__all__ = ["observe", "readout", "Readout", "noisy", "expected_signals", "dilutes", "division_error", "ALL_INJECTED"]
