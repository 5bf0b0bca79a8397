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

from functools import lru_cache

from mscpk.engine.model.context import BuildContext, transitions
from mscpk.engine.model.homing import homing_signal, product_levels
from mscpk.engine.network import Transition, state_id

PHAGOCYTIC = ("liver", "spleen")
DEGRADED = state_id("eliminated", "degraded")


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
    levels = product_levels(ctx)
    rates = {"circ": ctx.rate_from_half_life("Circulating cell death half-life [h]") + h_imm,
             "arr lung": ctx.rate_from_half_life("Lung arrested cell death half-life [h]") + h_imm,
             "arr sys": ctx.rate_from_half_life("Systemic arrested cell death half-life [h]") + h_imm,
             "eng": ctx.rate_from_half_life("Engrafted cell death half-life [h]") + h_imm}
    k_ext = ctx.rate_from_half_life("Baseline extravasation half-life [h]")
    for o in ctx.organs:
        rates[f"tm {o}"] = k_ext + homing_signal(ctx, o, levels).transmigration_rate
    return transitions(ctx, _fate_plan(ctx.organs), rates) + debris(ctx, ["blood"] + list(ctx.organs))


@lru_cache(maxsize=32)
def _fate_plan(organs: tuple[str, ...]) -> tuple[tuple[str, str, str, str], ...]:
    """(source, target, rate key, process) of the cell-fate transitions of ``organs``, in
    build order (the structure; only the rates depend on the parameters)."""
    out = [(state_id("blood", kind), state_id("blood", "dead"), "circ", "death in circulation")
           for kind in ("venous", "arterial")]
    for o in organs:
        out += [(state_id(o, "vascular"), state_id("blood", "dead"), "circ", "death in circulation"),
                (state_id(o, "arrested"), state_id(o, "dead"), "arr lung" if o == "lung" else "arr sys",
                 f"death of arrested cells in {o}"),
                (state_id(o, "arrested"), state_id(o, "engrafted"), f"tm {o}", f"extravasation into {o}"),
                (state_id(o, "engrafted"), state_id(o, "dead"), "eng", f"death of engrafted cells in {o}")]
    return tuple(out)


def debris(ctx: BuildContext, sites: list[str]) -> list[Transition]:
    """Removal of dead cell material at ``sites`` (blood, organs or depots)."""
    k_uptake = ctx.rate_from_half_life("Dead material uptake from blood half-life [h]")
    f_liver = ctx.p("Liver share of dead-material uptake [-]")
    rates = {"local": ctx.rate_from_half_life("Dead material local degradation half-life [h]"),
             "transfer": ctx.rate_from_half_life("Dead material transfer to phagocytic organs half-life [h]"),
             "resident": ctx.rate_from_half_life("Dead material degradation half-life in liver and spleen [h]"),
             "to liver": k_uptake * f_liver, "to spleen": k_uptake * (1 - f_liver)}
    return transitions(ctx, _debris_plan(tuple(sites)), rates)


@lru_cache(maxsize=64)
def _debris_plan(sites: tuple[str, ...]) -> tuple[tuple[str, str, str, str], ...]:
    """(source, target, rate key, process) of the debris transitions of ``sites``."""
    out = []
    for site in sites:
        dead = state_id(site, "dead")
        if site == "blood":
            out += [(dead, state_id("liver", "dead"), "to liver", "uptake of debris by liver"),
                    (dead, state_id("spleen", "dead"), "to spleen", "uptake of debris by spleen")]
        elif site in PHAGOCYTIC:
            out.append((dead, DEGRADED, "resident", f"degradation in {site}"))
        else:
            out += [(dead, DEGRADED, "local", f"degradation in {site}"),
                    (dead, state_id("blood", "dead"), "transfer", f"debris carried from {site}")]
    return tuple(out)
