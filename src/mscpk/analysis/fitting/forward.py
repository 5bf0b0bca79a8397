"""Forward model: one scenario + log-parameters -> noise-free expected signals through the
detection layer's observation models; a joint model shares one vector across groups."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mscpk.analysis.detection.observation import expected_signals
from mscpk.engine.simulate import simulate
from mscpk.errors import FitError, ParameterError
from mscpk.inputs.resolve import scenario_parameters
from mscpk.utils import LRUCache

#: search range of each parameter: default / SEARCH_FACTOR .. default * SEARCH_FACTOR
SEARCH_FACTOR = 1000.0
#: floor of a prediction before its log is taken
PRED_FLOOR = 1e-9
#: evaluations (parameter vector, times, assays) each forward model keeps
_CACHE_SIZE = 8

Signals = dict[str, tuple[tuple[str, ...], np.ndarray]]


class ForwardModel:
    """Scenario + estimated parameter names -> predictions for given log-parameters.

    ``label``: the label the detection layer assumes (default the product's label). An
    override of an estimated parameter in the scenario's ``[parameters]`` is its start.
    """

    def __init__(self, scenario: Any, names: Sequence[str], params: Any = None, *,
                 label: str | None = None) -> None:
        self.base = params if params is not None else scenario_parameters(scenario)
        names = list(names)
        if not names:
            raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
        if len(set(names)) != len(names):
            raise FitError(f"parameter named twice in the estimate list: {names}")
        try:
            records = [self.base.record(n) for n in names]
        except ParameterError as exc:
            raise FitError(str(exc)) from None
        self.names = names
        keep = {k: v for k, v in scenario.parameters.items() if k not in names}
        self.scenario = (scenario if len(keep) == len(scenario.parameters)
                         else scenario.model_copy(update={"parameters": keep}))
        self.label = label
        bounds = []  # (lower, upper, start) of each parameter, natural scale
        for n, rec in zip(names, records):
            v = float(self.base[n])
            if not (v > 0 and math.isfinite(v)):
                raise FitError(f"parameter {n!r} has default {v!r}; only positive parameters "
                               "can be estimated on the log scale")
            top = math.inf if rec.maximum is None else rec.maximum
            low = max(v / SEARCH_FACTOR, rec.minimum or 0.0)
            bounds.append((low, min(v * SEARCH_FACTOR, top), v))
        self.lower, self.upper, x0 = np.array([[math.log(b) for b in row] for row in bounds]).T
        self.x0 = np.clip(x0, self.lower, self.upper)
        self._cache = LRUCache(_CACHE_SIZE)
        self.n_evaluations = 0  # simulations actually run (cache misses)

    @property
    def label_name(self) -> str:
        return self.label if self.label is not None else self.scenario.product.label

    def parameter_set(self, theta_log: Sequence[float]):
        return self.base.updated({n: float(math.exp(t)) for n, t in zip(self.names, theta_log)},
                                 source="fitted")

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
        res = simulate(self.scenario, times_h=list(times), params=self.parameter_set(theta))
        out: Signals = {}
        if "" in assays:
            sites = tuple(res.sites)
            out[""] = (sites, np.column_stack([np.asarray(res.quantity(s, "live_cells"), float)
                                               for s in sites]))
        det = [a for a in assays if a]
        if det:
            sig = expected_signals(res, self.scenario, det, label=self.label,
                                   params=self.parameter_set(theta))
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
