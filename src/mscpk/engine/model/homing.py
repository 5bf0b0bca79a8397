"""Homing to injured sites: the four-step cascade (SCIENCE.md 1.2; review section 1.2).

For an injured organ with severity ``s`` (0 none, 1 typical acute injury):

* product levels ``r_x`` (relative to a typical MSC = 1) = scenario value (default 1)
  x preconditioning fold changes x senescence factor
  ``exp(-k_sen * max(0, passage - p_ref))`` (senescence lowers chemokine receptors and MMPs);
* chemokine fold change ``c_a`` = scenario value if given, else ``1 + s * g_chem``;
* activation  ``a = sum_axes w_a * r_receptor(a) * (c_a - 1)``  (CXCL12/CXCR4 weight 1);
* rolling     ``R = (1 - f_sel + f_sel * r_ESL) * (1 + s * g_sel)`` (E-selectin on inflamed
  endothelium binding the product's E-selectin ligands);
* adhesion    ``V = (1 - f_vla + f_vla * r_VLA4) * (1 + s * g_vcam)`` (VLA-4 / VCAM-1);
* homing arrest per pass ``E_home = E_max * S / (S + S50)``, ``S = a * R * V``;
* transmigration of arrested cells into the tissue, rate
  ``k_tm * r_MMP * a / (a + a50)`` [1/h] on top of the baseline extravasation rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from mscpk.inputs.homing import homing_data
from mscpk.engine.model.context import BuildContext, is_batch, vexp, vmax, where_positive


@dataclass(frozen=True)
class HomingSignal:
    activation: float      # a [-]
    stimulus: float        # S [-]
    arrest_per_pass: float  # E_home [-]
    transmigration_rate: float  # [1/h], added to baseline extravasation


def product_levels(ctx: BuildContext) -> dict[str, float]:
    """Receptor / molecule levels of the product [-] after preconditioning and senescence."""
    data = homing_data()
    prod = ctx.scenario.product
    levels = {name: float(prod.receptors.get(name, 1.0)) for name in data.receptors}
    for pre in prod.preconditioning:
        for name, fold in data.preconditioning[pre].items():
            levels[name] *= fold
    k_sen = ctx.p("Senescence receptor loss per passage [1/passage]")
    p_ref = ctx.p("Reference passage [passage]")
    senescence = vexp(-k_sen * vmax(0.0, prod.passage - p_ref))
    for name in levels:
        if name not in ("ESL", "VLA4"):
            levels[name] *= senescence
    return levels


def homing_signal(ctx: BuildContext, site: str, levels: dict[str, float]) -> HomingSignal:
    """Homing arrest and transmigration at ``site`` (zero if the site is not injured)."""
    inj = ctx.injury(site)
    if inj is None or (not is_batch(inj.severity) and inj.severity == 0 and not inj.chemokines):
        return HomingSignal(0.0, 0.0, 0.0, 0.0)
    s = inj.severity
    g_chem = ctx.p("Chemokine fold change per unit injury severity [-]")
    a = 0.0
    for axis in homing_data().axes:
        if inj.chemokines:
            fold = inj.chemokines.get(axis.chemokine, 1.0)
        else:
            fold = 1.0 + s * g_chem
        a += axis.weight * levels[axis.receptor] * vmax(0.0, fold - 1.0)
    f_sel = ctx.p("E-selectin ligand share of rolling [-]")
    f_vla = ctx.p("VLA-4 share of firm adhesion [-]")
    rolling = (1 - f_sel + f_sel * levels["ESL"]) * (1 + s * ctx.p("E-selectin induction per unit severity [-]"))
    adhesion = (1 - f_vla + f_vla * levels["VLA4"]) * (1 + s * ctx.p("VCAM-1 induction per unit severity [-]"))
    stim = a * rolling * adhesion
    e_max = ctx.p("Maximum homing arrest per pass [-]")
    s50 = ctx.p("Homing stimulus for half-maximal arrest [-]")
    e_home = where_positive(stim, lambda x: e_max * x / (x + s50))
    a50 = ctx.p("Activation for half-maximal transmigration [-]")
    k_max = ctx.p("Maximum transmigration rate at injured site [1/h]")
    k_tm = where_positive(a, lambda x: k_max * levels["MMP"] * x / (x + a50))
    return HomingSignal(a, stim, e_home, k_tm)
