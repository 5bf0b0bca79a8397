"""Blood-flow-driven circulation with first-pass entrapment in every organ.

venous blood -> lung (vascular) -> arterial blood -> organ (vascular) -> venous blood;
gut and spleen drain into the liver's vasculature (portal vein). In each organ's
vasculature cells leave with the blood at ``k_out = Q_out / V_vasc`` [1/h] and are arrested at
``k_arr = k_out * E / (1 - E)``, so that a fraction ``E`` of the cells entering is arrested on
one pass (competing first-order exits). ``E = 1 - (1 - E_mech)(1 - E_adh)(1 - E_home)``:
mechanical sieve (entrapment.py), baseline adhesive arrest (VLA-4 share), homing arrest at
injured sites (homing.py; an inflamed lung retains more this way), times ``1 - shunt`` (arteriovenous anastomoses let a small fraction
of the flow bypass the capillaries; in the lung a species value, widened by a vasodilator). Arrested cells are released back into the organ's
vasculature. An unreperfused infarct receives less arterial flow (:func:`perfusion_loss`);
the arterial pool's other exits then carry the rest. The embolic capacity of a bed [cells] scales with ``(d_ref / d)**3``: a larger
cell lodges in a larger upstream vessel whose territory grows with the cube of its diameter
(Murray's law), so large cells occlude more tissue per cell (C6). A share "Portosystemic shunt
fraction [-]" of the portal organs' outflow reaches the systemic veins instead of the liver
(0 in health; a condition such as cirrhosis sets it: inputs/condition.py).
"""

from __future__ import annotations

from mscpk.engine.model.context import BuildContext, emit, tr, vexp, vmax, vmin
from mscpk.engine.model.entrapment import first_pass_extraction
from mscpk.engine.model.homing import homing_signal, product_levels
from mscpk.engine.network import Capacity, Transition


def lung_passage(ctx: BuildContext, vasodilated: bool = False) -> float:
    """Size-independent pulmonary passage (wide arteriovenous channels) [-] of the species,
    times "Vasodilator lung passage recruitment factor [-]" while a vasodilator acts."""
    shunt = ctx.p(f"Lung arteriovenous shunt fraction, {ctx.species.name} [-]")
    if vasodilated:
        shunt = vmin(shunt * ctx.p("Vasodilator lung passage recruitment factor [-]"), 1.0)
    return shunt


def organ_extraction(ctx: BuildContext, organ: str, dilation: float | None = None,
                     levels: dict[str, float] | None = None) -> dict[str, float]:
    """Per-pass arrest fractions [-] of ``organ``: mechanical, adhesive, homing, total.

    ``dilation``: the capillary dilation factor while a vasodilator acts (None: no vasodilator).
    """
    levels = product_levels(ctx) if levels is None else levels
    cap = ctx.species.organs[organ].capillary
    diam = ctx.scenario.product.diameter_um
    e_mech = first_pass_extraction(diam.mean, diam.sd, cap.median_um, cap.gsd, cap.segments,
                                   ctx.p("MSC deformability ratio [-]"),
                                   1.0 if dilation is None else dilation)
    f_vla = ctx.p("VLA-4 share of firm adhesion [-]")
    e_adh = ctx.p("Baseline adhesive arrest per pass [-]") * (1 - f_vla + f_vla * levels["VLA4"])
    e_home = homing_signal(ctx, organ, levels).arrest_per_pass
    shunt = (lung_passage(ctx, dilation is not None) if organ == "lung"
             else ctx.p("Systemic arteriovenous shunt fraction [-]"))
    total = (1 - shunt) * (1 - (1 - e_mech) * (1 - e_adh) * (1 - e_home))
    return {"mechanical": e_mech, "adhesive": e_adh, "homing": e_home, "shunt": shunt,
            "total": vmin(total, ctx.p("Maximum first-pass extraction [-]"))}


def perfusion_loss(ctx: BuildContext, organ: str) -> float:
    """Fraction [-] of ``organ``'s arterial flow lost to an injury (an unreperfused infarct's
    no-flow zone): ``1 - exp(-k s)``, ``k`` the ``perfusion_loss`` of the injury's course
    (data/injury_course.toml; 0 without a course), ``s`` its severity as given (not its
    chemokine level: the zone stays unperfused after the signal resolves), from its onset on."""
    inj = ctx.injury(organ, course=False)
    course = inj.time_course() if inj is not None else None
    if course is None or course.perfusion_loss == 0 or not ctx.started(organ):
        return 0.0
    return 1.0 - vexp(-course.perfusion_loss * inj.severity)


