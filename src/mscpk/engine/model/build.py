"""Assemble the network of a scenario from its submodels.

Order of states is fixed here (blood, organs in species order, depots, eliminated) so the
layout is stable and reproducible; no code outside the layout uses indices.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Iterator, Mapping

from mscpk.inputs.course import course_segments
from mscpk.inputs.parameters import ParameterSet
from mscpk.inputs.physiology import Species
from mscpk.inputs.resolve import scenario_parameters, scenario_species
from mscpk.inputs.routes import depots_used
from mscpk.inputs.scenario import Scenario
from mscpk.engine.model.circulation import capacities, circulation
from mscpk.engine.model.context import BuildContext, is_batch
from mscpk.engine.model.fate import cell_fate
from mscpk.engine.network import Network, Transition
from mscpk.engine.model.depots import DEPOT_KINDS, ORGAN_DEPOT_KINDS, depots, dose_inputs

ORGAN_KINDS = ("vascular", "arrested", "engrafted", "dead")


class Reads(Mapping[str, float]):
    """A parameter set that records the names read through it, with their values."""

    def __init__(self, params: Mapping[str, float]) -> None:
        self.params, self.read = params, {}

    def __getitem__(self, name: str) -> float:
        value = self.params[name]
        self.read[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)


class ByReads:
    """Items kept under the parameter values that made them: :meth:`find` returns the item
    whose parameters all have the same values in ``params`` (one dict lookup per distinct
    set of names read), or None. Up to ``size`` items per set of names (oldest dropped)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._tables: dict[tuple[str, ...], dict[tuple, object]] = {}

    def find(self, params: Mapping[str, float]):
        for names, table in list(self._tables.items()):
            item = table.get(tuple([params[k] for k in names]))
            if item is not None:
                return item
        return None

    def put(self, read: Mapping[str, float], item) -> None:
        table = self._tables.setdefault(tuple(read), {})
        table[tuple(read.values())] = item
        while len(table) > self.size:
            table.pop(next(iter(table)), None)


class BuildMemo:
    """The submodels' results in earlier builds of one scenario structure (the same
    scenario and species apart from dose amounts and model parameter values).

    Each result is kept with the parameters the submodel read and the states it named; a
    build reuses it (naming the same states in the same order) whenever every one of those
    parameters has the same value, so only the submodels that read a changed parameter run
    again, and the network is the one a fresh build gives. The dose inputs are always built
    afresh (they carry the amounts). Up to ``per_part`` results per submodel call are kept.
    """

    def __init__(self, per_part: int = 8) -> None:
        self.per_part = per_part
        self._parts: dict[tuple, ByReads] = {}

    def run(self, ctx: BuildContext, fn: Callable, *args):
        """``fn(ctx, *args)``, or its kept result if every parameter it read is unchanged."""
        key = (fn, ctx.primed, ctx.course_key(), *args)
        kept = self._parts.get(key)
        if kept is None:
            kept = self._parts.setdefault(key, ByReads(self.per_part))
        params = ctx.params
        hit = kept.find(params)
        if hit is not None:
            names, result = hit
            for name in names:
                ctx.layout.add_name(name)
            return result
        reads = Reads(params)
        ctx.params = reads
        asked = ctx.layout.record()
        try:
            result = fn(ctx, *args)
        finally:
            ctx.params = params
            ctx.layout.stop_recording()
        kept.put(reads.read, (tuple(asked), result))
        return result


def build_network(scenario: Scenario, params: ParameterSet | None = None,
                  species: Species | None = None, memo: BuildMemo | None = None) -> Network:
    """The scenario's :class:`Network` (states, transitions per mode, doses, capacities).

    ``memo``: reuse the submodel results of earlier builds of this scenario structure
    (:class:`BuildMemo`; scalar parameters only)."""
    species = species or scenario_species(scenario)
    params = params or scenario_parameters(scenario)
    ctx = BuildContext(scenario, species, params)
    part = memo.run if memo is not None else (lambda c, fn, *args: fn(c, *args))
    for kind in ("venous", "arterial", "dead"):
        ctx.s("blood", kind)
    for o in species.organ_names():
        for kind in ORGAN_KINDS:
            ctx.s(o, kind)
    for depot in depots_used(scenario.dose):
        for kind in DEPOT_KINDS.get(depot, ORGAN_DEPOT_KINDS):
            ctx.s(depot, kind)
    ctx.s("eliminated", "degraded")
    inputs = dose_inputs(ctx)
    vaso_windows = vasodilator_windows(scenario, params)
    t_primed = priming_start(ctx)
    segments, final = injury_course(scenario)
    schedule = mode_schedule(vaso_windows, t_primed, segments)
    # every mode that the schedule uses; "vasodilated" whenever a dose has a vasodilator and
    # "primed" whenever the host is primed (even if a window is empty or after the end)
    used = {mode for _, _, mode in schedule}
    if vaso_windows:
        used.add("vasodilated")
    if t_primed is not None:
        used.add("primed")
    wanted = ["base"] + [m for m in MODE_ORDER if m in used] + sorted(used - {"base", *MODE_ORDER})
    dilation = params["Vasodilator capillary dilation factor [-]"] if vaso_windows else 1.0
    modes: dict[str, tuple[Transition, ...]] = {}
    for name in wanted:
        flags = mode_flags(name)
        ctx.primed = "primed" in flags
        phase = next((int(f[len(COURSE):]) for f in flags if f.startswith(COURSE)), None)
        ctx.course = final if phase is None else segments[phase - 1]
        circ = part(ctx, circulation, dilation) if "vasodilated" in flags else part(ctx, circulation)
        modes[name] = tuple(circ + part(ctx, cell_fate) + part(ctx, depots))
    ctx.primed, ctx.course = False, final
    caps = part(ctx, capacities)
    ctx.layout.freeze()
    return Network(ctx.layout, MappingProxyType(modes), tuple(inputs), MappingProxyType(caps), tuple(schedule))


