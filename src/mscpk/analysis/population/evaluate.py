"""Evaluating subjects: varied values -> scenarios and parameter samples -> the batch engine ->
metrics (and band counts).

What the batch engine takes as per-subject arrays (parameters, physiology, age/sex/weight,
cell size, viability, injury severity, one dose's cells) is evaluated in one batch per group;
subjects that share every other varied scenario key (categorical keys, dose times, ...) form
a group: one scenario. A group of one distinct subject runs
:func:`~mscpk.engine.simulate.simulate`; identical subjects are simulated once and share the
result (docs/populations.md, "Evaluation").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from mscpk.analysis.population.bands import Bands
from mscpk.analysis.effect import effect_curves
from mscpk.analysis.summary import exposure
from mscpk.engine import saturation as sat
from mscpk.engine.batch import simulate_batch
from mscpk.engine.batch_scenarios import simulate_batch_scenarios
from mscpk.engine.scenario_arrays import array_key
from mscpk.engine.network import split_state
from mscpk.engine.result import CELL_QUANTITIES
from mscpk.engine.simulate import network_for, simulate
from mscpk.errors import PhysiologyError, ScenarioError
from mscpk.inputs.keys import set_path
from mscpk.inputs.load import COVARIATES, scenario_from_dict, vary_kind
from mscpk.inputs.resolve import engine_inputs
from mscpk.inputs.physiology import load_species, physiology_names
from mscpk.inputs.physiology.age import age_range, physiology_at_age
from mscpk.inputs.population import Metric, parse_metric
from mscpk.inputs.scenario import Scenario

#: The parameters that set every bed's embolic capacity (engine/model/circulation.capacities).
CAPACITIES = ("Lung embolic capacity [cells/g]", "Systemic embolic capacity [cells/g]")
#: Share of the dose below which no live administered cells are said to persist [-] (the
#: contract's ``persistence_h``: shared/INTERFACE.md).
PERSISTENCE_SHARE = 0.01


@dataclass(frozen=True)
class Plan:
    """What to compute for every subject: the metrics, output times and sites needed."""

    scenario: Scenario
    metrics: tuple[Metric, ...]
    times: np.ndarray
    sites: tuple[str, ...] | None  # None: every site (bands, persistence)
    bands: bool = False


def plan(scenario: Scenario, metrics: Sequence[str], *, bands: bool = False,
         times_h: Sequence[float] | None = None) -> Plan:
    """A :class:`Plan`, the metric names checked (ScenarioError naming the metric)."""
    parsed = []
    for k, text in enumerate(metrics, 1):
        try:
            parsed.append(parse_metric(text, f"metric {k}"))
        except ValueError as exc:
            raise ScenarioError(str(exc)) from None
    if not parsed:
        raise ScenarioError("metrics: give at least one metric, e.g. 'lung:cell_days'")
    times = np.asarray(times_h if times_h is not None else scenario.output_times(), dtype=float)
    if any(m.kind.startswith("effect") for m in parsed) and scenario.effect is None:
        raise ScenarioError(f"metric {next(m.text for m in parsed if m.kind.startswith('effect'))!r} needs an "
                            "[effect] table in the scenario (docs/effect.md)")
    extra = [m.hours for m in parsed if m.kind in ("live_at", "effect_at")]
    times = np.union1d(times, extra) if extra else times
    species, params = engine_inputs(scenario)
    net = network_for(scenario, params, species)  # simulate's cached build: the run reuses it
    known = list(dict.fromkeys(split_state(x)[0] for x in net.names))
    for m in parsed:
        if m.site is not None and m.site not in known:
            raise ScenarioError(f"metric {m.text!r}: {m.site!r} is not a site of this scenario; allowed: "
                                f"{', '.join(known)}")
        if m.kind == "peak_occlusion" and m.site not in net.capacities:
            raise ScenarioError(f"metric {m.text!r}: {m.site!r} has no capillary bed; beds: {', '.join(net.capacities)}")
    whole = bands or any(m.kind == "persistence_h" for m in parsed)
    wanted = [m.site for m in parsed if m.site is not None]
    if any(m.kind.startswith("effect") for m in parsed):
        wanted.append(scenario.effect.site)
    sites = None if whole else tuple(dict.fromkeys(wanted))
    return Plan(scenario, tuple(parsed), times, sites, bands)


def _metric_values(p: Plan, cells: np.ndarray, sites: Sequence[str], occ: Mapping[str, np.ndarray],
                   dose: np.ndarray) -> np.ndarray:
    """(N, n_metrics) from ``cells`` (N, T, site, quantity), per-bed peak occlusion and the
    cells given (N,)."""
    live = cells[..., CELL_QUANTITIES.index("live_cells")]  # (N, T, S)
    out = np.empty((cells.shape[0], len(p.metrics)))
    eff = None
    for j, m in enumerate(p.metrics):
        if m.kind == "persistence_h":
            out[:, j] = _persistence(p.times, live.sum(axis=2), dose)
            continue
        if m.kind.startswith("effect"):
            if eff is None:  # one effect time course for every effect metric
                eff = effect_curves(p.scenario.effect, p.times, live[:, :, list(sites).index(p.scenario.effect.site)])[1]
            out[:, j] = eff.max(axis=1) if m.kind == "effect_max" else eff[:, int(np.searchsorted(p.times, m.hours))]
            continue
        s = list(sites).index(m.site)
        if m.kind == "cell_days":
            out[:, j] = exposure(p.times, live[:, :, s]) / 24.0
        elif m.kind == "peak_live":
            out[:, j] = live[:, :, s].max(axis=1)
        elif m.kind == "live_at":
            out[:, j] = live[:, int(np.searchsorted(p.times, m.hours)), s]
        else:  # peak_occlusion
            out[:, j] = occ[m.site]
    return out


def _persistence(times: np.ndarray, live: np.ndarray, dose) -> np.ndarray:
    """Time [h] at which the live administered cells (N, T) fall for good below
    :data:`PERSISTENCE_SHARE` of the dose (a number or (N,); log-linear between output times;
    the first output time if never above; inf if still above at the last output time)."""
    limit = PERSISTENCE_SHARE * np.broadcast_to(np.asarray(dose, dtype=float), live.shape[:1])[:, None]
    above = live >= limit
    n_t = live.shape[1]
    last = np.where(above.any(axis=1), n_t - 1 - np.argmax(above[:, ::-1], axis=1), -1)  # last time above
    out = np.full(live.shape[0], np.inf)
    out[last < 0] = times[0]
    mid = np.nonzero((last >= 0) & (last < n_t - 1))[0]
    k = last[mid]
    y0, y1 = live[mid, k], live[mid, k + 1]
    t0, t1 = times[k], times[k + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = t0 + (t1 - t0) * np.log(y0 / limit[mid, 0]) / np.log(y0 / y1)
    out[mid] = np.where(y1 > 0, cross, t1)
    return out


def _group_scenario(base: Scenario, keys: Sequence[str], combo: Sequence) -> Scenario:
    raw = base.model_dump(mode="json", exclude_none=True, exclude={"population"})
    for k, v in zip(keys, combo):
        set_path(raw, k, v.item() if isinstance(v, np.generic) else v, what="population.vary key")
    try:
        return scenario_from_dict(raw)
    except ScenarioError as exc:
        raise ScenarioError(f"population subject with {dict(zip(keys, combo))}: {exc}") from None


def _amounts(sc: Scenario, values: Mapping[str, np.ndarray]):
    """``(keys, factor, scenario)`` when the cells given differ per subject in a way that scales
    the outputs: one dose, varied ``dose[1].cells`` or ``dose[1].cells_per_kg`` (or a per-kg dose
    with a varied body weight); ``factor`` (n,): each subject's cells over those of ``scenario``
    (the scenario with the dose fixed in cells). Else None. (A subject given ``f`` times the
    cells is the fixed-dose subject with :data:`CAPACITIES` divided by ``f``, its cells times
    ``f``: see :func:`evaluate`.)"""
    if len(sc.dose) != 1:
        return None
    dose = sc.dose[0]
    keys = [k for k in ("dose[1].cells", "dose[1].cells_per_kg") if k in values]
    per_kg = dose.cells_per_kg is not None
    weight = per_kg and "Body weight [kg]" in values
    if not keys and not weight:
        return None
    species, _ = engine_inputs(sc)
    ref_bw = species.body_weight_kg
    ref = float(dose.cells) if not per_kg else float(dose.cells_per_kg) * ref_bw
    n = len(next(iter(values.values())))
    amount = np.asarray(values[keys[0]], dtype=float) if keys else np.full(n, dose.cells_per_kg if per_kg else ref)
    if per_kg:
        amount = amount * (np.asarray(values["Body weight [kg]"], dtype=float) if weight else ref_bw)
    fixed = sc.model_copy(update={"dose": (dose.model_copy(update={"cells": ref, "cells_per_kg": None}),)})
    return keys, amount / ref, fixed


def _simulate_one(p: Plan, sc: Scenario, mode: str):
    """(cells (1, T, S, Q), per-bed peak occlusion, cells given) of one subject by ``simulate``."""
    res = simulate(sc, times_h=p.times, saturation=mode)
    sites = list(res.sites) if p.sites is None else list(p.sites)
    cells = res.to_xarray().sel(site=sites).fillna(0.0).values[None]  # as the batch: 0, not NaN
    occ = {b: np.array([v]) for b, v in sat.peak_occlusion_by_bed(res.network, res.states).items()}
    return sites, cells, occ, float(res.administered.max())


def _subject_scenario(sc: Scenario, keys: Sequence[str], values: Mapping[str, np.ndarray],
                      pkeys: Sequence[str], i: int) -> Scenario:
    """Subject ``i`` as a scenario of its own (scenario keys set, parameters as overrides)."""
    one = _group_scenario(sc, keys, [values[k][i] for k in keys]) if keys else sc
    return one.model_copy(update={"parameters": {**one.parameters, **{k: float(values[k][i]) for k in pkeys}}})


def _physiology(sc: Scenario, values: Mapping[str, np.ndarray], n: int) -> Mapping[str, np.ndarray]:
    """``values`` with the covariates that set every physiology value replaced by those values
    (per-subject arrays): age and sex (ICRP 89 masses), and ``subject.body_weight_kg`` (the
    species scaled allometrically, as ``load_species(name, weight)``) when the scenario sets no
    physiology name in ``[parameters]`` (else it groups subjects as a scenario key)."""
    if any(k in values for k in COVARIATES):
        ages = values.get("covariate.age_y", np.full(n, age_range()[1]))
        return {**{k: v for k, v in values.items() if k not in COVARIATES},
                **physiology_at_age(load_species(sc.subject.species), ages, values.get("covariate.sex"))}
    weight = "subject.body_weight_kg"
    species = load_species(sc.subject.species)
    if weight in values and not set(sc.parameters) & set(physiology_names(species)):
        try:
            scaled = species.scaled(np.asarray(values[weight], dtype=float))
        except PhysiologyError as exc:
            raise ScenarioError(f"population.vary[{weight!r}]: {exc}") from None
        return {**{k: v for k, v in values.items() if k != weight},
                **{k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in scaled.parameter_values().items()}}
    return values


def evaluate(p: Plan, values: Mapping[str, np.ndarray], n: int, *, saturation: str | None = None,
             bands: Bands | None = None, threads: int | None = None) -> np.ndarray:
    """Metrics (n, n_metrics) of ``n`` subjects with the varied ``values`` (key -> (n,)); band
    counts are added to ``bands`` when given; ``threads``: the batch engine's threads."""
    sc = p.scenario
    values = _physiology(sc, values, n)
    kinds = {k: vary_kind(k, sc) for k in values}
    mode = saturation if saturation is not None else sc.run.saturation
    amounts = _amounts(sc, values)
    scaled = amounts[0] if amounts is not None else []
    base = amounts[2] if amounts is not None else sc
    # scenario keys: numbers the build takes as arrays (one batch), the rest group subjects
    akeys = [k for k in values if kinds[k] == "scenario" and array_key(k)]
    skeys = [k for k in values if kinds[k] == "scenario" and k not in akeys and k not in scaled]
    pkeys = [k for k in values if kinds[k] != "scenario"]
    # a per-kg dose with a sampled body weight that cannot be scaled (several doses): the weight
    # groups subjects like a scenario key and is set as an override
    weight = ["Body weight [kg]"] if ("Body weight [kg]" in pkeys and amounts is None
                                      and any(d.cells_per_kg is not None for d in sc.dose)) else []
    pkeys = [k for k in pkeys if k not in weight]
    out = np.empty((n, len(p.metrics)))
    groups: dict[str, list[int]] = {}
    for i in range(n):
        combo = [values[k][i] for k in skeys + weight]
        groups.setdefault(json.dumps([c.item() if isinstance(c, np.generic) else c for c in combo]), []).append(i)
    if amounts is not None:  # the saturable arrest k x (1 - x / capacity) is homogeneous in (x, capacity)
        own = engine_inputs(base)[1]
        values = {**values, **{k: np.asarray(values[k], dtype=float) / amounts[1] if k in values
                               else own[k] / amounts[1] for k in CAPACITIES}}
        pkeys += [k for k in CAPACITIES if k not in pkeys]
    for text, members in groups.items():
        combo = json.loads(text)
        gsc = _group_scenario(base, skeys, combo[:len(skeys)]) if skeys else base
        if weight:
            gsc = gsc.model_copy(update={"parameters": {**gsc.parameters, weight[0]: float(combo[-1])}})
        members = np.asarray(members)
        cols = pkeys + akeys
        # identical subjects are simulated once (a zero-variance population is one simulation)
        rows, back = (np.unique(np.column_stack([np.asarray(values[k][members], dtype=float) for k in cols]),
                                axis=0, return_inverse=True) if cols else (np.zeros((1, 0)), np.zeros(members.size, int)))
        back = back.ravel()
        if rows.shape[0] > 1:
            smp = {k: rows[:, j] for j, k in enumerate(pkeys)}
            if akeys:
                arrays = {k: rows[:, len(pkeys) + j] for j, k in enumerate(akeys)}
                for k, v in arrays.items():  # every value a valid scenario value (checked at the extremes)
                    for x in (v.min(), v.max()):
                        _group_scenario(gsc, [k], [float(x)])
                ds = simulate_batch_scenarios(gsc, arrays, smp, times_h=p.times, saturation=mode,
                                              sites=p.sites, threads=threads)
            else:
                ds = simulate_batch(gsc, smp, times_h=p.times, saturation=mode, sites=p.sites, threads=threads)
            sites = [str(s) for s in ds.site.values]
            cells = ds.cells.values
            occ = {str(b): ds.peak_occlusion_by_site.sel(bed=b).values for b in ds.bed.values}
            dose = float(ds.administered.values.max())
        else:
            one = _subject_scenario(gsc, akeys, {k: rows[:, j] for j, k in enumerate(cols)}, pkeys, 0)
            sites, cells, occ, dose = _simulate_one(p, one, mode)
        cells, occ = cells[back], {b: v[back] for b, v in occ.items()}
        doses = np.full(members.size, dose)
        if amounts is not None:  # f times the cells: the fixed-dose subject with capacities / f, times f
            f = amounts[1][members]
            cells, doses = cells * f[:, None, None, None], doses * f
        out[members] = _metric_values(p, cells, sites, occ, doses)
        if bands is not None:
            bands.add(sites, cells)
    return out


__all__ = ["Plan", "plan", "evaluate", "PERSISTENCE_SHARE"]
