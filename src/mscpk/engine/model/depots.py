"""Routes of administration and their depots.

Each route puts the live fraction of a dose (``viability``) into a state, the dead fraction
into that place's dead material. Vascular routes (iv, ia, intracoronary) feed circulation;
the others feed a depot with its own behaviour:

* ``peritoneum`` (ip): free cells aggregate with macrophages within minutes, aggregates
  attach to omentum/mesentery within a day (C10, Bazhanov 2016); a trickle drains through
  lymph; an injured peritoneal organ (gut, liver, spleen) recruits cells.
* ``joint`` (intra_articular): free cells in synovial fluid attach to synovium/cartilage or
  leave through lymph; attached cells persist for months (C8 Toupet 2013, C9 Li 2016);
  an injured (inflamed) joint retains more.
* ``csf`` (intrathecal): cells spread in CSF, attach to the leptomeninges, drain with CSF
  outflow through lymph; an injured brain/cord recruits cells.

Cells that drain from a depot reach venous blood through its lymphatics, with a delay
(``engine/model/lymph.py``).
* ``airway`` (intratracheal): cells in alveolar space engraft in lung or are cleared by
  mucociliary transport (eliminated).
* a depot inside an organ (local, intramyocardial: state ``{organ}__depot``) and
  ``injection_site`` (scaffold: outside every organ): an immediate leak-back fraction enters
  venous blood and a spill fraction is lost out of the tissue (``eliminated``), both per
  route and, where the tissue changes them, per organ (routes.toml ``by_site``: the beating
  heart, Martens 2014); retained cells engraft into the target organ, die (into the organ's dead
  material; the scaffold's own), or leak slowly.
"""

from __future__ import annotations

import numpy as np

from mscpk.engine.model.context import BuildContext, emit, is_batch, tr, vexp, vmax, vmin, where_positive
from mscpk.engine.model.fate import debris, immune_hazard
from mscpk.engine.model.homing import homing_signal, product_levels
from mscpk.engine.model.lymph import LYMPH, lymph_drainage
from mscpk.engine.network import Input, Transition
from mscpk.inputs.routes import depots_used, route

#: The states of each depot (its live states, then its dead material).
DEPOT_KINDS = {"peritoneum": ("free", "aggregated", "attached", LYMPH, "dead"),
               "joint": ("free", "attached", LYMPH, "dead"), "csf": ("free", "attached", LYMPH, "dead"),
               "airway": ("free", "dead"), "injection_site": ("free", LYMPH, "dead")}
#: The states of a depot inside an organ: its cells and those in its draining lymphatics
#: (dead ones join the organ's dead material).
ORGAN_DEPOT_KINDS = ("depot", LYMPH)
PERITONEAL_ORGANS = ("gut", "liver", "spleen")


def _dose_cells(ctx: BuildContext, dose) -> float:
    if dose.cells is not None:
        return float(dose.cells)
    return float(dose.cells_per_kg) * ctx.species.body_weight_kg


def ibmir_kill_fraction(ctx: BuildContext):
    """Fraction [-] of live cells destroyed on contact with blood by the instant
    blood-mediated inflammatory reaction, rising with passage (C13, Moll 2012) and with the
    tissue factor (CD142) expression of the cell source (adipose and perinatal MSC > bone
    marrow; Moll 2019)."""
    base = ctx.p("IBMIR kill fraction at reference passage [-]")
    per = ctx.p("IBMIR increase per passage [1/passage]")
    extra = vmax(0.0, ctx.scenario.product.passage - ctx.p("Reference passage [passage]"))
    tissue = ctx.p(f"IBMIR factor, {ctx.scenario.product.source} source [-]")
    return vmin(base * tissue * (1.0 + per * extra), 1.0)


#: The parameter of :func:`crowding_survival`.
CROWDING_SCALE = "Local injection crowding scale [cells]"


def amount_shapes_inputs(dose, params) -> bool:
    """Whether the amount of ``dose`` changes where its cells go (a crowded injection into an
    organ: :func:`crowding_survival`), so a network built for another amount cannot be reused."""
    return route(dose.route).in_organ and bool(np.isfinite(params[CROWDING_SCALE]))


