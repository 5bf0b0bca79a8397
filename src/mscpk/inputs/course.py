"""Disease courses of an injury (onset, rise to a peak, resolution to a chronic level), read from
``data/injury_course.toml``; the piecewise-constant levels the engine uses. Equations:
docs/model.md, "Disease course"."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

#: Points per interval in the mean of the level over an interval (midpoint rule).
_MEAN_POINTS = 64


@dataclass(frozen=True)
class Course:
    """An injury's time course: rise to the peak in ``peak_h`` [h] after onset, then decline of
    the excess over ``chronic`` [-] (a fraction of the peak) with ``half_life_h`` [h]."""

    peak_h: float
    half_life_h: float
    chronic: float

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
    return MappingProxyType({name: Course(float(c["peak_h"]["value"]), float(c["half_life_h"]["value"]),
                                          float(c["chronic"]["value"]))
                             for name, c in _raw()["course"].items()})


def course_sources(name: str) -> dict[str, str]:
    """The source of each number of the named course."""
    return {k: v["source"] for k, v in _raw()["course"][name].items()}


def make_course(name: str | None, peak_h: float | None, half_life_h: float | None,
                chronic: float | None) -> Course | None:
    """The course of an injury: the named one with any explicit value replacing its own, or the
    explicit values alone (``peak_h`` and ``half_life_h`` needed, ``chronic`` 0 by default);
    None when none is given (a constant injury). Raises ValueError naming what is missing."""
    if name is None and peak_h is None and half_life_h is None and chronic is None:
        return None
    if name is not None:
        known = courses()
        if name not in known:
            raise ValueError(f"unknown course {name!r}; allowed: {', '.join(known)}")
        base = known[name]
        return Course(base.peak_h if peak_h is None else peak_h,
                      base.half_life_h if half_life_h is None else half_life_h,
                      base.chronic if chronic is None else chronic)
    if peak_h is None or half_life_h is None:
        raise ValueError("an injury course needs 'course' (one of " + ", ".join(courses())
                         + ") or both 'peak_h' and 'half_life_h'")
    return Course(peak_h, half_life_h, 0.0 if chronic is None else chronic)


def course_segments(injuries: Iterable[tuple[str, float, Course]]
                    ) -> tuple[tuple[tuple[float, float, Mapping[str, float]], ...], Mapping[str, float]]:
    """Piecewise-constant levels of the injuries ``(site, onset_h, course)`` on the scenario clock.

    Returns ``(segments, final)``: ``segments`` are ``(t0, t1, {site: level})`` from time 0, sorted,
    adjacent ones with equal levels merged, those equal to ``final`` left out; ``final`` holds each
    site's level from the end of every course on (its chronic level). A level is the mean of the
    course over the interval.

    >>> segs, final = course_segments([("heart", 0.0, Course(0.0, 48.0, 0.0))])
    >>> len(segs), segs[0][:2], round(segs[0][2]["heart"], 3), dict(final)
    (10, (0.0, 24.0), 0.845, {'heart': 0.0})
    """
    items = list(injuries)
    final = MappingProxyType({site: course.chronic for site, _, course in items})
    ends = [onset + course.bounds()[-1] for _, onset, course in items]
    cuts = {0.0} | {onset + b for _, onset, course in items for b in course.bounds()}
    cuts = sorted(t for t in cuts if t >= 0.0)
    segments: list[tuple[float, float, dict[str, float]]] = []
    for t0, t1 in zip(cuts, cuts[1:]):
        mid = t0 + (np.arange(_MEAN_POINTS) + 0.5) * (t1 - t0) / _MEAN_POINTS
        levels = {site: (course.chronic if t0 >= end else float(np.mean(course.level(mid - onset))))
                  for (site, onset, course), end in zip(items, ends)}
        if segments and segments[-1][2] == levels and segments[-1][1] == t0:
            segments[-1] = (segments[-1][0], t1, levels)
        else:
            segments.append((t0, t1, levels))
    out = tuple((t0, t1, MappingProxyType(lv)) for t0, t1, lv in segments
                if any(not math.isclose(lv[s], final[s], rel_tol=0.0, abs_tol=1e-12) for s in lv))
    return out, final


__all__ = ["Course", "courses", "course_sources", "make_course", "course_segments", "discretisation"]
