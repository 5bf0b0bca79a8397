"""Observation models: what each assay or imaging method would report.

For each assay the model computes, per site and time:

* ``expected``: the noise-free readout in the assay's unit (INTERFACE: ``cells`` for qpcr,
  flow, ihc, mri; ``photons_per_s`` for bli, fluorescence; ``percent_injected_activity`` for
  spect, pet, decay-corrected unless ``decay_correct=False``);
* ``detected cells``: the cell equivalents the detection limit is compared with, and the
  detection limit (review Table 2 by default, in cells) converted to the readout's unit
  (column ``limit``);
* with a random generator: counting (Poisson) noise of the cells in the sampled fraction of
  tissue (qpcr, flow, ihc), of detected photons (bli, fluorescence) or of detected decays
  (spect, pet), times a log-normal measurement error with the method's CV (mean 1).

What each assay sees (ground truth: the engine's live and dead cells, and the label kinetics
of :mod:`mscpk.analysis.detection.labels`):

========== ===================================================================================
qpcr       live + dead-not-yet-degraded cells (donor DNA: human Alu for a xenogeneic product,
           the transgene of a reporter label), whole site, from a DNA aliquot of the tissue
flow       live label-positive donor cells (dye above the per-cell threshold after dilution by
           division; fluorescent protein; or species-specific antibodies for a xenogeneic
           product); host cells gated out
ihc        as flow, on a few sections; for SPIO (Prussian blue) and membrane dyes also the label
           in dead material and macrophages, which stains alike
bli        live luciferase cells x photons per cell x exp(-mu_eff depth), planar projection
fluorescence  fluorescent protein: live cells; membrane dye: all dye (live, dead, macrophages);
           x photons per cell x exp(-mu_eff depth)
mri        SPIO iron in cell equivalents: live cells, dead material and macrophages alike
spect/pet  direct radiolabel: activity wherever it is (cells, debris, macrophages, unbound in
           blood), as % of the injected activity; reporter PET: probe trapped by live cells
========== ===================================================================================

Optical background (bli, fluorescence): each site's region of interest has a background
``background_photons_per_s`` (autofluorescence, instrument; per label in ``labels.toml``);
the whole-body region has the sum. A region is detectable when its (background-subtracted)
signal reaches both the Table 2 limit and ``signal_to_background_min`` x background, so the
detection limit is the larger of the two; counting noise includes the background's photons.

Label and method properties can be overridden by name from a scenario's ``[parameters]``
(e.g. ``"Luciferase photons per cell [photons/s]"``, ``"qPCR detection limit [cells]"``;
see :mod:`mscpk.inputs.detection`).

Imaging methods add a ``whole_body`` row (sum over sites: the whole-body region of a planar
image). Circulating cells count under ``blood`` (attenuated by the volume-weighted mean depth
of the organs for optical methods). Sites ``eliminated`` are never observed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.errors import DetectionError
from mscpk.analysis.detection.labels import (LabelKinetics, _solve, label_positive_fraction, resolve, resolve_label)
from mscpk.inputs.detection import settings_of
from mscpk.inputs.resolve import cell_scenario
from mscpk.inputs.catalogue import ASSAY_UNITS, ASSAYS, LabelInfo, MethodInfo, check_assay, method_info, supported_assays

IMAGING = ("bli", "fluorescence", "mri", "spect", "pet")
EX_VIVO = ("qpcr", "flow", "ihc")
DEPOT_DEPTH_PROXY = {"peritoneum": "gut", "csf": "brain", "airway": "lung"}
#: Assumed depth of a joint below the skin in a 25 g mouse [mm], scaled with BW^(1/3).
JOINT_DEPTH_MM_MOUSE = 1.0
#: Assumed host cells in a depot sample (lavage, joint) for ratio-based limits [cells].
DEPOT_HOST_CELLS = 1e6


def _check_positive(name: str, value: float | None, allow_zero: bool = False) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DetectionError(f"{name}: {value!r} is not a number") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise DetectionError(f"{name}: {v!r} must be a finite number > 0")
    return v


@dataclass
class _Context:
    scenario: Any
    result: Any
    label: LabelInfo
    species: Any
    params: Any = None
    _kin: LabelKinetics | None = None

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.result.times_h, dtype=float)

    def method(self, assay: str) -> MethodInfo:
        """The method in force: packaged data with the scenario's detection parameters."""
        return settings_of(self.scenario).method(assay)

    def kinetics(self) -> LabelKinetics:
        if self._kin is None:
            self._kin = _solve(self.scenario, self.result, self.label, self.params)
        return self._kin

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(s for s in self.result.sites if s != "eliminated")

    def live(self, site: str) -> np.ndarray:
        return np.asarray(self.result.quantity(site, "live_cells"), dtype=float)

    def dead(self, site: str) -> np.ndarray:
        return np.asarray(self.result.quantity(site, "dead_cells"), dtype=float)

    # ---- physiology helpers -----------------------------------------------------------
    def host_cells(self, site: str, blood_cells_per_mL: float = 7e6) -> float | None:
        sp = self.species
        if site in sp.organs:
            return sp.organs[site].volume_L * 1000.0 * sp.cells_per_gram_tissue
        if site == "blood":
            return sp.blood_volume_L * 1000.0 * blood_cells_per_mL
        return None

    def depth_mm(self, site: str) -> float | None:
        sp = self.species
        if site in sp.organs:
            return sp.organs[site].depth_mm
        if site in DEPOT_DEPTH_PROXY and DEPOT_DEPTH_PROXY[site] in sp.organs:
            return sp.organs[DEPOT_DEPTH_PROXY[site]].depth_mm
        if site == "joint":
            return JOINT_DEPTH_MM_MOUSE * (sp.body_weight_kg / 0.025) ** (1.0 / 3.0)
        if site == "injection_site":
            for d in self.scenario.dose:
                tgt = d.target_site()
                if d.route in ("local", "intramyocardial", "scaffold") and tgt in sp.organs:
                    return sp.organs[tgt].depth_mm
        return None

    def attenuation(self, site: str, mu: float) -> float:
        """Fraction of light escaping from ``site`` [-]: exp(-mu * depth)."""
        sp = self.species
        if site == "blood":
            vols = np.array([o.volume_L for o in sp.organs.values()])
            att = np.array([math.exp(-mu * o.depth_mm) for o in sp.organs.values()])
            return float((vols * att).sum() / vols.sum())
        d = self.depth_mm(site)
        if d is None:
            d = float(np.mean([o.depth_mm for o in sp.organs.values()]))
        return math.exp(-mu * d)


