"""``optimize``: the best design (dose, times, intervals, infusion, route, number of injections)
for a metric under constraints: a Latin-hypercube stage over the ranges, then a local
refinement (COBYLA) from its best point, for every combination of the discrete choices.
Details: docs/design.md."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.analysis.population.evaluate import evaluate, plan
from mscpk.analysis.population.run import population
from mscpk.analysis.summary import embolic_cite, embolic_limits
from mscpk.errors import ScenarioError
from mscpk.inputs.keys import set_path
from mscpk.inputs.load import scenario_from_dict, vary_kind
from mscpk.inputs.resolve import engine_inputs
from mscpk.inputs.scenario import Scenario

#: Latin-hypercube points per continuous key (at least :data:`MIN_GLOBAL` in all).
GLOBAL_PER_KEY = 8
MIN_GLOBAL = 12
#: Local refinement: COBYLA's final trust radius on the unit scale and its evaluation budget.
LOCAL_TOL = 1e-5
LOCAL_MAXITER = 200
#: A range is searched on a log scale when it spans at least this ratio (doses, cell numbers).
LOG_RATIO = 10.0
#: In a population, a "<=" constraint holds for this upper percentile of subjects, ">=" for the lower.
SAFETY_PERCENTILE = 95.0
_CONSTRAINT = re.compile(r"^\s*(.+?)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Key:
    """A design key: a continuous range (``low``, ``high``; ``log`` scale) or discrete ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def value(self, u: float) -> float:
        """The value at ``u`` in [0, 1] of a continuous range."""
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    bound: float

    def margin(self, value: float) -> float:
        """>= 0 when the constraint holds (relative to the bound's size)."""
        scale = max(abs(self.bound), 1e-300)
        return (self.bound - value) / scale if self.op == "<=" else (value - self.bound) / scale


@dataclass(frozen=True)
class OptimizeResult:
    """``best`` (key -> value), ``objective`` (the metric there), ``constraints`` (metric ->
    value there, the embolic limits' included), ``feasible``, ``evaluations``; ``embolic_limits``:
    the per-bed limits applied automatically (metric -> limit, bed whose limit it is, source);
    ``history``: every evaluated design (DataFrame)."""

    best: dict
    objective: float
    constraints: dict
    feasible: bool
    evaluations: int
    maximize: str
    history: Any = field(repr=False)
    embolic_limits: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The contract's JSON (shared/INTERFACE.md, ``mscpk optimize``), with ``embolic_limits``."""
        return json.dumps({"best": self.best, "objective": self.objective, "constraints": self.constraints,
                           "feasible": self.feasible, "evaluations": self.evaluations,
                           "maximize": self.maximize, "embolic_limits": self.embolic_limits}, indent=1)


def parse_keys(items: Sequence[str]) -> list[Key]:
    """``["KEY=LOW..HIGH", "KEY=a,b,c", ...]`` -> keys (a range, or discrete choices)."""
    keys: list[Key] = []
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise ScenarioError(f"--vary {item!r}: expected KEY=LOW..HIGH or KEY=a,b,c")
        if any(k.name == name for k in keys):
            raise ScenarioError(f"--vary: key {name!r} is given twice")
        if ".." in text:
            lo, _, hi = text.partition("..")
            try:
                low, high = float(lo), float(hi)
            except ValueError:
                raise ScenarioError(f"--vary {item!r}: LOW..HIGH must be two numbers") from None
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ScenarioError(f"--vary {item!r}: need finite LOW < HIGH")
            keys.append(Key(name, low, high, log=low > 0 and high / low >= LOG_RATIO))
        else:
            vals = [v.strip() for v in text.split(",")]
            if any(not v for v in vals):
                raise ScenarioError(f"--vary {item!r}: an empty choice; give KEY=a,b,c")
            keys.append(Key(name, choices=tuple(_number_or_text(v) for v in vals)))
    if not keys:
        raise ScenarioError("--vary: give at least one design key (KEY=LOW..HIGH or KEY=a,b,c)")
    return keys


