"""The ``[population]`` table of a scenario: how many virtual subjects, the seed, what varies
between them (distributions, a Gaussian copula of correlations) and the responder rule.

Format: ``shared/INTERFACE.md`` ("Populations and sensitivity"); details: docs/populations.md.
Distributions are checked here (numbers finite, spreads non-negative, bounds ordered); which
keys may vary (parameter names, physiology names, scenario keys) is checked against the
packaged data by :func:`mscpk.inputs.checks.check_scenario`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

_CFG = ConfigDict(extra="forbid", frozen=True)
#: Most subjects in one population (the batch engine streams them; a bound against typos).
MAX_SUBJECTS = 10_000_000

#: Keys each distribution takes (required, optional).
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "normal": (("mean", "sd"), ("low", "high")),
    "lognormal": (("median", "cv"), ("low", "high")),
    "uniform": (("low", "high"), ()),
    "loguniform": (("low", "high"), ()),
    "categorical": (("values",), ("weights",)),
}


@dataclass(frozen=True)
class Distribution:
    """One varied key's distribution (checked on construction by :func:`distribution`)."""

    dist: str
    args: tuple[tuple[str, Any], ...]

    def __getitem__(self, key: str) -> Any:
        return dict(self.args)[key]

    def get(self, key: str, default=None):
        return dict(self.args).get(key, default)

    @property
    def categorical(self) -> bool:
        return self.dist == "categorical"

    def median(self) -> Any:
        """The distribution's median (a categorical one: the value at its 50 % quantile)."""
        return self.ppf(np.array([0.5]))[0]

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at the quantiles ``u`` in (0, 1) (the inverse distribution function)."""
        from scipy import stats

        u = np.asarray(u, dtype=float)
        d = dict(self.args)
        if self.dist == "categorical":
            w = np.asarray(d.get("weights") or [1.0] * len(d["values"]), dtype=float)
            edges = np.cumsum(w / w.sum())
            edges[-1] = 1.0
            idx = np.minimum(np.searchsorted(edges, u, side="right"), len(edges) - 1)
            return np.asarray(d["values"], dtype=object)[idx]
        if self.dist == "uniform":
            return d["low"] + u * (d["high"] - d["low"])
        if self.dist == "loguniform":
            return np.exp(math.log(d["low"]) + u * (math.log(d["high"]) - math.log(d["low"])))
        if self.dist == "normal":
            loc, scale = d["mean"], d["sd"]
        else:  # lognormal by median and CV: log X ~ N(log median, sqrt(log(1 + cv^2)))
            loc, scale = math.log(d["median"]), math.sqrt(math.log1p(d["cv"] ** 2))
        if scale == 0.0:
            value = loc if self.dist == "normal" else d["median"]
            return np.full(u.shape, float(value))
        lo, hi = d.get("low"), d.get("high")
        if self.dist == "lognormal":
            lo = None if lo is None else math.log(lo)
            hi = None if hi is None else math.log(hi)
        a = -np.inf if lo is None else (lo - loc) / scale
        b = np.inf if hi is None else (hi - loc) / scale
        z = stats.norm.ppf(u) if (lo, hi) == (None, None) else stats.truncnorm.ppf(u, a, b)
        x = loc + scale * z
        return np.exp(x) if self.dist == "lognormal" else x


def _number(key: str, name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{key}.{name}: {v!r} is not a finite number")
    return float(v)


def distribution(key: str, raw: Any) -> Distribution:
    """The :class:`Distribution` of ``raw`` (a table such as ``{dist = "lognormal", median = 6,
    cv = 0.4}``) for the varied key ``key``; ValueError naming the key otherwise."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{key}: give a table such as {{ dist = \"normal\", mean = 18.0, sd = 2.0 }}, got {raw!r}")
    dist = raw.get("dist")
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"{key}.dist: {dist!r} is not allowed; allowed: {', '.join(DISTRIBUTIONS)}")
    need, optional = DISTRIBUTIONS[dist]
    for name in raw:
        if name != "dist" and name not in need + optional:
            raise ValueError(f"{key}.{name}: unknown key for a {dist} distribution; allowed: {', '.join(need + optional)}")
    for name in need:
        if name not in raw:
            raise ValueError(f"{key}.{name}: required for a {dist} distribution")
    if dist == "categorical":
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{key}.values: give a non-empty list of values, got {values!r}")
        weights = raw.get("weights")
        if weights is not None:
            if not isinstance(weights, list) or len(weights) != len(values):
                raise ValueError(f"{key}.weights: give one weight per value ({len(values)}), got {weights!r}")
            w = [_number(key, "weights", x) for x in weights]
            if min(w) < 0 or sum(w) <= 0:
                raise ValueError(f"{key}.weights: weights must be >= 0 with a positive sum, got {weights!r}")
            return Distribution(dist, (("values", tuple(values)), ("weights", tuple(w))))
        return Distribution(dist, (("values", tuple(values)),))
    args = {name: _number(key, name, raw[name]) for name in need + optional if name in raw}
    spread = {"normal": "sd", "lognormal": "cv"}.get(dist)
    if spread and args[spread] < 0:
        raise ValueError(f"{key}.{spread}: must be >= 0, got {args[spread]:g}")
    if dist == "lognormal" and args["median"] <= 0:
        raise ValueError(f"{key}.median: must be > 0 for a lognormal distribution, got {args['median']:g}")
    if dist in ("lognormal", "loguniform") and args.get("low", 1.0) <= 0:
        raise ValueError(f"{key}.low: must be > 0 for a {dist} distribution, got {args['low']:g}")
    if "low" in args and "high" in args and not args["low"] < args["high"]:
        raise ValueError(f"{key}: low ({args['low']:g}) must be below high ({args['high']:g})")
    centre = args.get("mean", args.get("median"))
    if centre is not None and not args.get("low", -math.inf) <= centre <= args.get("high", math.inf):
        raise ValueError(f"{key}: the {'mean' if 'mean' in args else 'median'} {centre:g} is outside [low, high]")
    return Distribution(dist, tuple(args.items()))