@dataclass
class Readout:
    """Noise-free readout of one assay: arrays ``(T, S)`` over ``times_h`` x ``sites``.

    ``expected`` [unit]; ``detected_cells`` [cells] compared with ``limit_cells`` [cells]
    (per site); ``limit`` [unit]; ``counts`` expected counts (None: no counting noise);
    ``sampled_fraction`` per site (ex vivo); ``background`` optical background per site
    [unit] (bli, fluorescence; None otherwise) and ``background_counts`` its expected counts.
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

    @property
    def detectable(self) -> np.ndarray:
        return (self.detected_cells >= self.limit_cells) & (self.detected_cells > 0)


def _sample_fraction(ctx: _Context, m: MethodInfo, site: str, override: float | None) -> float:
    if override is not None:
        return override
    s = m.sample
    if m.assay not in EX_VIVO:
        return 1.0
    if site not in ctx.species.organs and site != "blood":
        return float(s.get("depot_fraction", 0.5))
    if m.assay == "qpcr":
        analysed = s["dna_analysed_ug"] * 1e-6 / (s["dna_per_cell_pg"] * 1e-12)
        host = ctx.host_cells(site, s.get("blood_nucleated_cells_per_mL", 7e6))
        return min(1.0, analysed / host)
    if m.assay == "flow":
        host = ctx.host_cells(site, s.get("blood_nucleated_cells_per_mL", 7e6))
        return min(1.0, s["events_acquired"] / host)
    # ihc
    if site == "blood":
        return float(s.get("blood_fraction", 1e-3))
    vol_mm3 = ctx.species.organs[site].volume_L * 1e6
    return min(1.0, s["sections"] * s["section_thickness_um"] * 1e-3 / vol_mm3 ** (1.0 / 3.0))


def readout(ctx: _Context, assay: str, *, decay_correct: bool = True,
            detection_limit: float | None = None, detection_limit_ratio: float | None = None,
            cv: float | None = None, sampled_fraction: float | None = None,
            division_time_h: float = math.inf) -> Readout:
    """Noise-free :class:`Readout` of ``assay`` in context ``ctx`` (see the module docstring)."""
    method_info(assay)  # unknown assay -> DetectionError
    m = ctx.method(assay)
    info = ctx.label
    check_assay(assay, info.name, ctx.scenario.product.origin)
    detection_limit = _check_positive("detection limit", detection_limit)
    detection_limit_ratio = _check_positive("detection limit ratio", detection_limit_ratio)
    cv = _check_positive("cv", cv, allow_zero=True)
    sampled_fraction = _check_positive("sampled fraction", sampled_fraction)
    if sampled_fraction is not None and sampled_fraction > 1:
        raise DetectionError(f"sampled fraction: {sampled_fraction!r} must be in (0, 1]")
    if not (division_time_h > 0):
        raise DetectionError(f"division_time_h: {division_time_h!r} must be > 0 (inf = no division)")
    if detection_limit_ratio is not None and assay not in EX_VIVO:
        raise DetectionError(f"a detection limit ratio (donor per host cell) applies to qpcr, flow and ihc, not {assay!r}")
    t = ctx.times
    sites = list(ctx.sites)
    imaging_sum = assay in ("bli", "fluorescence", "spect", "pet")
    own = assay in info.assays  # the label itself serves the assay (else a species marker)
    notes: list[str] = []
    T, S = len(t), len(sites)
    det = np.zeros((T, S))
    val = np.zeros((T, S))
    counts = np.zeros((T, S))
    live_arr = np.column_stack([ctx.live(s) for s in sites]) if S else np.zeros((T, 0))
    dead_arr = np.column_stack([ctx.dead(s) for s in sites]) if S else np.zeros((T, 0))
    frac = np.array([_sample_fraction(ctx, m, s, sampled_fraction) for s in sites])
    lod_cells = np.full(S, m.detection_limit_cells if detection_limit is None else detection_limit)
    if detection_limit_ratio is not None:
        for j, s in enumerate(sites):
            host = ctx.host_cells(s)
            lod_cells[j] = detection_limit_ratio * (host if host is not None else DEPOT_HOST_CELLS)
    conv = np.ones((T, S))  # unit value per detected cell
    has_counts = True
    bg = None  # optical background per site [photons/s]
    bg_counts_per_unit = 0.0

    def positive_live() -> np.ndarray:
        """Live label-positive cells per site (direct labels: per-cell threshold)."""
        if not own or not info.direct:
            return live_arr * (info.labelled_fraction if own else 1.0)
        kin = ctx.kinetics()
        thr = m.per_cell_threshold if m.per_cell_threshold is not None else 0.01
        out = np.zeros((T, S))
        ret = np.exp(-info.rate("efflux_half_life_h") * np.maximum(t[None, :] - np.asarray(kin.group_times_h)[:, None], 0))
        for g, live_label in enumerate(kin.live_group_by_site()):
            pos = label_positive_fraction(t, info, thr, division_time_h=division_time_h,
                                          label_time_h=kin.group_times_h[g])
            for j, s in enumerate(sites):
                ll = live_label.get(s)
                if ll is None:
                    continue
                cells_g = np.divide(ll, ret[g], out=np.zeros_like(ll), where=ret[g] > 0)
                out[:, j] += cells_g * pos
        return out

    def label_all(decay: bool = True) -> np.ndarray:
        bs = ctx.kinetics().by_site(decay_correct=decay)
        return np.column_stack([bs.get(s, np.zeros(T)) for s in sites])

    if assay == "qpcr":
        det = live_arr + dead_arr
        val = det.copy()
        counts = det * frac
        notes.append("qPCR counts live and dead (not yet degraded) donor cells: "
                     + ("transgene of the reporter" if own else "species-specific sequence (xenogeneic product)"))
    elif assay in ("flow", "ihc"):
        det = positive_live()
        if assay == "ihc" and own and info.kind in ("particle", "dye"):
            bs = ctx.kinetics().by_site(parts=("dead", "host"))
            det = det + np.column_stack([bs.get(s, np.zeros(T)) for s in sites])
            notes.append(f"{info.name} on sections also stains dead material and label-laden macrophages")
        val = det.copy()
        counts = det * frac
    elif assay in ("bli", "fluorescence"):
        mu = info.mu_eff_per_mm
        flux = info.photons_per_cell_per_s
        if mu is None or flux is None:
            raise DetectionError(f"label {info.name!r} has no optical properties for {assay}")
        att = np.array([ctx.attenuation(s, mu) for s in sites])
        att_ref = math.exp(-mu * m.sample.get("reference_depth_mm", 0.0))
        if info.direct:  # membrane dye: all dye, wherever it is
            cells = label_all()
            notes.append(f"{info.name} fluoresces in live cells, dead material and macrophages alike")
        else:
            cells = live_arr * info.labelled_fraction
        val = cells * flux * att[None, :]
        det = cells * att[None, :] / att_ref
        conv[:] = flux * att_ref
        bg_counts_per_unit = m.sample["exposure_s"] * m.sample["collection_efficiency"]
        counts = val * bg_counts_per_unit
        bg = np.full(S, float(info.background_photons_per_s))
    elif assay == "mri":
        det = label_all()
        val = det.copy()
        has_counts = False
        notes.append("MRI sees SPIO iron in live cells, dead material and macrophages alike")
    elif assay in ("spect", "pet"):
        adm = np.asarray(ctx.result.administered, dtype=float)
        inv = np.divide(100.0, adm, out=np.zeros_like(adm), where=adm > 0)
        sens = m.sample["sensitivity_counts_per_decay"] * m.sample["acquisition_s"]
        if info.direct:
            if not info.radioactive:
                raise DetectionError(f"label {info.name!r} is not radioactive")
            act = label_all(decay=False)  # decayed activity in cell equivalents
            dc = label_all(decay=True)
            det = act
            val = (dc if decay_correct else act) * inv[:, None]
            counts = act * (info.specific_activity_Bq_per_cell or 1.0) * sens
            # unit per detected cell: site-specific when decay-corrected with several groups
            body_act = act.sum(axis=1)
            body_val = val.sum(axis=1)
            body_ratio = np.divide(body_val, body_act, out=np.zeros_like(body_val), where=body_act > 0)
            conv = np.where(act > 0, np.divide(val, act, out=np.zeros_like(val), where=act > 0),
                            body_ratio[:, None])
            if info.decay_rate > 0:
                lam = info.decay_rate
                t0 = min(ctx.kinetics().group_times_h)
                body_ratio_fallback = inv * (np.exp(lam * np.maximum(t - t0, 0)) if decay_correct else 1.0)
                conv = np.where(conv > 0, conv, body_ratio_fallback[:, None])
            notes.append(f"{info.name}: activity of the label wherever it is (cells, debris, macrophages, blood)"
                         + ("; decay-corrected" if decay_correct else "; not decay-corrected"))
        else:  # reporter PET: probe injected before each scan, trapped by live reporter cells
            u = info.probe_uptake_per_cell
            f_decay = 1.0 if decay_correct else math.exp(-math.log(2) * info.probe_uptake_time_h / info.probe_half_life_h)
            det = live_arr * info.labelled_fraction
            val = 100.0 * u * det * f_decay
            conv[:] = 100.0 * u * f_decay
            counts = (info.probe_activity_MBq * 1e6 * u * det
                      * math.exp(-math.log(2) * info.probe_uptake_time_h / info.probe_half_life_h) * sens)
            notes.append("reporter PET: % of the injected probe trapped by live reporter cells")
    else:  # pragma: no cover - method_info validated the name
        raise DetectionError(f"assay {assay!r} is not implemented")
    if assay in ("qpcr", "flow", "ihc", "mri"):
        conv[:] = 1.0
    limit = lod_cells[None, :] * conv
    if imaging_sum:
        sites.append("whole_body")
        val = np.column_stack([val, val.sum(axis=1)])
        det = np.column_stack([det, det.sum(axis=1)])
        counts = np.column_stack([counts, counts.sum(axis=1)])
        lod_cells = np.append(lod_cells, lod_cells[0] if detection_limit_ratio is None else np.nan)
        body_conv = np.divide(val[:, -1], det[:, -1], out=conv[:, 0].copy(), where=det[:, -1] > 0)
        limit = np.column_stack([limit, lod_cells[-1] * body_conv])
        frac = np.append(frac, 1.0)
        live_arr = np.column_stack([live_arr, live_arr.sum(axis=1)])
        dead_arr = np.column_stack([dead_arr, dead_arr.sum(axis=1)])
        if bg is not None:  # the whole-body region holds every site's background
            bg = np.append(bg, bg.sum())
    if bg is not None and bg.any():
        # background-aware limit: the signal must reach k x background as well as the
        # Table 2 limit (optical conv is the same at every time and site)
        k_bg = float(m.sample.get("signal_to_background_min", 1.0))
        c0 = float(m.sample.get("reference_depth_mm", 0.0))
        unit_per_cell = info.photons_per_cell_per_s * math.exp(-info.mu_eff_per_mm * c0)
        bg_cells = k_bg * bg / unit_per_cell
        raised = bg_cells > lod_cells
        if raised.any():
            lod_cells = np.maximum(lod_cells, bg_cells)
            limit = np.maximum(limit, (k_bg * bg)[None, :])
            notes.append(f"{info.name}: optical background {info.background_photons_per_s:g} photons/s per site "
                         f"raises the detection limit to {k_bg:g} x background where that exceeds the "
                         f"Table 2 limit")
    return Readout(assay, ASSAY_UNITS[assay], info.name, t, tuple(sites), val, det,
                   np.broadcast_to(lod_cells, det.shape).copy(), limit,
                   counts if has_counts else None, m.cv if cv is None else cv, frac,
                   live_arr, dead_arr, notes, bg,
                   None if bg is None else bg * bg_counts_per_unit)


def lognormal_factor(rng: np.random.Generator, cv: float, size) -> np.ndarray:
    """Multiplicative log-normal error with mean 1 and coefficient of variation ``cv``."""
    if cv <= 0:
        return np.ones(size)
    s2 = math.log1p(cv * cv)
    return np.exp(rng.normal(-0.5 * s2, math.sqrt(s2), size))


def counting_factor(rng: np.random.Generator, counts: np.ndarray,
                    background: np.ndarray | float | None = None) -> np.ndarray:
    """Poisson counting noise as a factor ``observed / expected`` (1 where nothing is counted).

    ``background``: expected background counts in the same region (broadcast to ``counts``):
    signal and background are counted together and the expected background is subtracted
    (a negative difference is reported as 0).
    """
    counts = np.asarray(counts, dtype=float)
    lam = np.clip(counts, 0.0, 1e15)
    if background is None or not np.any(background):
        obs = rng.poisson(lam)
    else:
        b = np.broadcast_to(np.clip(np.asarray(background, dtype=float), 0.0, 1e15), lam.shape)
        obs = np.maximum(rng.poisson(lam + b) - b, 0.0)
    return np.divide(obs, lam, out=np.ones_like(lam), where=lam > 0)


def noisy(ro: Readout, rng: np.random.Generator, animal_factor: np.ndarray | float = 1.0) -> np.ndarray:
    """One noisy realisation of ``ro.expected`` (counting noise x log-normal CV x animal)."""
    f = np.ones_like(ro.expected)
    if ro.counts is not None:
        bgc = ro.background_counts
        if "whole_body" in ro.sites:  # whole body = sum of the noisy sites
            j = ro.sites.index("whole_body")
            fc = counting_factor(rng, ro.counts[:, :j], None if bgc is None else bgc[None, :j])
            v = ro.expected[:, :j] * fc * lognormal_factor(rng, ro.cv, fc.shape) * animal_factor
            return np.column_stack([v, v.sum(axis=1)])
        f = counting_factor(rng, ro.counts, None if bgc is None else bgc[None, :])
    return ro.expected * f * lognormal_factor(rng, ro.cv, f.shape) * animal_factor


def _rng(seed) -> np.random.Generator | None:
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise DetectionError(f"seed: {seed!r} is not a valid seed ({exc})") from None


def make_context(source, *, scenario=None, label=None, times_h=None, params=None, label_options=None) -> _Context:
    from mscpk.inputs.resolve import scenario_species

    sc, res = resolve(source, scenario, times_h, params)
    info = resolve_label(sc, label, label_options)
    return _Context(sc, res, info, scenario_species(cell_scenario(sc)), params)


def observe(source, assay: str, *, scenario=None, label: str | None = None,
            times_h: Sequence[float] | None = None, decay_correct: bool = True, seed=None,
            detection_limit: float | None = None, detection_limit_ratio: float | None = None,
            cv: float | None = None, sampled_fraction: float | None = None,
            division_time_h: float = math.inf, label_options: Mapping[str, Any] | None = None,
            params=None):
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

    Returns
    -------
    pandas.DataFrame with columns ``time_h, site, assay, value, unit, detectable`` first, then
    ``expected`` (noise-free value), ``limit`` (detection limit in the value's unit),
    ``detection_limit_cells``, ``label``, ``true_live_cells``, ``true_dead_cells``,
    ``sampled_fraction``, ``background`` (optical background of the region [photons/s];
    0 for non-optical assays). For bli and fluorescence ``limit`` is background-aware:
    max(Table 2 limit, ``signal_to_background_min`` x ``background``). Detection
    parameters in the scenario's ``[parameters]`` apply (:mod:`mscpk.inputs.detection`).

    Raises
    ------
    DetectionError : unknown assay or label, an assay the label cannot support (e.g. ``bli``
        without luciferase), a negative detection limit, ...

    Example
    -------
    >>> from mscpk.analysis.detection import observe
    >>> df = observe("examples/iv_mouse.toml", "spect", label="111In-oxine", times_h=[1, 24])  # doctest: +SKIP
    >>> df.query("site == 'liver'")[["time_h", "value", "unit", "detectable"]]              # doctest: +SKIP
    """
    import pandas as pd

    ctx = make_context(source, scenario=scenario, label=label, times_h=times_h, params=params,
                       label_options=label_options)
    ro = readout(ctx, assay, decay_correct=decay_correct, detection_limit=detection_limit,
                 detection_limit_ratio=detection_limit_ratio, cv=cv, sampled_fraction=sampled_fraction,
                 division_time_h=division_time_h)
    rng = _rng(seed)
    value = ro.expected if rng is None else noisy(ro, rng)
    detectable = (value >= ro.limit) & (value > 0) & np.isfinite(ro.limit)
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


