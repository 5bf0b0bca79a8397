"""What a readout is computed from: a scenario's inputs, its Result and the label in force.

:func:`make_context` resolves a scenario (or a Result with its scenario) once; the
:class:`Context` answers the physiology questions of the observation models (host cells,
depth and light attenuation of a site, the fraction of it an ex vivo assay analyses) and
solves the label kinetics on first use (docs/detection.md).

>>> ctx = make_context("examples/iv_mouse.toml", label="luciferase", times_h=[1])
>>> ctx.method("qpcr").detection_limit_cells, ctx.sites[:2]
(100.0, ('lung', 'heart'))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.analysis.detection.labels import LabelKinetics, resolve, resolve_label, solve_labels
from mscpk.engine.result import Result
from mscpk.errors import DetectionError
from mscpk.inputs.catalogue import LabelInfo, MethodInfo, detection_constants
from mscpk.inputs.physiology import Species
from mscpk.inputs.resolve import Inputs
from mscpk.inputs.scenario import Scenario

#: Ex vivo assays: a sample of each site is analysed.
EX_VIVO = ("qpcr", "flow", "ihc")
#: Routes whose injection site lies in the organ they target.
_ORGAN_INJECTION_ROUTES = ("local", "intramyocardial", "scaffold")


@dataclass
class Context:
    """A scenario's ``inputs`` (species, parameters, detection settings), the ``result``
    simulated from it and the ``label`` in force; label kinetics solved once, on demand."""

    inputs: Inputs
    result: Result
    label: LabelInfo
    _kin: LabelKinetics | None = None

    @property
    def scenario(self) -> Scenario:
        return self.inputs.scenario

    @property
    def species(self) -> Species:
        return self.inputs.species

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.result.times_h, dtype=float)

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(s for s in self.result.sites if s != "eliminated")

    def with_label(self, label: str) -> "Context":
        """The same scenario and result seen through another label (scenario settings apply)."""
        return Context(self.inputs, self.result, resolve_label(self.inputs, label))

    def method(self, assay: str) -> MethodInfo:
        """The method in force: packaged data with the scenario's detection parameters."""
        return self.inputs.detection.method(assay)

    def kinetics(self) -> LabelKinetics:
        if self._kin is None:
            self._kin = solve_labels(self.inputs, self.result, self.label)
        return self._kin

    def cells(self, quantity: str) -> np.ndarray:
        """``(T, S)`` array of ``quantity`` (``"live_cells"`` or ``"dead_cells"``) over :attr:`sites`."""
        cols = [np.asarray(self.result.quantity(s, quantity), dtype=float) for s in self.sites]
        return np.column_stack(cols) if cols else np.zeros((len(self.times), 0))

    # ---- physiology of a site ---------------------------------------------------------
    def host_cells(self, site: str, blood_cells_per_mL: float | None = None) -> float | None:
        """Nucleated host cells [cells] of an organ or of the blood (None for a depot)."""
        sp, c = self.species, detection_constants()
        if site in sp.organs:  # volume [L] x 1000 mL/L x density [g/mL] x cells per g
            return sp.organs[site].volume_L * 1000.0 * c["tissue_density_g_per_mL"] * sp.cells_per_gram_tissue
        if site == "blood":
            per_mL = c["blood_nucleated_cells_per_mL"] if blood_cells_per_mL is None else blood_cells_per_mL
            return sp.blood_volume_L * 1000.0 * per_mL
        return None

    def depth_mm(self, site: str) -> float | None:
        """Depth [mm] of a site below the body surface (None when unknown)."""
        sp, c = self.species, detection_constants()
        if site in sp.organs:
            return sp.organs[site].depth_mm
        proxy = c["depot_depth_proxy"].get(site)
        if proxy in sp.organs:
            return sp.organs[proxy].depth_mm
        if site == "joint":  # geometric similarity: lengths scale with body weight^(1/3)
            return c["joint_depth_mm"] * (sp.body_weight_kg / c["joint_depth_body_weight_kg"]) ** (1.0 / 3.0)
        if site == "injection_site":
            for d in self.scenario.dose:
                tgt = d.target_site()
                if d.route in _ORGAN_INJECTION_ROUTES and tgt in sp.organs:
                    return sp.organs[tgt].depth_mm
        return None

    def attenuation(self, site: str, mu: float) -> float:
        """Fraction of light escaping from ``site`` [-]: exp(-mu * depth); blood: the
        volume-weighted mean over the organs; unknown depth: the organs' mean depth."""
        sp = self.species
        if site == "blood":
            vols = np.array([o.volume_L for o in sp.organs.values()])
            att = np.array([math.exp(-mu * o.depth_mm) for o in sp.organs.values()])
            return float((vols * att).sum() / vols.sum())
        d = self.depth_mm(site)
        if d is None:
            d = float(np.mean([o.depth_mm for o in sp.organs.values()]))
        return math.exp(-mu * d)

    def region_blood_shares(self) -> dict[str, float]:
        """Organ -> share of the blood volume inside it (residual blood fraction x organ volume /
        blood volume; species tables, Brown 1997 Table 30): the share of freely circulating
        label an image region or an unperfused organ counted ex vivo holds."""
        sp = self.species
        vol = {o: org.residual_blood_fraction * org.volume_L for o, org in sp.organs.items()}
        total = max(sp.blood_volume_L, sum(vol.values()))
        return {o: v / total for o, v in vol.items()}

    def extracellular_shares(self, regions: bool = False) -> dict[str, float]:
        """Site -> share of a freely diffusing hydrophilic label that spreads through the
        extracellular fluid (plasma and interstitium; labels.toml ``unbound_space``):
        organ ``o`` holds its interstitium, ``interstitial_fraction[o] x volume``, and
        ``blood`` the plasma, ``plasma_fraction_of_blood x blood volume`` (constants.toml);
        an injured brain holds the extracellular fluid behind its opened barrier
        (:meth:`open_brain_fraction`); with ``regions`` an organ's region also holds the plasma
        of its residual blood (:meth:`region_blood_shares`). The shares sum to 1."""
        sp, c = self.species, detection_constants()
        isf, pf = c["interstitial_fraction"], c["plasma_fraction_of_blood"]
        missing = [o for o in sp.organs if o not in isf]
        if missing:
            raise DetectionError(f"constants.toml interstitial_fraction: no value for organ(s) {', '.join(missing)} "
                                 f"of this {sp.name}; give one per organ")
        vol = {o: isf[o] * org.volume_L for o, org in sp.organs.items()}
        if "brain" in vol:
            vol["brain"] = max(vol["brain"], self.open_brain_fraction() * sp.organs["brain"].volume_L)
        plasma = pf * max(sp.blood_volume_L, sum(o.residual_blood_fraction * o.volume_L for o in sp.organs.values()))
        total = plasma + sum(vol.values())
        out = {o: v / total for o, v in vol.items()}
        out["blood"] = plasma / total
        if regions:
            blood_shares = self.region_blood_shares()
            for o, share in blood_shares.items():
                out[o] += share * out["blood"]
            out["blood"] *= 1.0 - sum(blood_shares.values())
        return out

    def open_brain_fraction(self) -> float:
        """Brain extracellular fluid behind an opened blood-brain barrier [mL per mL brain]: an
        injured brain of severity ``s`` opens it over ``min(1, s x injured_brain_open_fraction)``
        of the tissue, whose extracellular fraction is ``brain_extracellular_fraction``
        (constants.toml; ischaemic stroke, docs/model.md section 10); 0 without a brain injury."""
        c = detection_constants()
        share, ecf = c["injured_brain_open_fraction"], c["brain_extracellular_fraction"]
        for key, v in (("injured_brain_open_fraction", share), ("brain_extracellular_fraction", ecf)):
            if not 0.0 <= v <= 1.0:
                raise DetectionError(f"constants.toml {key} = {v:g} is not allowed; give a fraction in [0, 1]")
        s = max((float(i.severity) for i in self.scenario.subject.injury if i.site == "brain"), default=0.0)
        return ecf * min(1.0, s * share)

    def sampled_fraction(self, m: MethodInfo, site: str) -> float:
        """Fraction [-] of ``site`` that method ``m`` analyses (1 for in vivo imaging)."""
        s = m.sample
        if m.assay not in EX_VIVO:
            return 1.0
        if site not in self.species.organs and site != "blood":
            return float(s["depot_fraction"])
        if m.assay in ("qpcr", "flow"):  # cells analysed; qpcr: ug x 1e-6 g/ug / (pg x 1e-12 g/pg) of DNA
            analysed = (s["dna_analysed_ug"] * 1e-6 / (s["dna_per_cell_pg"] * 1e-12) if m.assay == "qpcr"
                        else s["events_acquired"])
            return min(1.0, analysed / self.host_cells(site, s["blood_nucleated_cells_per_mL"]))
        if site == "blood":
            return float(s["blood_fraction"])
        vol_mm3 = self.species.organs[site].volume_L * 1e6  # 1e6 mm3 per L
        return min(1.0, s["sections"] * s["section_thickness_um"] * 1e-3 / vol_mm3 ** (1.0 / 3.0))


def make_context(source: Any, *, scenario: Any = None, label: str | None = None,
                 times_h: Sequence[float] | None = None, params=None,
                 label_options: Mapping[str, Any] | None = None) -> Context:
    """The :class:`Context` of a scenario (object or TOML path; simulated here) or of a
    Result with ``scenario=``; ``label``/``label_options`` as in
    :func:`~mscpk.analysis.detection.labels.label_kinetics`."""
    inputs, res = resolve(source, scenario, times_h, params)
    return Context(inputs, res, resolve_label(inputs, label, label_options))


__all__ = ["Context", "make_context", "EX_VIVO"]