class Correlation(BaseModel):
    """Rank correlations of varied keys through a Gaussian copula (``matrix`` over ``keys``)."""

    model_config = _CFG
    keys: tuple[str, ...] = Field(min_length=2)
    matrix: tuple[tuple[Annotated[float, Strict(), Field(allow_inf_nan=False)], ...], ...]

    @model_validator(mode="after")
    def _valid(self) -> "Correlation":
        k = len(self.keys)
        if len(set(self.keys)) != k:
            raise ValueError(f"keys: a key is listed twice: {list(self.keys)}")
        m = np.asarray(self.matrix, dtype=float) if all(len(r) == k for r in self.matrix) else None
        if m is None or m.shape != (k, k):
            raise ValueError(f"matrix: give {k} rows of {k} numbers (one per key)")
        if not np.allclose(m, m.T, atol=0) or not np.all(np.diag(m) == 1.0) or np.abs(m).max() > 1:
            raise ValueError("matrix: must be symmetric with 1 on the diagonal and entries in [-1, 1]")
        if np.linalg.eigvalsh(m).min() <= 1e-12:
            raise ValueError("matrix: must be positive definite (these correlations cannot hold together)")
        return self


#: Metric kinds: ``SITE:KIND``, or ``persistence_h``, ``effect_max`` and ``effect_at_{H}h``
#: (the scenario's ``[effect]`` model) alone.
METRIC_KINDS = ("cell_days", "peak_live", "peak_occlusion", "live_at_{H}h")
_LIVE_AT = re.compile(r"^live_at_([0-9]+(?:\.[0-9]+)?)h$")
_EFFECT_AT = re.compile(r"^effect_at_([0-9]+(?:\.[0-9]+)?)h$")


@dataclass(frozen=True)
class Metric:
    """A population metric: ``site`` and ``kind`` (one of :data:`METRIC_KINDS`; ``hours`` for
    ``live_at_{H}h``), or ``kind = "persistence_h"`` (no site)."""

    text: str
    site: str | None
    kind: str
    hours: float | None = None


def parse_metric(text: str, key: str = "metric") -> Metric:
    """The :class:`Metric` written ``text`` (``"lung:cell_days"``, ``"heart:live_at_24h"``,
    ``"persistence_h"``); ValueError naming ``key`` otherwise.

    >>> parse_metric("heart:live_at_24h").hours
    24.0
    """
    allowed = f"allowed: SITE:{', SITE:'.join(METRIC_KINDS)}, persistence_h, effect_max or effect_at_{{H}}h"
    if not isinstance(text, str):
        raise ValueError(f"{key}: {text!r} is not a metric; {allowed}")
    if text in ("persistence_h", "effect_max"):
        return Metric(text, None, text)
    m = _EFFECT_AT.match(text)
    if m:
        return Metric(text, None, "effect_at", float(m.group(1)))
    site, sep, kind = text.partition(":")
    if not sep or not site:
        raise ValueError(f"{key}: {text!r} is not a metric; {allowed}")
    m = _LIVE_AT.match(kind)
    if m:
        return Metric(text, site, "live_at", float(m.group(1)))
    if kind not in METRIC_KINDS[:3]:
        raise ValueError(f"{key}: {kind!r} in {text!r} is not a metric kind; {allowed}")
    return Metric(text, site, kind)


class Responder(BaseModel):
    """A subject responds when ``metric`` is at least (``above``) or at most (``below``) ``threshold``."""

    model_config = _CFG
    metric: str
    threshold: Annotated[float, Strict(), Field(allow_inf_nan=False)]
    direction: Literal["above", "below"] = "above"

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        parse_metric(v, "metric")
        return v


class Population(BaseModel):
    """``[population]``: ``n`` subjects from ``seed``; ``vary``: key -> distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    n: Annotated[int, Strict()] = Field(100, ge=1, le=MAX_SUBJECTS)
    seed: Annotated[int, Strict()] = Field(0, ge=0, le=2 ** 63 - 1)
    vary: dict[str, Distribution] = Field(default_factory=dict)
    correlation: Correlation | None = None
    responder: Responder | None = None

    @field_validator("vary", mode="before")
    @classmethod
    def _vary(cls, v: Any) -> dict[str, Distribution]:
        if not isinstance(v, Mapping):
            raise ValueError(f"give a table of key = {{ dist = ... }}, got {v!r}")
        return {str(k): d if isinstance(d, Distribution) else distribution(repr(str(k)), d) for k, d in v.items()}

    @model_validator(mode="after")
    def _keys(self) -> "Population":
        if self.correlation is not None:
            for k in self.correlation.keys:
                if k not in self.vary:
                    raise ValueError(f"correlation.keys: {k!r} is not a key of population.vary")
        return self


__all__ = ["Population", "Metric", "parse_metric", "METRIC_KINDS", "Distribution", "Correlation", "Responder", "distribution", "DISTRIBUTIONS",
           "MAX_SUBJECTS"]