#: Modifiers that can be active on an interval, in the order used in mode names.
MODIFIERS = ("primed", "vasodilated")
#: Every non-base mode without a disease course: the active modifiers joined by "+".
MODE_ORDER = ("vasodilated", "primed", "primed+vasodilated")
#: The flag of the k-th interval of the injuries' disease course ("course3"; k from 1).
COURSE = "course"


def mode_name(flags) -> str:
    """Name of the mode with the active modifiers ``flags`` ("base" if none); a disease-course
    interval's flag comes last ("primed+course3")."""
    flags = set(flags)
    active = [m for m in MODIFIERS if m in flags] + sorted(f for f in flags if f.startswith(COURSE))
    return "+".join(active) if active else "base"


def mode_flags(mode: str) -> frozenset[str]:
    """The modifiers active in ``mode`` (inverse of :func:`mode_name`)."""
    return frozenset() if mode == "base" else frozenset(mode.split("+"))


def vasodilator_windows(scenario: Scenario, params) -> list[tuple[float, float]]:
    """Merged windows ``[start, end)`` [h] of the vasodilator effect: each dose with a
    vasodilator acts from its time to the end of its infusion plus "Vasodilator effect
    duration [h]"; overlapping (or touching) windows are merged."""
    windows: list[tuple[float, float]] = []
    vaso = sorted((d for d in scenario.dose if d.vasodilator), key=lambda d: d.time_h)
    if vaso:
        duration = params["Vasodilator effect duration [h]"]
        for d in vaso:
            start, end = d.time_h, d.time_h + d.infusion_min / 60.0 + duration
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
            else:
                windows.append((start, end))
    return windows


def priming_start(ctx: BuildContext) -> float | None:
    """Time [h] from which the host is primed (adaptive immunity), or None.

    An immunocompetent host is primed from the first dose plus "Immune priming delay [h]";
    from then on the immune hazard of every live administered cell is multiplied by
    "Primed immune hazard factor [-]". Any origin primes: the boost acts on the immune hazard
    ``k_imm * immunogenicity``, so it scales with the origin's immunogenicity (large for
    xenogeneic and allogeneic cells, small for autologous/syngeneic ones). No priming in
    immunodeficient hosts or with a (scalar) factor of exactly 1 (so that factor 1 reproduces
    the unprimed model bit for bit). In a batch build the factor may be an array: then the primed modes
    are always built (subjects with factor 1 get primed rates equal to the base rates).
    """
    sc = ctx.scenario
    if sc.subject.immune != "immunocompetent" or not sc.dose:
        return None
    factor = ctx.p("Primed immune hazard factor [-]")
    if not is_batch(factor) and factor == 1.0:
        return None
    delay = ctx.p("Immune priming delay [h]")
    if is_batch(delay):
        raise ValueError("Immune priming delay [h] sets the priming time and must be one number "
                         "(not per-subject values)")
    return min(float(d.time_h) for d in sc.dose) + float(delay)


def injury_course(scenario: Scenario):
    """The piecewise-constant disease course of the scenario's injuries that have one:
    ``(segments, final)`` of :func:`mscpk.inputs.course.course_segments`."""
    with_course = [(inj.site, inj.onset_h, inj.time_course()) for inj in scenario.subject.injury]
    return course_segments([c for c in with_course if c[2] is not None])


def mode_schedule(vaso_windows: list[tuple[float, float]], t_primed: float | None,
                  segments=()) -> list[tuple[float, float, str]]:
    """The non-base intervals ``(t0, t1, mode)`` as a partition (sorted, disjoint, adjacent
    intervals of the same mode merged): the vasodilator windows, the primed period
    ``[t_primed, inf)`` and the disease-course intervals ``segments`` (``(t0, t1, ...)``, the
    k-th one flagged "course{k}"); where several apply their flags combine ("primed+vasodilated")."""
    bounds = sorted({t for w in vaso_windows for t in w} | ({t_primed} if t_primed is not None else set())
                    | {t for a, b, *_ in segments for t in (a, b)})
    out: list[tuple[float, float, str]] = []
    for k, t0 in enumerate(bounds):
        t1 = bounds[k + 1] if k + 1 < len(bounds) else float("inf")
        flags = set()
        if any(a <= t0 < b for a, b in vaso_windows):
            flags.add("vasodilated")
        if t_primed is not None and t0 >= t_primed:
            flags.add("primed")
        flags.update(f"{COURSE}{j}" for j, (a, b, *_) in enumerate(segments, 1) if a <= t0 < b)
        mode = mode_name(flags)
        if mode == "base" or t1 <= t0:
            continue
        if out and out[-1][2] == mode and out[-1][1] == t0:
            out[-1] = (out[-1][0], t1, mode)
        else:
            out.append((t0, t1, mode))
    return out
