"""SBML Level 3 Version 2 export of a scenario's network (one species per state,
``{site}__{state}``; amounts in cells, time in hours; modes as switched parameters; doses as
initial amounts, events and infusion reactions). Format: docs/sbml.md.

>>> import mscpk, libsbml
>>> xml = mscpk.export_sbml(mscpk.load_scenario("examples/iv_mouse.toml"))
>>> libsbml.readSBMLFromString(xml).getModel().getSpecies("lung__arrested").getHasOnlySubstanceUnits()
True
"""

from __future__ import annotations

import html
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import libsbml
import numpy as np

from mscpk._version import __version__
from mscpk.engine import saturation as sat
from mscpk.engine.model.build import build_network
from mscpk.engine.solvers import LinearSolver
from mscpk.utils import write_text_atomic
from mscpk.inputs.resolve import engine_inputs
from mscpk.engine.network import Network, Transition
from mscpk.inputs.parameters import ParameterSet
from mscpk.inputs.scenario import Scenario

SBML_LEVEL = 3
SBML_VERSION = 2
COMPARTMENT = "body"

__all__ = ["export_sbml", "build_sbml_document", "resolve_saturation"]


# --------------------------------------------------------------------------------------
# small helpers

def _check(rc: int, what: str) -> None:
    """Raise if a libsbml setter failed (catches ill-formed ids and values early)."""
    if rc != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise RuntimeError(f"libsbml: {what} failed: {libsbml.OperationReturnValue_toString(rc)}")