def _number_or_text(v: str):
    try:
        x = float(v)
    except ValueError:
        return v
    return int(x) if x.is_integer() and "." not in v and "e" not in v.lower() else x


def parse_constraints(items: Sequence[str]) -> list[Constraint]:
    """``["lung:peak_occlusion<=0.05", ...]`` -> constraints."""
    out = []
    for item in items:
        m = _CONSTRAINT.match(item)
        if not m:
            raise ScenarioError(f"--constraint {item!r}: expected METRIC<=X or METRIC>=X")
        out.append(Constraint(m.group(1), m.group(2), float(m.group(3))))
    return out


def embolic_constraints(scenario: Scenario, given: Sequence[Constraint] = ()) -> dict[str, dict]:
    """The per-bed embolic limits (data/embolic.toml, each bed's "warn" level, the lung's for a bed
    without its own) as ``SITE:peak_occlusion<=limit`` for every capillary bed of the scenario's
    species, except beds that ``given`` already constrains: metric -> ``{"limit", "bed", "source"}``.

    >>> import mscpk
    >>> lim = embolic_constraints(mscpk.load_scenario("examples/iv_mouse.toml"))
    >>> lim["lung:peak_occlusion"]["limit"], lim["kidney:peak_occlusion"]["bed"]
    (0.0465, 'lung')
    """
    taken = {c.metric for c in given}
    out = {}
    for organ in engine_inputs(scenario)[0].organ_names():
        metric = f"{organ}:peak_occlusion"
        if metric not in taken:
            bed, limits = embolic_limits(organ)
            out[metric] = {"limit": limits["warn"], "bed": bed, "source": f"{embolic_cite(bed)}, data/embolic.toml"}
    return out


def _design_scenario(base: dict, scenario: Scenario, design: Mapping[str, Any]) -> Scenario:
    raw = copy.deepcopy(base)
    for k, v in design.items():
        if vary_kind(k, scenario) in ("parameter", "physiology"):
            raw.setdefault("parameters", {})[k] = float(v)
        else:
            set_path(raw, k, v, what="design key")
    try:
        return scenario_from_dict(raw)
    except ScenarioError as exc:
        raise ScenarioError(f"design {dict(design)}: {exc}") from None


class _Evaluator:
    """Metrics of designs, each simulated once (a dictionary of designs already seen)."""

    def __init__(self, scenario: Scenario, objective: str, constraints: list[Constraint]) -> None:
        self.scenario, self.objective, self.constraints = scenario, objective, constraints
        self.base = scenario.model_dump(mode="json", exclude_none=True)
        self.responders = objective == "responders"
        if self.responders:
            pop = scenario.population
            if pop is None or pop.responder is None:
                raise ScenarioError("--maximize responders needs a [population] with a [population.responder] table")
            self.metrics = list(dict.fromkeys([pop.responder.metric] + [c.metric for c in constraints]))
        else:
            self.metrics = list(dict.fromkeys([objective] + [c.metric for c in constraints]))
            self.base.pop("population", None)
        plan(scenario, self.metrics)  # names checked before any work
        self.rows: list[dict] = []
        self._seen: dict[str, dict] = {}

    def __call__(self, design: Mapping[str, Any]) -> dict:
        key = json.dumps(design, sort_keys=True)
        if key in self._seen:
            return self._seen[key]
        sc = _design_scenario(self.base, self.scenario, design)
        if self.responders:
            res = population(sc, self.metrics)
            values = {m: float(np.percentile(res.subjects[m], SAFETY_PERCENTILE if c.op == "<=" else
                                             100 - SAFETY_PERCENTILE))
                      for m, c in ((c.metric, c) for c in self.constraints)}
            values["responders"] = float(res.responders.fraction.iloc[0])
        else:
            got = evaluate(plan(sc, self.metrics), {}, 1)[0]
            values = dict(zip(self.metrics, map(float, got)))
        row = {**design, **values, "feasible": all(c.margin(values[c.metric]) >= -1e-9 for c in self.constraints)}
        self.rows.append(row)
        self._seen[key] = row
        return row

    def violation(self, row: dict) -> float:
        return sum(max(0.0, -c.margin(row[c.metric])) for c in self.constraints)