def crowding_survival(ctx: BuildContext, dose, kept) -> float:
    """Fraction [-] of the cells an injection into an organ leaves in the tissue that survive
    their crowding: ``exp(-n / n_c)``, ``n`` the live cells kept per injection (the dose's
    share ``kept`` split over ``dose.injections`` sites), ``n_c`` = "Local injection crowding
    scale [cells]" (inf: no crowding). A deposit's early hypoxic death grows with its own O2
    demand, so survivors ``n exp(-n / n_c)`` peak at ``n = n_c`` and fall beyond (Ricker's
    overcompensating density dependence): a high dose in few injections leaves fewer live cells."""
    n_c = ctx.p(CROWDING_SCALE)
    if is_batch(n_c):
        raise ValueError(f"{CROWDING_SCALE} sets where the cells of a dose go and must be one number "
                         "(not per-subject values)")
    n = _dose_cells(ctx, dose) * kept / dose.injections
    return vexp(-n / n_c)


def dose_inputs(ctx: BuildContext) -> list[Input]:
    """One :class:`Input` per administration (states are registered here).

    Live cells entering blood (vascular routes, leak-back) first meet the instant
    blood-mediated inflammatory reaction: a fraction ``ibmir_kill_fraction`` of them dies.
    Dead cells given into blood (the product's non-viable cells and those killed by IBMIR)
    are intact cells, coated with platelets and complement in IBMIR: a share of them lodges
    in the first capillary bed they meet (the lung for venous entry, the organ reached for
    arterial entry) as that organ's dead material; the rest is debris in blood."""
    viab = ctx.scenario.product.viability
    ibmir = ibmir_kill_fraction(ctx)
    lodge = ctx.p("Lodging share of dead cells given into blood [-]")
    out = []
    for dose in ctx.scenario.dose:
        targets: dict[str, float] = {}

        def dead_in_blood(amount: float, first_bed: str) -> None:
            for state, share in (((first_bed, "dead"), lodge), (("blood", "dead"), 1 - lodge)):
                if emit(amount * share):
                    name = ctx.s(*state)
                    targets[name] = targets.get(name, 0.0) + amount * share

        r = route(dose.route)
        if r.vascular:
            entry, bed = ((("blood", "venous"), "lung") if r.enters == "venous_blood"
                          else ((dose.target_site(), "vascular"), dose.target_site()))
            targets[ctx.s(*entry)] = viab * (1 - ibmir)
            dead_in_blood(1 - viab * (1 - ibmir), bed)
        else:
            depot = r.depot_site(dose.site)
            leak_name, spill_name = r.injection_losses(dose.site)
            leak = ctx.p(leak_name) if leak_name else 0.0
            spill = ctx.p(spill_name) if spill_name else 0.0
            kept = viab * vmax(0.0, 1 - leak - spill)
            alive = kept * crowding_survival(ctx, dose, kept) if r.in_organ else kept
            targets[ctx.s(depot, "depot" if r.in_organ else "free")] = alive
            if r.in_organ and emit(kept - alive):  # crowded deposits: dead at once, the organ's dead material
                targets[ctx.s(depot, "dead")] = kept - alive
            if emit(spill):  # lost out of the tissue at once (needle-track reflux, surface spill)
                targets[ctx.s("eliminated", "degraded")] = viab * vmin(spill, 1 - leak)
            if emit(leak):
                targets[ctx.s("blood", "venous")] = viab * leak * (1 - ibmir)
                dead_in_blood(viab * leak * ibmir, "lung")
            name = ctx.s(depot, "dead")
            targets[name] = targets.get(name, 0.0) + 1 - viab
        targets = {k: v for k, v in targets.items() if emit(v)}
        out.append(Input(dose.time_h, dose.infusion_min / 60.0, _dose_cells(ctx, dose), targets))
    return out


