"""Disease courses of an injury (onset, rise to a peak, resolution to a chronic level), read from
``data/injury_course.toml``; the piecewise-constant levels the engine uses. Equations:
docs/model.md, "Disease course"."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Iterable, Mapping, NamedTuple

import numpy as np

#: Points per interval in the mean of the level over an interval (midpoint rule).
_MEAN_POINTS = 64


@dataclass(frozen=True)
class Course:
    """An injury's time course: rise to the peak in ``peak_h`` [h] after onset, then decline of
    the excess over ``chronic`` [-] (a fraction of the peak) with ``half_life_h`` [h];
    ``perfusion_loss`` [-] per unit severity: the injured organ's arterial flow lost from onset on
    (an unreperfused infarct's no-flow zone; 0 when the vessel is reopened)."""

    peak_h: float
    half_life_h: float
    chronic: float
    perfusion_loss: float = 0.0

    def level(self, tau):
        """The level [-] relative to the injury's severity, ``tau`` [h] after onset (array-safe).

        >>> Course(24.0, 48.0, 0.0).level([-1.0, 12.0, 24.0, 72.0]).tolist()
        [0.0, 0.5, 1.0, 0.5]
        """
        tau = np.asarray(tau, dtype=float)
        rise = tau / self.peak_h if self.peak_h > 0 else np.ones_like(tau)
        after = np.maximum(tau - self.peak_h, 0.0)
        decay = np.exp2(-after / self.half_life_h) if self.half_life_h > 0 else np.zeros_like(tau)
        late = self.chronic + (1.0 - self.chronic) * decay
        return np.where(tau < 0, 0.0, np.where(tau < self.peak_h, rise, late))

    def bounds(self) -> list[float]:
        """The interval bounds [h after onset] of the piecewise-constant course; from the last one
        on the level is ``chronic``."""
        d = discretisation()
        out = [0.0]
        if self.peak_h > 0:
            out += [self.peak_h * j / d["rise_steps"] for j in range(1, d["rise_steps"] + 1)]
        if self.half_life_h > 0:
            step = self.half_life_h / d["steps_per_half_life"]
            out += [self.peak_h + step * j for j in range(1, d["steps_per_half_life"] * d["half_lives"] + 1)]
        return out


@lru_cache(maxsize=1)
def _raw() -> dict:
    return tomllib.loads(resources.files("mscpk.data").joinpath("injury_course.toml").read_text("utf-8"))


@lru_cache(maxsize=1)
def discretisation() -> Mapping[str, int]:
    """The numerical settings of the piecewise-constant course (``[discretisation]``)."""
    return MappingProxyType({k: int(v["value"]) for k, v in _raw()["discretisation"].items()})


@lru_cache(maxsize=1)
def courses() -> Mapping[str, Course]:
    """The named courses (``[course.NAME]``)."""
    return MappingProxyType({name: Course(*(float(c[k]["value"]) for k in _FIELDS))
                             for name, c in _raw()["course"].items()})


_FIELDS = tuple(f.name for f in fields(Course))


def course_sources(name: str) -> dict[str, str]:
    """The source of each number of the named course."""
    return {k: v["source"] for k, v in _raw()["course"][name].items()}


def make_course(name: str | None, **values: float | None) -> Course | None:
    """The course of an injury: the named one with any explicit value (``peak_h``,
    ``half_life_h``, ``chronic``, ``perfusion_loss``) replacing its own, or the explicit values
    alone (``peak_h`` and ``half_life_h`` needed, the others 0 by default); None when none is
    given (a constant injury). Raises ValueError naming what is missing."""
    given = {k: v for k, v in values.items() if v is not None}
    if name is None and not given:
        return None
    if name is not None:
        known = courses()
        if name not in known:
            raise ValueError(f"unknown course {name!r}; allowed: {', '.join(known)}")
        return replace(known[name], **given)
    if "peak_h" not in given or "half_life_h" not in given:
        raise ValueError("an injury course needs 'course' (one of " + ", ".join(courses())
                         + ") or both 'peak_h' and 'half_life_h'")
    return Course(**{"chronic": 0.0, **given})


def course_segments(injuries: Iterable[tuple[str, float, Course]]) -> tuple[tuple[Segment, ...], Segment]:
    """Piecewise-constant levels of the injuries ``(site, onset_h, course)`` on the scenario clock.

    Returns ``(segments, final)``: ``segments`` are :class:`Segment` from time 0, sorted, adjacent
    ones with equal states merged, those equal to ``final`` left out; ``final`` holds each site's
    state from the end of every course on (its chronic level, the injury present). A level is the
    mean of the course over the interval.

    >>> segs, final = course_segments([("heart", 0.0, Course(0.0, 48.0, 0.0))])
    >>> len(segs), segs[0][:2], round(segs[0].levels["heart"], 3), dict(final.levels)
    (10, (0.0, 24.0), 0.845, {'heart': 0.0})
    """
    items = list(injuries)
    final = Segment(0.0, math.inf, MappingProxyType({site: course.chronic for site, _, course in items}),
                    frozenset(site for site, _, _ in items))
    ends = [onset + course.bounds()[-1] for _, onset, course in items]
    cuts = {0.0} | {onset + b for _, onset, course in items for b in course.bounds()}
    cuts = sorted(t for t in cuts if t >= 0.0)
    segments: list[Segment] = []
    for t0, t1 in zip(cuts, cuts[1:]):
        mid = t0 + (np.arange(_MEAN_POINTS) + 0.5) * (t1 - t0) / _MEAN_POINTS
        levels = MappingProxyType({site: (course.chronic if t0 >= end else float(np.mean(course.level(mid - onset))))
                                   for (site, onset, course), end in zip(items, ends)})
        started = frozenset(site for site, onset, _ in items if t0 >= onset)
        if segments and segments[-1].same_state(levels, started) and segments[-1].t1 == t0:
            segments[-1] = segments[-1]._replace(t1=t1)
        else:
            segments.append(Segment(t0, t1, levels, started))
    return tuple(s for s in segments if not s.same_state(final.levels, final.started)), final


class Segment(NamedTuple):
    """An interval ``[t0, t1)`` [h] of the disease course: each injured site's ``levels`` [-] and
    the sites whose injury has ``started`` (onset passed: its perfusion loss applies)."""

    t0: float
    t1: float
    levels: Mapping[str, float]
    started: frozenset

    def same_state(self, levels: Mapping[str, float], started: frozenset) -> bool:
        return self.started == started and all(
            math.isclose(self.levels[s], levels[s], rel_tol=0.0, abs_tol=1e-12) for s in levels)


__all__ = ["Course", "Segment", "courses", "course_sources", "make_course", "course_segments", "discretisation"]
