"""Forward model: one scenario + log-parameters -> noise-free expected signals through the
detection layer's observation models; a joint model shares one vector across groups."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mscpk.analysis.detection.observation import expected_signals
from mscpk.engine.simulate import simulate
from mscpk.errors import FitError, MscpkError, ParameterError
from mscpk.inputs.detection import detection_parameter_rows
from mscpk.inputs.resolve import resolve, scenario_parameters, scenario_species, split_overrides
from mscpk.utils import LRUCache

#: search range of each parameter: default / SEARCH_FACTOR .. default * SEARCH_FACTOR
SEARCH_FACTOR = 1000.0
#: floor of a prediction before its log is taken
PRED_FLOOR = 1e-9
#: evaluations (parameter vector, times, assays) each forward model keeps
_CACHE_SIZE = 8
#: bisection steps finding the end of a physiology parameter's allowed range (log scale)
_BISECTIONS = 40
#: physiology fields (key, "lung" or None for any other organ) that cannot be estimated
_FIXED = {
    ("body_weight", None): "the body weight is part of the design: set subject.body_weight_kg "
                           "in the scenario (the species physiology is scaled to it)",
    ("blood_flow", "lung"): "the lung receives the whole cardiac output (its flow fraction is "
                            "1); estimate 'Cardiac output [L/h]' instead",
    ("blood_flow", None): "the non-lung blood flow fractions must sum to 1, so one cannot change "
                          "alone; estimate 'Cardiac output [L/h]' or override the fractions "
                          "together in the scenario's [parameters]",
}

Signals = dict[str, tuple[tuple[str, ...], np.ndarray]]


class ForwardModel:
    """Scenario + estimated parameter names -> predictions for given log-parameters.

    Names are those ``mscpk params`` lists: model parameters, species physiology and
    detection settings (the last two enter as the scenario's ``[parameters]`` overrides; their
    search range is cut to the values the species check allows). ``label``: the label the
    detection layer assumes (default the product's label). An override of an estimated
    parameter in the scenario's ``[parameters]`` is its start.
    """

    def __init__(self, scenario: Any, names: Sequence[str], params: Any = None, *,
                 label: str | None = None) -> None:
        self.base = params if params is not None else scenario_parameters(scenario)
        names = list(names)
        if not names:
            raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
        if len(set(names)) != len(names):
            raise FitError(f"parameter named twice in the estimate list: {names}")
        others = _scenario_level(scenario, [n for n in names if n not in self.base])
        self.names = names
        self.scenario_names = tuple(others)  # estimated through the scenario's [parameters]
        keep = {k: v for k, v in scenario.parameters.items() if k not in names}
        self.scenario = (scenario if len(keep) == len(scenario.parameters)
                         else scenario.model_copy(update={"parameters": keep}))
        self.label = label
        bounds = []  # (lower, upper, start) of each parameter, natural scale
        self.units: dict[str, str] = {}
        for n in names:
            if n in others:
                v, unit = others[n]
                low, high = self._allowed_range(n, v)
            else:
                rec = self.base.record(n)
                v, unit = float(self.base[n]), rec.unit
                top = math.inf if rec.maximum is None else rec.maximum
                low = max(v / SEARCH_FACTOR, rec.minimum or 0.0)
                high = min(v * SEARCH_FACTOR, top)
            if not (v > 0 and math.isfinite(v)):
                raise FitError(f"parameter {n!r} has default {v!r}; only positive parameters "
                               "can be estimated on the log scale")
            bounds.append((low, high, v))
            self.units[n] = unit
        self.lower, self.upper, x0 = np.array([[math.log(b) for b in row] for row in bounds]).T
        self.x0 = np.clip(x0, self.lower, self.upper)
        self._cache = LRUCache(_CACHE_SIZE)
        self.n_evaluations = 0  # simulations actually run (cache misses)

    def _allowed_range(self, name: str, value: float) -> tuple[float, float]:
        """default / SEARCH_FACTOR .. default * SEARCH_FACTOR, each end moved in (bisection on
        the log scale) to the last value the scenario's checks allow (a fraction at most 1,
        organ volumes within the body weight, ...)."""
        def allowed(x: float) -> bool:
            try:
                resolve(self.scenario.model_copy(update={"parameters": {
                    **self.scenario.parameters, name: x}}))
            except MscpkError:
                return False
            return True

        ends = []
        for far in (value / SEARCH_FACTOR, value * SEARCH_FACTOR):
            if not allowed(far):
                inside, outside = math.log(value), math.log(far)
                for _ in range(_BISECTIONS):
                    mid = 0.5 * (inside + outside)
                    inside, outside = (mid, outside) if allowed(math.exp(mid)) else (inside, mid)
                far = math.exp(inside)
            ends.append(far)
        if not ends[0] < ends[1]:
            raise FitError(f"parameter {name!r} cannot be estimated: the scenario's checks allow "
                           f"no value other than {value:g}")
        return ends[0], ends[1]

    @property
    def label_name(self) -> str:
        return self.label if self.label is not None else self.scenario.product.label

    def parameter_set(self, theta_log: Sequence[float]):
        """The model parameter set at ``theta_log`` (scenario-level names left out)."""
        return self.base.updated({n: float(math.exp(t)) for n, t in zip(self.names, theta_log)
                                  if n not in self.scenario_names}, source="fitted")

    def scenario_at(self, theta_log: Sequence[float]) -> Any:
        """The scenario with the estimated physiology / detection names at ``theta_log``."""
        if not self.scenario_names:
            return self.scenario
        values = {n: float(math.exp(t)) for n, t in zip(self.names, theta_log)
                  if n in self.scenario_names}
        return self.scenario.model_copy(update={"parameters": {**self.scenario.parameters,
                                                               **values}})

    def administered(self, times_h: Sequence[float]) -> np.ndarray:
        """Cells administered by each of ``times_h`` (at the start values)."""
        res = simulate(self.scenario_at(self.x0), times_h=list(times_h),
                       params=self.parameter_set(self.x0))
        return np.asarray(res.administered, float)

    def signals(self, theta_log: Sequence[float], times_h: Sequence[float],
                assays: Sequence[str]) -> Signals:
        """Noise-free expected signal per assay (``""`` = live cells): ``{assay: (sites,
        array (T, S))}`` at the sorted unique ``times_h``; cached per parameter vector."""
        theta = np.asarray(theta_log, float)
        times = tuple(float(t) for t in times_h)
        assays = tuple(sorted(set(assays)))
        key = (theta.tobytes(), times, assays)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        self.n_evaluations += 1
        scenario, params = self.scenario_at(theta), self.parameter_set(theta)
        res = simulate(scenario, times_h=list(times), params=params)
        out: Signals = {}
        if "" in assays:
            sites = tuple(res.sites)
            out[""] = (sites, np.column_stack([np.asarray(res.quantity(s, "live_cells"), float)
                                               for s in sites]))
        det = [a for a in assays if a]
        if det:
            sig = expected_signals(res, scenario, det, label=self.label, params=params)
            for a, (sites, arr, _unit) in sig.items():
                out[a] = (sites, np.asarray(arr, float))
        self._cache.put(key, out)
        return out

    def predict(self, theta_log: Sequence[float], times: np.ndarray, sites: Sequence[str],
                assays: Sequence[str]) -> np.ndarray:
        """Predicted readout (the assay's unit) for each (time, site, assay) row."""
        times = np.asarray(times, float)
        utimes, index = np.unique(times, return_inverse=True)
        sites = np.asarray(sites, object)
        assays = np.asarray([a or "" for a in assays], object)
        sig = self.signals(theta_log, utimes, assays.tolist())
        out = np.empty(len(times))
        for key in set(zip(sites.tolist(), assays.tolist())):
            mask = (sites == key[0]) & (assays == key[1])
            s_list, arr = sig[key[1]]
            if key[0] not in s_list:
                raise FitError(f"site {key[0]!r} is not observed by "
                               f"{key[1] or 'live cells'}; sites: {', '.join(s_list)}")
            out[mask] = arr[index[mask], s_list.index(key[0])]
        return out


class JointModel:
    """Several :class:`ForwardModel` (one per group) sharing one parameter vector: bounds
    are the intersection of the groups' bounds, the start the first group's value."""

    def __init__(self, models: Mapping[str, ForwardModel]) -> None:
        if not models:
            raise FitError("no groups to fit")
        self.models = dict(models)
        first = next(iter(self.models.values()))
        self.names = list(first.names)
        for g, m in self.models.items():
            if list(m.names) != self.names:
                raise FitError(f"group {g!r} estimates {m.names}, not {self.names}")
        self.lower = np.max([m.lower for m in self.models.values()], axis=0)
        self.upper = np.min([m.upper for m in self.models.values()], axis=0)
        bad = [n for n, a, b in zip(self.names, self.lower, self.upper) if not a < b]
        if bad:
            raise FitError(f"the groups' search ranges of {', '.join(bad)} do not overlap")
        self.x0 = np.clip(first.x0, self.lower, self.upper)
        self.base = first.base
        self.units = first.units


def _scenario_level(scenario: Any, names: list[str]) -> dict[str, tuple[float, str]]:
    """name -> (value in force, unit) of the physiology and detection names among ``names``;
    unknown names and physiology that cannot change alone are refused with the reason."""
    if not names:
        return {}
    species = scenario_species(scenario)
    try:
        split_overrides(dict.fromkeys(names, 1.0), species)  # unknown names: did-you-mean
    except ParameterError as exc:
        raise FitError(str(exc)) from None
    fields = {name: (organ, f) for name, organ, f in species.field_items()}
    rows = {r[0]: r for r in species.parameter_rows()
            + detection_parameter_rows(scenario.parameters)}
    out = {}
    for n in names:
        organ, f = fields.get(n, (None, None))
        why = None if f is None else _FIXED.get(
            (f.key, "lung" if organ is not None and organ.name == "lung" else None))
        if why:
            raise FitError(f"parameter {n!r} cannot be estimated: {why}")
        out[n] = (float(rows[n][1]), rows[n][2])
    return out