def depots(ctx: BuildContext) -> list[Transition]:
    """Transitions of every depot that a dose of the scenario uses."""
    used = set(depots_used(ctx.scenario.dose))
    h_imm = immune_hazard(ctx)
    levels = product_levels(ctx)
    h_free = ctx.rate_from_half_life("Depot free cell death half-life [h]") + h_imm
    h_eng = ctx.rate_from_half_life("Engrafted cell death half-life [h]") + h_imm
    out: list[Transition] = []
    if "peritoneum" in used:
        out += [
            tr(ctx, ("peritoneum", "free"), ("peritoneum", "aggregated"),
               ctx.rate_from_half_life("Peritoneal aggregation half-life [h]"), "aggregation with macrophages"),
            *lymph_drainage(ctx, ("peritoneum", "free"), ("peritoneum", "dead"),
                            ctx.rate_from_half_life("Peritoneal lymphatic drainage half-life [h]"), h_free,
                            "lymphatic drainage"),
            tr(ctx, ("peritoneum", "free"), ("peritoneum", "dead"), h_free, "death of free cells"),
            tr(ctx, ("peritoneum", "aggregated"), ("peritoneum", "attached"),
               ctx.rate_from_half_life("Peritoneal attachment half-life [h]"), "attachment to omentum/mesentery"),
            tr(ctx, ("peritoneum", "aggregated"), ("peritoneum", "dead"),
               ctx.rate_from_half_life("Peritoneal aggregate cell death half-life [h]") + h_imm, "death in aggregates"),
            tr(ctx, ("peritoneum", "attached"), ("peritoneum", "dead"), h_eng, "death of attached cells"),
        ]
        k_max = ctx.p("Maximum depot-to-injured-organ transfer rate [1/h]")
        a50 = ctx.p("Activation for half-maximal transmigration [-]")
        for organ in PERITONEAL_ORGANS:
            sig = homing_signal(ctx, organ, levels)
            if emit(sig.activation):
                k = where_positive(sig.activation, lambda a: k_max * levels["MMP"] * a / (a + a50))
                out.append(tr(ctx, ("peritoneum", "aggregated"), (organ, "engrafted"), k, f"homing to injured {organ}"))
                out.append(tr(ctx, ("peritoneum", "attached"), (organ, "engrafted"), k, f"homing to injured {organ}"))
    if "joint" in used:
        inj = ctx.injury("joint")
        boost = 1.0 + (inj.severity if inj else 0.0) * ctx.p("Joint attachment increase per unit inflammation [-]")
        out += [
            tr(ctx, ("joint", "free"), ("joint", "attached"),
               boost * ctx.rate_from_half_life("Joint attachment half-life [h]"), "attachment in joint"),
            *lymph_drainage(ctx, ("joint", "free"), ("joint", "dead"),
                            ctx.rate_from_half_life("Joint efflux half-life [h]"), h_free, "efflux from joint"),
            tr(ctx, ("joint", "free"), ("joint", "dead"), h_free, "death of free cells"),
            tr(ctx, ("joint", "attached"), ("joint", "dead"),
               ctx.rate_from_half_life("Joint attached cell death half-life [h]") + h_imm, "death of attached cells"),
        ]
    if "csf" in used:
        out += [
            tr(ctx, ("csf", "free"), ("csf", "attached"),
               ctx.rate_from_half_life("CSF attachment half-life [h]"), "attachment to leptomeninges"),
            *lymph_drainage(ctx, ("csf", "free"), ("csf", "dead"),
                            ctx.rate_from_half_life("CSF outflow clearance half-life [h]"), h_free, "CSF outflow"),
            tr(ctx, ("csf", "free"), ("csf", "dead"), h_free, "death of free cells"),
            tr(ctx, ("csf", "attached"), ("csf", "dead"), h_eng, "death of attached cells"),
        ]
        sig = homing_signal(ctx, "brain", levels)
        if emit(sig.activation):
            k_max = ctx.p("Maximum depot-to-injured-organ transfer rate [1/h]")
            a50 = ctx.p("Activation for half-maximal transmigration [-]")
            k = where_positive(sig.activation, lambda a: k_max * levels["MMP"] * a / (a + a50))
            out.append(tr(ctx, ("csf", "free"), ("brain", "engrafted"), k, "homing to injured brain"))
    if "airway" in used:
        out += [
            tr(ctx, ("airway", "free"), ("lung", "engrafted"),
               ctx.rate_from_half_life("Airway engraftment half-life [h]"), "engraftment in lung"),
            tr(ctx, ("airway", "free"), ("eliminated", "degraded"),
               ctx.rate_from_half_life("Airway mucociliary clearance half-life [h]"), "mucociliary clearance"),
            tr(ctx, ("airway", "free"), ("airway", "dead"), h_free, "death of free cells"),
        ]
    injected = [(d.target_site(), (d.target_site(), "depot")) for d in ctx.scenario.dose if route(d.route).in_organ]
    if "injection_site" in used:
        target = next(d.target_site() for d in ctx.scenario.dose if route(d.route).depot == "injection_site")
        injected.append((target, ("injection_site", "free")))
    for target, state in dict.fromkeys(injected):
        dead = (state[0], "dead")
        out += [
            tr(ctx, state, (target, "engrafted"),
               ctx.rate_from_half_life("Injection site engraftment half-life [h]"), f"engraftment in {target}"),
            *lymph_drainage(ctx, state, dead, ctx.rate_from_half_life("Injection site slow leak half-life [h]"),
                            h_free, "slow leak through lymph"),
            tr(ctx, state, dead, h_free, "death of free cells"),
        ]
    out += debris(ctx, sorted(used & set(DEPOT_KINDS)))  # an organ's debris is the organ's own
    return out