def vascular_volumes(ctx: BuildContext) -> tuple[float, float, dict[str, float]]:
    """Venous and arterial pool volumes [L] and each organ's vascular volume [L]."""
    sp = ctx.species
    v_org = {o: sp.organs[o].residual_blood_fraction * sp.organs[o].volume_L for o in ctx.organs}
    pool = sp.blood_volume_L - sum(v_org.values())
    floor = ctx.p("Minimum large-vessel blood fraction [-]") * sp.blood_volume_L
    pool = vmax(pool, floor)
    return pool * sp.venous_fraction, pool * (1 - sp.venous_fraction), v_org


def circulation(ctx: BuildContext, dilation: float | None = None) -> list[Transition]:
    """Transitions of circulation, entrapment and release (``dilation``: capillary dilation
    factor of a vasodilated mode, None in a mode without vasodilator)."""
    sp = ctx.species
    q = sp.cardiac_output_L_per_h
    v_ven, v_art, v_org = vascular_volumes(ctx)
    levels = product_levels(ctx)
    out: list[Transition] = []
    shunt = ctx.p("Portosystemic shunt fraction [-]")
    portal_in = {o: 0.0 for o in ctx.organs}
    for o in ctx.organs:
        if sp.organs[o].drains_to:
            portal_in[sp.organs[o].drains_to] += sp.organs[o].flow_fraction * q * (1.0 - shunt)
    k_rel_lung = ctx.rate_from_half_life("Lung arrested cell release half-life [h]")
    k_rel_sys = ctx.rate_from_half_life("Systemic arrested cell release half-life [h]")
    for o in ctx.organs:
        organ = sp.organs[o]
        if o == "lung":
            out.append(tr(ctx, ("blood", "venous"), ("lung", "vascular"), q / v_ven, "venous return to lung"))
            q_out, downstream = q, ("blood", "arterial")
        else:
            q_in = organ.flow_fraction * q * (1.0 - perfusion_loss(ctx, o))
            out.append(tr(ctx, ("blood", "arterial"), (o, "vascular"), q_in / v_art, f"arterial flow to {o}"))
            q_out = q_in + portal_in[o]
            downstream = (organ.drains_to, "vascular") if organ.drains_to else ("blood", "venous")
        k_out = q_out / v_org[o]
        if organ.drains_to and emit(shunt):
            out.append(tr(ctx, (o, "vascular"), ("blood", "venous"), k_out * shunt, f"{o} portosystemic shunt"))
            out.append(tr(ctx, (o, "vascular"), downstream, k_out * (1.0 - shunt), f"{o} venous outflow"))
        else:
            out.append(tr(ctx, (o, "vascular"), downstream, k_out, f"{o} venous outflow"))
        e = organ_extraction(ctx, o, dilation, levels)["total"]
        if emit(e):
            out.append(tr(ctx, (o, "vascular"), (o, "arrested"), k_out * e / (1 - e),
                          f"{o} first-pass arrest", saturable=o))
        k_rel = k_rel_lung if o == "lung" else k_rel_sys
        if emit(k_rel):
            out.append(tr(ctx, (o, "arrested"), (o, "vascular"), k_rel, f"{o} release of arrested cells"))
    return out


def capacities(ctx: BuildContext) -> dict[str, Capacity]:
    """Finite microvascular beds [cells]: arrested cells occupy them (embolic burden)."""
    sp = ctx.species
    size = (ctx.p("Reference cell diameter for embolic capacity [um]")
            / ctx.scenario.product.diameter_um.mean) ** 3
    out = {}
    for o in ctx.organs:
        per_g = ctx.p("Lung embolic capacity [cells/g]" if o == "lung" else "Systemic embolic capacity [cells/g]")
        grams = sp.organs[o].volume_L * 1000.0 * ctx.p("Tissue density [g/mL]")
        out[o] = Capacity((f"{o}__arrested",), per_g * grams * size)
    return out