# --------------------------------------------------------------------------------------------
# detection windows
# --------------------------------------------------------------------------------------------
def _crossing(t0: float, t1: float, y0: float, y1: float, level: float) -> float:
    """Time in [t0, t1] where the line (log-linear when both > 0) through y0, y1 hits level."""
    if y0 > 0 and y1 > 0 and level > 0 and y0 != y1:
        f = (math.log(level) - math.log(y0)) / (math.log(y1) - math.log(y0))
    elif y1 != y0:
        f = (level - y0) / (y1 - y0)
    else:
        f = 0.0
    return t0 + min(max(f, 0.0), 1.0) * (t1 - t0)


def intervals(times: np.ndarray, det: np.ndarray, lod: float,
              dose_times_h: Sequence[float] = ()) -> list[tuple[float, float]]:
    """Every interval ``(start_h, end_h)`` where ``det >= lod`` (and > 0), crossings interpolated.

    A signal that drops below the limit and rises again (e.g. a second dose) gives several
    intervals; a single detectable grid time gives a zero-length interval; empty when never
    detectable. The last interval ends at the last grid time when still detectable there.
    ``dose_times_h``: when a dose starts between two grid times the signal rises from it
    (the rising crossing is interpolated from (dose time, 0), not from the earlier grid time).

    >>> format_intervals(intervals(np.array([0., 1, 2, 3, 4]), np.array([5., 5, 0.5, 5, 5]), 1.0))
    '0-1.7;2.3-4'
    """
    times = np.asarray(times, dtype=float)
    det = np.asarray(det, dtype=float)
    ok = (det >= lod) & (det > 0)
    out: list[tuple[float, float]] = []
    n = len(ok)
    k = 0
    while k < n:
        if not ok[k]:
            k += 1
            continue
        i = k
        while k + 1 < n and ok[k + 1]:
            k += 1
        j = k
        if i == 0:
            start = float(times[0])
        else:
            t_prev, y_prev = float(times[i - 1]), float(det[i - 1])
            doses = [d for d in dose_times_h if t_prev < d <= times[i]]
            if doses:
                t_prev, y_prev = max(doses), 0.0
            start = _crossing(t_prev, times[i], y_prev, det[i], lod)
        end = float(times[j]) if j == n - 1 else _crossing(times[j], times[j + 1], det[j], det[j + 1], lod)
        out.append((float(start), float(end)))
        k += 1
    return out


