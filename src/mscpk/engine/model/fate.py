"""Death, immune clearance, extravasation and removal of dead cell material.

Hazards [1/h] of live cells are a state-specific base hazard (circulating: instant
blood-mediated inflammatory reaction; arrested: ischaemia/anoikis, faster in the lung;
engrafted: lowest) plus an immune hazard

    h_imm = k_imm * immunogenicity(origin) * immune_activity(host)

(autologous/syngeneic < allogeneic < xenogeneic; immunodeficient hosts << immunocompetent).
Adaptive priming: in an immunocompetent host the administered cells prime the host (the
boost multiplies ``h_imm``, so it scales with the origin's immunogenicity);
from ``t_first_dose + "Immune priming delay [h]"`` on (the "primed" modes, see
:func:`mscpk.engine.model.build.priming_start`) the immune hazard of every live administered cell is
multiplied by "Primed immune hazard factor [-]" (``ctx.primed``).
Dead material (cell equivalents) is degraded locally or carried by phagocytes to blood and
taken up by liver and spleen macrophages, which degrade it with their own half-life.
"""

from __future__ import annotations

from mscpk.engine.model.context import BuildContext, tr
from mscpk.engine.model.homing import homing_signal, product_levels
from mscpk.engine.network import Transition

PHAGOCYTIC = ("liver", "spleen")


def immune_hazard(ctx: BuildContext) -> float:
    """Immune clearance hazard [1/h] for this product in this host."""
    origin = ctx.scenario.product.origin
    host = ctx.scenario.subject.immune
    k = ctx.p("Immune clearance rate of xenogeneic cells [1/h]")
    f_origin = ctx.p(f"Immunogenicity, {origin} [-]")
    f_host = 1.0 if host == "immunocompetent" else ctx.p("Immune activity, immunodeficient host [-]")
    h = k * f_origin * f_host
    if ctx.primed:
        h = h * ctx.p("Primed immune hazard factor [-]")
    return h



def cell_fate(ctx: BuildContext) -> list[Transition]:
    """Death, extravasation of arrested cells into tissue, and dead-material removal."""
    h_imm = immune_hazard(ctx)
    h_circ = ctx.rate_from_half_life("Circulating cell death half-life [h]") + h_imm
    h_arr_lung = ctx.rate_from_half_life("Lung arrested cell death half-life [h]") + h_imm
    h_arr_sys = ctx.rate_from_half_life("Systemic arrested cell death half-life [h]") + h_imm
    h_eng = ctx.rate_from_half_life("Engrafted cell death half-life [h]") + h_imm
    k_ext = ctx.rate_from_half_life("Baseline extravasation half-life [h]")
    levels = product_levels(ctx)
    out: list[Transition] = []
    for kind in ("venous", "arterial"):
        out.append(tr(ctx, ("blood", kind), ("blood", "dead"), h_circ, "death in circulation"))
    for o in ctx.organs:
        out.append(tr(ctx, (o, "vascular"), ("blood", "dead"), h_circ, "death in circulation"))
        h_arr = h_arr_lung if o == "lung" else h_arr_sys
        out.append(tr(ctx, (o, "arrested"), (o, "dead"), h_arr, f"death of arrested cells in {o}"))
        k_tm = k_ext + homing_signal(ctx, o, levels).transmigration_rate
        out.append(tr(ctx, (o, "arrested"), (o, "engrafted"), k_tm, f"extravasation into {o}"))
        out.append(tr(ctx, (o, "engrafted"), (o, "dead"), h_eng, f"death of engrafted cells in {o}"))
    out += debris(ctx, ["blood"] + list(ctx.organs))
    return out


def debris(ctx: BuildContext, sites: list[str]) -> list[Transition]:
    """Removal of dead cell material at ``sites`` (blood, organs or depots)."""
    k_local = ctx.rate_from_half_life("Dead material local degradation half-life [h]")
    k_transfer = ctx.rate_from_half_life("Dead material transfer to phagocytic organs half-life [h]")
    k_res = ctx.rate_from_half_life("Dead material degradation half-life in liver and spleen [h]")
    k_uptake = ctx.rate_from_half_life("Dead material uptake from blood half-life [h]")
    f_liver = ctx.p("Liver share of dead-material uptake [-]")
    out: list[Transition] = []
    for site in sites:
        if site == "blood":
            out.append(tr(ctx, ("blood", "dead"), ("liver", "dead"), k_uptake * f_liver, "uptake of debris by liver"))
            out.append(tr(ctx, ("blood", "dead"), ("spleen", "dead"), k_uptake * (1 - f_liver), "uptake of debris by spleen"))
        elif site in PHAGOCYTIC:
            out.append(tr(ctx, (site, "dead"), ("eliminated", "degraded"), k_res, f"degradation in {site}"))
        else:
            out.append(tr(ctx, (site, "dead"), ("eliminated", "degraded"), k_local, f"degradation in {site}"))
            out.append(tr(ctx, (site, "dead"), ("blood", "dead"), k_transfer, f"debris carried from {site}"))
    return out
