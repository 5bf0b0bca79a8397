"""The model as a network of named states joined by first-order transitions.

Submodels contribute :class:`Transition` objects between named states
(``"{site}__{state}"``); :class:`StateLayout` gives each state its slot once, and everything
downstream (matrix assembly, SBML export, result tables) goes through the layout, never
through hand-written indices. Every transition moves cells from one state to another state,
so the network conserves cells exactly: administered = live + dead + eliminated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

#: State kinds that hold live administered cells.
LIVE_KINDS = frozenset({"venous", "arterial", "vascular", "arrested", "engrafted",
                        "free", "aggregated", "attached", "depot", "lymph"})
#: State kinds of circulating (blood) cells.
CIRCULATING_KINDS = frozenset({"venous", "arterial", "vascular"})


def state_id(site: str, kind: str) -> str:
    """SBML-style id of a state: ``{site}__{kind}``."""
    return f"{site}__{kind}"


def split_state(name: str) -> tuple[str, str]:
    site, _, kind = name.partition("__")
    return site, kind


class StateLayout:
    """Ordered set of named states; built once, then read-only."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._frozen = False
        #: names asked for since :meth:`record` started (in order), or None
        self._asked: dict[str, None] | None = None

    def add(self, site: str, kind: str) -> str:
        return self.add_name(state_id(site, kind))

    def add_name(self, name: str) -> str:
        """Add the state ``name`` (``"{site}__{kind}"``) if new; returns it."""
        if self._asked is not None:
            self._asked[name] = None
        if name not in self._index:
            if self._frozen:
                raise RuntimeError(f"layout is frozen; cannot add {name}")
            self._index[name] = len(self._names)
            self._names.append(name)
        return name

    def record(self) -> dict[str, None]:
        """Start recording the names asked for (new or not); returns the (live) record,
        which :meth:`stop_recording` ends. Replaying them with :meth:`add_name` in order
        reproduces what the recorded code did to any layout. Not nested."""
        if self._asked is not None:
            raise RuntimeError("the layout is already recording")
        self._asked = {}
        return self._asked

    def stop_recording(self) -> None:
        self._asked = None

    def freeze(self) -> "StateLayout":
        self._frozen = True
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._names)

    def index(self, name: str) -> int:
        return self._index[name]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self._names)


@dataclass(frozen=True)
class Transition:
    """First-order flux ``rate * x[source]`` [cells/h] from ``source`` to ``target``.

    ``saturable``: name of a capacity group; when saturation is on the flux is multiplied by
    ``max(0, 1 - occupancy/capacity)`` of that group (finite capillary bed).
    """

    source: str
    target: str
    rate: float  # [1/h]; an array (N,) in a batch build (mscpk.engine.batch)
    process: str
    saturable: str | None = None


@dataclass(frozen=True)
class Capacity:
    """A finite bed: ``states`` occupy it, ``capacity`` [cells] fills it."""

    states: tuple[str, ...]
    capacity: float


@dataclass(frozen=True)
class Input:
    """One administration: ``cells`` spread over ``targets`` (state -> fraction).

    ``duration_h`` = 0 for a bolus; otherwise a constant-rate infusion.
    """

    time_h: float
    duration_h: float
    cells: float
    targets: Mapping[str, float]


@dataclass(frozen=True)
class Network:
    """States, transitions per mode, capacities, administrations and mode schedule.

    ``modes`` maps a mode name to its transitions: the active piecewise-constant modifiers
    joined by "+" (``"base"``, ``"vasodilated"``, ``"primed"``, ``"primed+vasodilated"``;
    see :mod:`mscpk.engine.model.build`). ``schedule`` lists the ``(t_start, t_end, mode)``
    intervals where a non-base mode is active, as a partition (sorted, disjoint; ``t_end``
    may be ``inf``, e.g. for the primed period); elsewhere the mode is ``"base"``.
    """

    layout: StateLayout
    modes: Mapping[str, tuple[Transition, ...]]
    inputs: tuple[Input, ...]
    capacities: Mapping[str, Capacity] = field(default_factory=dict)
    schedule: tuple[tuple[float, float, str], ...] = ()
    #: Rate matrices by mode, filled on first use; shared by the copies that
    #: ``dataclasses.replace`` makes with other doses (the rates do not depend on them).
    matrix_cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return self.layout.names

    def matrix(self, mode: str = "base") -> np.ndarray:
        """Rate matrix A [1/h] with dx/dt = A x (linear part; saturation ignored), read-only."""
        a = self.matrix_cache.get(mode)
        if a is None:
            idx = self.layout.index
            n = len(self.layout)
            trs = self.modes[mode]
            src = np.fromiter((idx(t.source) for t in trs), dtype=np.intp, count=len(trs))
            dst = np.fromiter((idx(t.target) for t in trs), dtype=np.intp, count=len(trs))
            rate = np.fromiter((t.rate for t in trs), dtype=float, count=len(trs))
            # every outflow, then every inflow, each in transition order, as a loop would add them
            a = np.bincount(np.concatenate((src * (n + 1), dst * n + src)), np.concatenate((-rate, rate)),
                            minlength=n * n).reshape(n, n)
            a.setflags(write=False)
            self.matrix_cache[mode] = a
        return a

    def matrix_key(self, mode: str = "base") -> bytes:
        """Size and bytes of :meth:`matrix` (the key of the solvers' caches), made once."""
        key = self.matrix_cache.get((mode, "key"))
        if key is None:
            a = self.matrix(mode)
            key = a.shape[0].to_bytes(4, "little") + a.tobytes()
            self.matrix_cache[(mode, "key")] = key
        return key

    def batch_size(self) -> int | None:
        """Number of subjects N of a batch build (rates are arrays (N,)); None if scalar."""
        for trs in self.modes.values():
            for tr in trs:
                if isinstance(tr.rate, np.ndarray) and tr.rate.ndim > 0:
                    return int(tr.rate.shape[0])
        return None

    def matrices(self, mode: str = "base", n_subjects: int | None = None) -> np.ndarray:
        """Rate matrices [1/h], shape (N, n, n), of a batch build (array-valued rates).

        Subject ``s`` gets exactly ``matrix(mode)`` of the network built with its scalar
        parameter values (same operations in the same order). Scalar rates are broadcast.
        """
        n_sub = n_subjects if n_subjects is not None else (self.batch_size() or 1)
        n = len(self.layout)
        a = np.zeros((n_sub, n, n))
        idx = self.layout.index
        for tr in self.modes[mode]:
            i, j = idx(tr.source), idx(tr.target)
            a[:, i, i] -= tr.rate
            a[:, j, i] += tr.rate
        return a

    def input_vector(self, inp: Input) -> np.ndarray:
        v = np.zeros(len(self.layout))
        for name, frac in inp.targets.items():
            v[self.layout.index(name)] += frac * inp.cells
        return v

    def event_times(self, end: float) -> list[float]:
        """Sorted times [h] in [0, end] where the equations change: 0, ``end``, doses,
        infusion ends and mode-window bounds. Between two of them the system is autonomous."""
        pts = {0.0, float(end)}
        for inp in self.inputs:
            pts.add(inp.time_h)
            if inp.duration_h > 0:
                pts.add(inp.time_h + inp.duration_h)
        for t0, t1, _ in self.schedule:
            pts.update((t0, t1))
        return sorted(p for p in pts if p <= end)

    def mode_at(self, t: float) -> str:
        """The mode active on the interval starting at ``t``."""
        for t0, t1, mode in self.schedule:
            if t0 <= t < t1:
                return mode
        return "base"
