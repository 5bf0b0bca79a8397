"""Scenarios whose numbers may be per-subject arrays: cell size, viability, injury severity.

The network build only does arithmetic with these numbers (array-safe, as with sampled
parameters), so a scenario holding arrays of per-subject values in those fields
(:func:`with_arrays`) builds once for all its subjects; :func:`take_subjects` is the scenario of
some of them (the batch engine's chunks, its saturable subjects and its one-subject fallback).
Keys that change the model's structure or its event times (routes, dose times, categorical
choices) cannot be arrays: callers group subjects by them (docs/populations.md, "Evaluation").

>>> import numpy as np, mscpk
>>> sc = with_arrays(mscpk.load_scenario("examples/iv_mouse.toml"), {"product.viability": np.array([0.7, 0.9])})
>>> float(take_subjects(sc, 1).product.viability)
0.9
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from mscpk.errors import ParameterError

#: Scenario keys (as ``scan`` and ``[population.vary]`` write them) that may hold arrays.
ARRAY_KEYS = re.compile(r"^(product\.diameter_um\.(mean|sd)|product\.viability|subject\.injury\[[0-9]+\]\.severity)$")
_TOKEN = re.compile(r"^([a-z_]+)(?:\[([0-9]+)\])?$")


def array_key(key: str) -> bool:
    """Whether ``key`` may vary within one batch build (:data:`ARRAY_KEYS`)."""
    return bool(ARRAY_KEYS.match(key))


def _set(model: BaseModel, tokens: Sequence[str], value) -> BaseModel:
    name, index = _TOKEN.match(tokens[0]).groups()
    current = getattr(model, name)
    if index is None:
        new = _set(current, tokens[1:], value) if len(tokens) > 1 else value
    else:
        items = list(current)
        k = int(index) - 1
        if not 0 <= k < len(items):
            raise ParameterError(f"{tokens[0]}: the scenario has {len(items)} {name} entries")
        items[k] = _set(items[k], tokens[1:], value)
        new = type(current)(items)
    return model.model_copy(update={name: new})


def with_arrays(scenario, columns: Mapping[str, np.ndarray]):
    """A copy of ``scenario`` whose fields named by ``columns`` (keys of :data:`ARRAY_KEYS`) hold
    per-subject arrays. Not validated: the caller checks the values (each a valid scenario
    value; ``[population.vary]`` keys are checked at load and at the sample's extremes)."""
    sc = scenario
    for key, values in columns.items():
        if not array_key(key):
            raise ParameterError(f"{key!r} cannot vary within one batch build; allowed: {ARRAY_KEYS.pattern}")
        sc = _set(sc, key.split("."), np.asarray(values, dtype=float))
    return sc


def _take(value, sel):
    if isinstance(value, np.ndarray) and value.ndim:
        return value[sel]
    if isinstance(value, BaseModel):
        return take_subjects(value, sel)
    if isinstance(value, tuple) and any(isinstance(v, BaseModel) for v in value):
        new = tuple(_take(v, sel) for v in value)
        return value if all(a is b for a, b in zip(new, value)) else new
    return value


def take_subjects(model, sel):
    """``model`` (a scenario or one of its tables) for the subjects ``sel`` (a slice or index
    array: arrays stay arrays; an integer: plain numbers); itself when it holds no arrays."""
    update = {}
    for name, value in model:
        new = _take(value, sel)
        if new is not value:
            update[name] = new
    return model.model_copy(update=update) if update else model


__all__ = ["with_arrays", "take_subjects", "array_key", "ARRAY_KEYS"]