def _goal(value: float) -> float:
    """What the local stage minimises: -log(metric) for a positive metric (exposures span decades)."""
    return -math.log(value) if value > 0 else -value


def optimize(scenario: Scenario, maximize: str, vary: Sequence[str] | Sequence[Key],
             constraints: Sequence[str] | Sequence[Constraint] = (), *, n_global: int | None = None,
             seed: int = 0, embolic: bool = True) -> OptimizeResult:
    """The design within the ``vary`` ranges that maximises ``maximize`` (a metric as in
    ``population``, or ``"responders"``: the responder fraction of the scenario's population)
    under ``constraints`` (``"METRIC<=X"``) and, with ``embolic`` (the default), every capillary
    bed's embolic limit (:func:`embolic_constraints`; a bed the user constrains keeps the user's).

    Examples
    --------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
    >>> best = mscpk.optimize(sc, "heart:cell_days", ["dose[1].cells=1e5..1e7"], ["lung:peak_occlusion<=0.03"])
    >>> best.feasible, round(best.constraints["lung:peak_occlusion"], 4)
    (True, 0.03)
    """
    from scipy.optimize import minimize
    from scipy.stats import qmc

    keys = parse_keys(vary) if vary and isinstance(vary[0], str) else list(vary)
    cons = parse_constraints(constraints) if constraints and isinstance(constraints[0], str) else list(constraints)
    limits = embolic_constraints(scenario, cons) if embolic else {}
    cons += [Constraint(m, "<=", v["limit"]) for m, v in limits.items()]
    ev = _Evaluator(scenario, maximize, cons)
    cont = [k for k in keys if not k.choices]
    disc = [k for k in keys if k.choices]
    for k in cont:  # both ends must give valid scenarios
        for u in (0.0, 1.0):
            _design_scenario(ev.base, scenario, {k.name: k.value(u)})
    n = n_global or max(MIN_GLOBAL, GLOBAL_PER_KEY * len(cont))

    def design_at(choice: tuple, u: np.ndarray) -> dict:
        d = {k.name: v for k, v in zip(disc, choice)}
        d.update({k.name: k.value(float(np.clip(x, 0.0, 1.0))) for k, x in zip(cont, u)})
        return d

    def rank(row: dict) -> tuple:  # feasible first, then the objective; else the least violation
        return (0, -row[maximize]) if row["feasible"] else (1, ev.violation(row))

    best = None
    for choice in itertools.product(*(k.choices for k in disc)) if disc else [()]:
        if not cont:
            row = ev(design_at(choice, np.zeros(0)))
            best = row if best is None or rank(row) < rank(best) else best
            continue
        pts = qmc.LatinHypercube(d=len(cont), seed=seed).random(n)
        rows = [ev(design_at(choice, u)) for u in pts]
        start_i = min(range(n), key=lambda i: rank(rows[i]))

        def f(u, choice=choice):
            return _goal(ev(design_at(choice, u))[maximize])

        g = [lambda u, c=c, choice=choice: c.margin(ev(design_at(choice, u))[c.metric]) for c in cons]
        g += [lambda u, j=j: u[j] for j in range(len(cont))] + [lambda u, j=j: 1.0 - u[j] for j in range(len(cont))]
        res = minimize(f, pts[start_i], method="COBYLA", constraints=[{"type": "ineq", "fun": fn} for fn in g],
                       options={"rhobeg": 0.25, "tol": LOCAL_TOL, "maxiter": LOCAL_MAXITER})
        for row in (rows[start_i], ev(design_at(choice, np.asarray(res.x)))):
            best = row if best is None or rank(row) < rank(best) else best
    import pandas as pd

    return OptimizeResult({k.name: best[k.name] for k in keys}, float(best[maximize]),
                          {c.metric: float(best[c.metric]) for c in cons}, bool(best["feasible"]), len(ev.rows),
                          maximize, pd.DataFrame(ev.rows), limits)


__all__ = ["optimize", "OptimizeResult", "Key", "Constraint", "parse_keys", "parse_constraints",
           "embolic_constraints"]