def _math(formula: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise RuntimeError(f"libsbml could not parse {formula!r}: {libsbml.getLastParseL3Error()}")
    return ast


def _num(x: float) -> str:
    """Shortest exact decimal of a float for a formula."""
    return repr(float(x))


def _sid(text: str) -> str:
    """A valid SBML SId made from ``text``."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", text)
    return s if s and (s[0].isalpha() or s[0] == "_") else "_" + s


def _notes(obj: libsbml.SBase, lines: Iterable[str]) -> None:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    _check(obj.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml">{body}</body>'), "setNotes")


def _unit(ud: libsbml.UnitDefinition, kind: int, exponent: float = 1.0,
          multiplier: float = 1.0) -> None:
    u = ud.createUnit()
    _check(u.setKind(kind), "unit kind")
    _check(u.setExponent(exponent), "unit exponent")
    _check(u.setScale(0), "unit scale")
    _check(u.setMultiplier(multiplier), "unit multiplier")


def _parameter(model: libsbml.Model, pid: str, value: float, units: str, constant: bool,
               name: str | None = None) -> libsbml.Parameter:
    p = model.createParameter()
    _check(p.setId(pid), f"parameter id {pid!r}")
    _check(p.setValue(float(value)), f"value of {pid}")
    _check(p.setUnits(units), f"units of {pid}")
    _check(p.setConstant(constant), f"constant of {pid}")
    if name:
        _check(p.setName(name), f"name of {pid}")
    return p


def _event(model: libsbml.Model, eid: str, t: float, assignments: Iterable[tuple[str, str]],
           name: str | None = None) -> libsbml.Event:
    """Event firing once when ``time >= t``; ``assignments``: (variable, formula)."""
    ev = model.createEvent()
    _check(ev.setId(eid), f"event id {eid!r}")
    if name:
        _check(ev.setName(name), f"name of {eid}")
    _check(ev.setUseValuesFromTriggerTime(True), "useValuesFromTriggerTime")
    trig = ev.createTrigger()
    _check(trig.setInitialValue(False), "trigger initialValue")
    _check(trig.setPersistent(True), "trigger persistent")
    _check(trig.setMath(_math(f"time >= {_num(t)} hour")), "trigger math")
    for var, formula in assignments:
        ea = ev.createEventAssignment()
        _check(ea.setVariable(var), f"event assignment variable {var!r}")
        _check(ea.setMath(_math(formula)), f"event assignment math for {var}")
    return ev


def _reaction(model: libsbml.Model, rid: str, source: str | None, target: str, law: str,
              name: str) -> libsbml.Reaction:
    r = model.createReaction()
    _check(r.setId(rid), f"reaction id {rid!r}")
    _check(r.setName(name), f"name of {rid}")
    _check(r.setReversible(False), "reversible")
    if source is not None:
        sr = r.createReactant()
        _check(sr.setSpecies(source), f"reactant {source}")
        _check(sr.setStoichiometry(1.0), "stoichiometry")
        _check(sr.setConstant(True), "stoichiometry constant")
    sp = r.createProduct()
    _check(sp.setSpecies(target), f"product {target}")
    _check(sp.setStoichiometry(1.0), "stoichiometry")
    _check(sp.setConstant(True), "stoichiometry constant")
    kl = r.createKineticLaw()
    _check(kl.setMath(_math(law)), f"kinetic law of {rid}")
    return r


# --------------------------------------------------------------------------------------
# saturation mode

def resolve_saturation(scenario: Scenario, saturation: str | None, net: Network,
                       params: ParameterSet) -> bool:
    """Whether saturable beds are exported as saturable (``True``) or linear.

    ``None`` takes the scenario's ``run.saturation``; ``"auto"`` decides exactly as
    :func:`mscpk.simulate` does (the linear solution's peak embolic burden against the
    "Saturation onset occlusion [-]" parameter on the scenario's output grid).
    """
    mode = sat.check_mode(scenario.run.saturation if saturation is None else saturation)
    peak = None
    if mode == "auto":
        times = np.asarray(sorted(set(float(t) for t in scenario.output_times())))
        peak = sat.peak_occlusion(net, LinearSolver().solve(net, times))
    return bool(sat.nonlinear(mode, peak, params[sat.ONSET]))


# --------------------------------------------------------------------------------------
# the document

def _mode_switch_id(mode: str) -> str:
    """SBML id of the 0/1 parameter of a non-base mode (``primed+vasodilated`` ->
    ``primed_vasodilated``)."""
    return _sid(mode.replace("+", "_"))


def _paired_transitions(net: Network) -> list[tuple[Transition, dict[str, float | None]]]:
    """Each transition with its rate in every mode (``{mode: rate}``, "base" first).

    Transitions are matched between modes by (source, target, process, saturable) and
    occurrence; ``None`` marks a transition absent from a mode (rate 0 there).
    """
    def keyed(trs: Iterable[Transition]) -> dict[tuple, Transition]:
        seen: dict[tuple, int] = defaultdict(int)
        out: dict[tuple, Transition] = {}
        for t in trs:
            k = (t.source, t.target, t.process, t.saturable)
            out[k + (seen[k],)] = t
            seen[k] += 1
        return out

    names = ["base"] + [m for m in net.modes if m != "base"]
    per_mode = {m: keyed(net.modes[m]) for m in names}
    keys = list(per_mode["base"])
    for m in names[1:]:
        keys += [k for k in per_mode[m] if k not in keys]
    out: list[tuple[Transition, dict[str, float | None]]] = []
    for k in keys:
        first = next(per_mode[m][k] for m in names if k in per_mode[m])
        out.append((first, {m: (per_mode[m][k].rate if k in per_mode[m] else None) for m in names}))
    return out


def build_sbml_document(scenario: Scenario, *, saturation: str | None = "off",
                        params: ParameterSet | None = None) -> libsbml.SBMLDocument:
    """The scenario's model as a libsbml ``SBMLDocument`` (Level 3 Version 2).

    See :func:`export_sbml` for the arguments and the module docstring for the layout.
    """

    species_phys, params = engine_inputs(scenario, params)
    net = build_network(scenario, params, species_phys)
    saturable = resolve_saturation(scenario, saturation, net, params)
    if "base" not in net.modes:  # pragma: no cover - guard
        raise NotImplementedError("SBML export: the network has no base mode")

    doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
    model = doc.createModel()
    _check(model.setId(_sid(f"mscpk_{scenario.name}")), "model id")
    _check(model.setName(scenario.name), "model name")
    _notes(model, [
        f"Exported by mscpk {__version__} from scenario {scenario.name!r}.",
        f"Species {species_phys.name}; amounts in cells, time in hours.",
        f"Saturable capillary beds: {'on' if saturable else 'off'}.",
        "Species ids are the mscpk state names {site}__{state}; the sum of all species equals "
        "the cells administered so far.",
    ])

    # units
    hour = model.createUnitDefinition()
    _check(hour.setId("hour"), "unit id")
    _unit(hour, libsbml.UNIT_KIND_SECOND, 1.0, 3600.0)
    cell = model.createUnitDefinition()
    _check(cell.setId("cell"), "unit id")
    _unit(cell, libsbml.UNIT_KIND_ITEM)
    per_hour = model.createUnitDefinition()
    _check(per_hour.setId("per_hour"), "unit id")
    _unit(per_hour, libsbml.UNIT_KIND_SECOND, -1.0, 3600.0)
    cph = model.createUnitDefinition()
    _check(cph.setId("cell_per_hour"), "unit id")
    _unit(cph, libsbml.UNIT_KIND_ITEM)
    _unit(cph, libsbml.UNIT_KIND_SECOND, -1.0, 3600.0)
    _check(model.setTimeUnits("hour"), "timeUnits")
    _check(model.setSubstanceUnits("cell"), "substanceUnits")
    _check(model.setExtentUnits("cell"), "extentUnits")
    _check(model.setVolumeUnits("litre"), "volumeUnits")

    comp = model.createCompartment()
    _check(comp.setId(COMPARTMENT), "compartment id")
    _check(comp.setName("whole body (nominal size; the model is in amounts)"), "compartment name")
    _check(comp.setSize(1.0), "compartment size")
    _check(comp.setSpatialDimensions(3), "compartment dimensions")
    _check(comp.setUnits("litre"), "compartment units")
    _check(comp.setConstant(True), "compartment constant")

    # species, with t = 0 boluses as initial amounts
    initial = np.zeros(len(net.layout))
    for inp in net.inputs:
        if inp.duration_h == 0 and inp.time_h <= 0:
            initial += net.input_vector(inp)
    for i, name in enumerate(net.names):
        sp = model.createSpecies()
        _check(sp.setId(name), f"species id {name!r}")
        site, _, kind = name.partition("__")
        _check(sp.setName(f"{site} {kind}"), f"name of {name}")
        _check(sp.setCompartment(COMPARTMENT), "species compartment")
        _check(sp.setInitialAmount(float(initial[i])), f"initial amount of {name}")
        _check(sp.setSubstanceUnits("cell"), "species units")
        _check(sp.setHasOnlySubstanceUnits(True), "hasOnlySubstanceUnits")
        _check(sp.setBoundaryCondition(False), "boundaryCondition")
        _check(sp.setConstant(False), "species constant")

    # rate constants: one per distinct rate value
    paired = _paired_transitions(net)
    rate_id: dict[float, str] = {}
    rate_uses: dict[float, list[str]] = defaultdict(list)
    rate_procs: dict[float, list[str]] = defaultdict(list)

    def use(rate: float, t: Transition, mode: str) -> None:
        if rate not in rate_id:
            rate_id[rate] = f"k_{len(rate_id) + 1}"
        rate_uses[rate].append(f"{t.process} ({t.source} -> {t.target}){'' if mode == 'base' else ', ' + mode}")
        if t.process not in rate_procs[rate]:
            rate_procs[rate].append(t.process)

    for t, rates in paired:
        rb = rates["base"]
        same = all(r == rb for r in rates.values())
        if rb is not None:
            use(rb, t, "base" if same else "base mode")
        if not same:
            for m, r in rates.items():
                if m != "base" and r is not None:
                    use(r, t, f"{m} mode")
    for rate, pid in rate_id.items():
        p = _parameter(model, pid, rate, "per_hour", True, "; ".join(rate_procs[rate]))
        _notes(p, [f"First-order rate constant {rate!r} 1/h, used by:"] + rate_uses[rate])

    # mode switches: one 0/1 parameter per non-base mode, toggled by events at its intervals
    switch: dict[str, str] = {}
    for m in net.modes:
        if m == "base":
            continue
        sid = _mode_switch_id(m)
        switch[m] = sid
        windows = [(t0, t1) for t0, t1, mode in net.schedule if mode == m]
        starts_on = any(t0 <= 0 < t1 for t0, t1 in windows)
        p = _parameter(model, sid, 1.0 if starts_on else 0.0, "dimensionless", False,
                       f"mode {m} active (1) or not (0)")
        _notes(p, [f"Mode {m!r}; switched by events at its intervals: "
                   + (", ".join(f"[{t0:g} h, {t1:g} h)" for t0, t1 in windows) or "none")])
    for j, (t0, t1, mode) in enumerate(net.schedule, start=1):
        if mode not in switch:  # pragma: no cover - guard
            raise NotImplementedError(f"SBML export: schedule uses unknown mode {mode!r}")
        sid = switch[mode]
        prefix = "vasodilator" if mode == "vasodilated" else sid
        if t0 > 0:
            _event(model, f"{prefix}_on_{j}", t0, [(sid, "1 dimensionless")],
                   f"mode {mode} starts at {t0:g} h")
        if np.isfinite(t1):
            _event(model, f"{prefix}_off_{j}", t1, [(sid, "0 dimensionless")],
                   f"mode {mode} ends at {t1:g} h")

    # saturable beds
    sat_groups: dict[str, str] = {}
    if saturable:
        used_groups = [t.saturable for t, _ in paired if t.saturable in net.capacities]
        for g in dict.fromkeys(used_groups):
            cap = net.capacities[g]
            cid, fid = _sid(f"cap_{g}"), _sid(f"bedfree_{g}")
            _parameter(model, cid, cap.capacity, "cell", True, f"capillary bed capacity of {g}")
            _parameter(model, fid, 1.0, "dimensionless", False, f"free fraction of the {g} capillary bed")
            occ = " + ".join(cap.states) if cap.states else "0 cell"
            rule = model.createAssignmentRule()
            _check(rule.setVariable(fid), "assignment rule variable")
            _check(rule.setMath(_math(f"piecewise(0 dimensionless, ({occ}) >= {cid}, 1 dimensionless - ({occ}) / {cid})")),
                   f"assignment rule of {fid}")
            sat_groups[g] = fid

    # transitions
    all_switches = " + ".join(switch.values())
    for n, (t, rates) in enumerate(paired, start=1):
        rb = rates["base"]
        if all(r == rb for r in rates.values()):
            k = rate_id[rb]
        else:
            terms = []
            if rb is not None:
                terms.append(f"{rate_id[rb]} * (1 dimensionless - ({all_switches}))")
            for m, r in rates.items():
                if m != "base" and r is not None:
                    terms.append(f"{rate_id[r]} * {switch[m]}")
            k = "(" + " + ".join(terms) + ")"
        law = f"{k} * {t.source}"
        if t.saturable in sat_groups:
            law = f"{k} * {sat_groups[t.saturable]} * {t.source}"
        r = _reaction(model, f"r_{n}", t.source, t.target, law, t.process)
        _notes(r, [f"{t.process}: {t.source} -> {t.target}"
                   + (f" (saturable: {t.saturable} bed)" if t.saturable in sat_groups else "")])

    # administrations after t = 0: boluses (grouped by time) and infusions
    boluses: dict[float, list] = defaultdict(list)
    for inp in net.inputs:
        if inp.duration_h == 0 and inp.time_h > 0:
            boluses[float(inp.time_h)].append(inp)
    for j, t in enumerate(sorted(boluses), start=1):
        amount: dict[str, float] = defaultdict(float)
        for inp in boluses[t]:
            for state, frac in inp.targets.items():
                amount[state] += inp.cells * frac
        ev = _event(model, f"bolus_{j}", t,
                    [(s, f"{s} + {_num(a)} cell") for s, a in amount.items()],
                    f"bolus of {sum(i.cells for i in boluses[t]):g} cells at {t:g} h")
        _notes(ev, [f"{s}: + {a!r} cells" for s, a in amount.items()])
    n_inf = 0
    for inp in net.inputs:
        if inp.duration_h <= 0:
            continue
        n_inf += 1
        pid = f"inf_{n_inf}"
        rate = inp.cells / inp.duration_h
        t0, t1 = float(inp.time_h), float(inp.time_h + inp.duration_h)
        p = _parameter(model, pid, rate if t0 <= 0 else 0.0, "cell_per_hour", False,
                       f"infusion {n_inf}: {inp.cells:g} cells over {inp.duration_h:g} h from {t0:g} h")
        _notes(p, [f"Infusion rate {rate!r} cells/h while on ({t0:g} h to {t1:g} h), 0 otherwise."])
        if t0 > 0:
            _event(model, f"{pid}_on", t0, [(pid, f"{_num(rate)} cell_per_hour")],
                   f"infusion {n_inf} starts at {t0:g} h")
        _event(model, f"{pid}_off", t1, [(pid, "0 cell_per_hour")], f"infusion {n_inf} ends at {t1:g} h")
        for state, frac in inp.targets.items():
            _reaction(model, f"{pid}_to_{state}", None, state, f"{pid} * {_num(frac)} dimensionless",
                      f"infusion {n_inf} into {state}")
    return doc


def export_sbml(scenario: Scenario, path: str | os.PathLike | None = None, *,
                saturation: str | None = "off", params: ParameterSet | None = None) -> str:
    """SBML Level 3 Version 2 text of the scenario's model; also written to ``path`` if given.

    Parameters
    ----------
    scenario:
        A :class:`~mscpk.inputs.scenario.Scenario` (e.g. from :func:`mscpk.load_scenario`).
    path:
        Optional output file; written atomically (temporary file + ``os.replace``), so no
        partial file is left behind on failure.
    saturation:
        ``"off"`` (default: linear transitions, as ``mscpk.simulate(..., saturation="off")``),
        ``"on"`` (saturable capillary beds, as ``saturation="on"``), ``"auto"`` (decided as
        :func:`mscpk.simulate` decides), or ``None`` (the scenario's ``run.saturation``, so the
        export matches a plain ``mscpk.simulate(scenario)``).
    params:
        Optional base :class:`~mscpk.inputs.parameters.ParameterSet` (the scenario's overrides are
        applied on top), as for :func:`mscpk.simulate`.

    Species ids are the state names (``lung__arrested``), amounts in cells, time in hours.

    Examples
    --------
    >>> import mscpk
    >>> xml = mscpk.export_sbml(mscpk.load_scenario("examples/iv_mouse.toml"))
    >>> 'id="lung__arrested"' in xml
    True
    """
    doc = build_sbml_document(scenario, saturation=saturation, params=params)
    text = libsbml.writeSBMLToString(doc)
    if not text:  # pragma: no cover
        raise RuntimeError("libsbml produced no output")
    if path is not None:
        write_text_atomic(Path(path), text)
    return text