def format_intervals(spans: Sequence[tuple[float, float]], digits: int = 3) -> str:
    """``"0-17.8;48-72"``: intervals in h, ``digits`` significant digits (whole hours at
    least), ``;``-separated."""
    def f(x: float) -> str:
        x = float(x)
        whole = len(str(int(abs(round(x))))) if math.isfinite(x) else digits
        return np.format_float_positional(x, precision=max(digits, whole), unique=False,
                                          fractional=False, trim="-")
    return ";".join(f"{f(a)}-{f(b)}" for a, b in spans)


def window(times: np.ndarray, det: np.ndarray, lod: float,
           dose_times_h: Sequence[float] = ()) -> tuple[float, float, bool]:
    """``(first_h, last_h, until_end)`` of ``det >= lod`` on the grid, crossings interpolated.

    NaN, NaN when never detectable; ``until_end`` when still detectable at the last time.
    Gaps are not shown here; see :func:`intervals`.
    """
    spans = intervals(times, det, lod, dose_times_h)
    if not spans:
        return math.nan, math.nan, False
    ok = (det >= lod) & (det > 0)
    return spans[0][0], spans[-1][1], bool(ok[-1])


def detection_windows(source, *, scenario=None, assays: Sequence[str] | None = None,
                      label: str | None = None, times_h: Sequence[float] | None = None,
                      detection_limits: Mapping[str, float] | None = None,
                      division_time_h: float = math.inf, label_options: Mapping[str, Any] | None = None,
                      params=None):
    """First and last time each assay can detect the product at each site (noise-free).

    ``assays``: default every assay the label (and product origin) allows, see
    :func:`~mscpk.inputs.catalogue.supported_assays`; naming one it cannot support is a
    :class:`DetectionError`. ``detection_limits``: assay -> limit [cells] (default Table 2).
    Crossing times are interpolated between grid times (log-linear); ``first_h``/``last_h``
    are NaN (empty in CSV) when never detectable; ``until_end`` is true when the signal is
    still detectable at the last time of the grid. ``intervals`` lists every detectable
    interval, e.g. ``"0-17.8;48-72"`` (h, 3 significant digits; empty when never detectable):
    a signal can drop below the limit and rise again (a second dose), so ``first_h`` to
    ``last_h`` may span gaps. The detection limit of bli and fluorescence includes the
    optical background (see :func:`observe`). Scenario detection parameters apply
    (:mod:`mscpk.inputs.detection`).

    Returns a DataFrame with columns ``assay, site, first_h, last_h`` first, then ``label``,
    ``unit``, ``detection_limit_cells``, ``peak_h``, ``peak_value``, ``until_end``,
    ``intervals``.

    Example
    -------
    >>> from mscpk.analysis.detection import detection_windows
    >>> detection_windows("examples/iv_mouse.toml", label="luciferase")  # doctest: +SKIP
    """
    import pandas as pd

    ctx = make_context(source, scenario=scenario, label=label, times_h=times_h, params=params,
                       label_options=label_options)
    allowed = supported_assays(ctx.label.name, ctx.scenario.product.origin)
    if assays is None:
        assays = allowed
    limits = dict(detection_limits or {})
    for a in limits:
        method_info(a)
    dose_times = sorted({float(d.time_h) for d in ctx.scenario.dose})
    rows = []
    for a in assays:
        ro = readout(ctx, a, detection_limit=limits.get(a), division_time_h=division_time_h)
        for j, site in enumerate(ro.sites):
            lod = float(ro.limit_cells[0, j])
            first, last, until_end = window(ro.times_h, ro.detected_cells[:, j], lod, dose_times)
            spans = format_intervals(intervals(ro.times_h, ro.detected_cells[:, j], lod, dose_times))
            k = int(np.argmax(ro.expected[:, j])) if len(ro.times_h) else 0
            rows.append({"assay": a, "site": site, "first_h": first, "last_h": last, "label": ro.label,
                         "unit": ro.unit, "detection_limit_cells": float(ro.limit_cells[0, j]),
                         "peak_h": float(ro.times_h[k]) if len(ro.times_h) else math.nan,
                         "peak_value": float(ro.expected[k, j]) if len(ro.times_h) else math.nan,
                         "until_end": bool(until_end), "intervals": spans})
    cols = ["assay", "site", "first_h", "last_h", "label", "unit", "detection_limit_cells",
            "peak_h", "peak_value", "until_end", "intervals"]
    return pd.DataFrame(rows, columns=cols)


__all__ = ["observe", "detection_windows", "readout", "Readout", "make_context", "noisy", "window",
           "intervals", "format_intervals",
           "lognormal_factor", "counting_factor", "ASSAYS", "IMAGING", "EX_VIVO"]


# --------------------------------------------------------------------------------------------
# hook for model fitting: noise-free expected signals from one Result
# --------------------------------------------------------------------------------------------
def expected_signals(result, scenario, assays: Sequence[str], *, label: str | None = None,
                     params=None, decay_correct: bool = True,
                     label_options: Mapping[str, Any] | None = None
                     ) -> dict[str, tuple[tuple[str, ...], np.ndarray, str]]:
    """Noise-free expected readout of several assays from one simulated ``result``.

    Returns ``{assay: (sites, expected, unit)}``; ``expected`` has shape ``(T, S)`` over
    ``result.times_h`` x ``sites`` and is in the assay's INTERFACE unit (as the ``expected``
    column of :func:`observe`). One context is shared by all assays, so the label kinetics of
    a direct label are solved once (with the same solver as ``result``). ``params``: the
    parameter set ``result`` was simulated with (needed for direct labels). Raises
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
