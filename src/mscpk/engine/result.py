"""Simulation results: plain, serialisable, immutable.

A :class:`Result` holds the state trajectories (cells per named state at each output time)
and derives the INTERFACE result table from them: one row per time x site x quantity, with
columns ``time_h, site, quantity, value``.

Quantities per site:

* ``live_cells``: viable administered cells. For an organ: arrested + engrafted + the cells
  of a depot injected into it (cells in transit through its vessels are counted under
  ``blood``). For ``blood``: every
  circulating cell (venous and arterial pools and all organs' vascular transit). For a
  depot: free + aggregated + attached.
* ``dead_cells``: dead cell material not yet degraded [cell equivalents]; for
  ``eliminated`` the cumulative number degraded or excreted.
* organs also: ``transit_cells``, ``arrested_cells``, ``engrafted_cells``,
  ``depot_cells`` (an organ holding an intramyocardial or local injection: the live cells
  still in the injected depot) and ``occlusion_fraction`` (arrested cells / embolic capacity
  of the bed, the embolic burden).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from mscpk.engine.network import CIRCULATING_KINDS, Network, split_state

CELL_QUANTITIES = ("live_cells", "dead_cells")
ALL_QUANTITIES = ("live_cells", "dead_cells", "transit_cells", "arrested_cells", "engrafted_cells",
                  "depot_cells", "occlusion_fraction")


def site_quantity_weights(state_names: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """(site, quantity) -> weight vector over states; sums define every output quantity."""
    n = len(state_names)
    out: dict[tuple[str, str], np.ndarray] = {}

    def add(site: str, q: str, i: int) -> None:
        out.setdefault((site, q), np.zeros(n))[i] = 1.0

    for i, name in enumerate(state_names):
        site, kind = split_state(name)
        if kind in CIRCULATING_KINDS:
            add("blood", "live_cells", i)
            if kind == "vascular":
                add(site, "transit_cells", i)
        elif kind in ("dead", "degraded"):
            add(site, "dead_cells", i)
        else:
            add(site, "live_cells", i)
            if kind in ("arrested", "engrafted", "depot"):
                add(site, f"{kind}_cells", i)
    for (site, q) in list(out):  # every site shows both cell quantities
        for cq in CELL_QUANTITIES:
            out.setdefault((site, cq), np.zeros(n))
    return out


@lru_cache(maxsize=64)
def _cached_weights(state_names: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """``site_quantity_weights`` once per state layout (results of one network share it)."""
    weights = site_quantity_weights(state_names)
    for w in weights.values():
        w.setflags(write=False)
    return weights


@dataclass(frozen=True, eq=False)
class Result:
    """Trajectories of one simulated scenario.

    ``states[t, k]`` is the number of cells [cells] in state ``state_names[k]`` at
    ``times_h[t]`` [h]; ``administered[t]`` the cells given by then. ``network``: the built
    :class:`~mscpk.engine.network.Network` that produced it (analyses downstream, such as the
    label kinetics of the detection layer, extend it instead of rebuilding it; not serialised).
    """

    scenario_name: str
    times_h: np.ndarray
    state_names: tuple[str, ...]
    states: np.ndarray
    administered: np.ndarray
    capacities: Mapping[str, float] = field(default_factory=dict)
    solver: str = "expm"
    species: str = ""
    metadata: Mapping[str, object] = field(default_factory=dict)
    network: Network | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for arr in (self.times_h, self.states, self.administered):
            arr.setflags(write=False)
        object.__setattr__(self, "capacities", MappingProxyType(dict(self.capacities)))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def __eq__(self, other: object) -> bool:
        """Same trajectories and metadata (arrays compared by value; the network is not part
        of a result's value)."""
        if not isinstance(other, Result):
            return NotImplemented
        arrays = ("times_h", "states", "administered")
        plain = ("scenario_name", "state_names", "solver", "species")
        return (all(np.array_equal(getattr(self, a), getattr(other, a)) for a in arrays)
                and all(getattr(self, f) == getattr(other, f) for f in plain)
                and dict(self.capacities) == dict(other.capacities) and dict(self.metadata) == dict(other.metadata))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking contents: not hashable

    # ---- derived views ---------------------------------------------------------------
    @property
    def sites(self) -> tuple[str, ...]:
        """Sites in table order: organs and depots, then blood, then eliminated."""
        seen: dict[str, None] = {}
        for name in self.state_names:
            site, _ = split_state(name)
            if site not in ("blood", "eliminated"):
                seen[site] = None
        return tuple(seen) + ("blood", "eliminated")

    def _weights(self) -> dict[tuple[str, str], np.ndarray]:
        return _cached_weights(self.state_names)

    def quantity(self, site: str, quantity: str = "live_cells") -> np.ndarray:
        """Time course [cells, or - for occlusion_fraction] of one site and quantity."""
        if quantity == "occlusion_fraction":
            cap = self.capacities.get(site)
            if not cap:
                raise KeyError(f"site {site!r} has no capillary bed capacity")
            return self.quantity(site, "arrested_cells") / cap
        w = self._weights().get((site, quantity))
        if w is None:
            raise KeyError(f"no quantity {quantity!r} at site {site!r}")
        return self.states @ w

    def state(self, name: str) -> np.ndarray:
        return self.states[:, self.state_names.index(name)]

    def total(self) -> np.ndarray:
        """Sum over all states [cells]: equals ``administered`` (conservation)."""
        return self.states.sum(axis=1)

    def mass_balance_error(self) -> float:
        """max |sum(states) - administered| / max(administered) [-]."""
        scale = max(float(np.max(self.administered)), 1.0)
        return float(np.max(np.abs(self.total() - self.administered)) / scale)

    def live_total(self) -> np.ndarray:
        return sum(self.quantity(s, "live_cells") for s in self.sites)

    def to_frame(self):
        """The INTERFACE result table as a pandas DataFrame (long format).

        Examples
        --------
        >>> import mscpk
        >>> res = mscpk.simulate(mscpk.load_scenario("examples/iv_mouse.toml"))
        >>> df = res.to_frame()
        >>> list(df.columns)
        ['time_h', 'site', 'quantity', 'value']
        >>> bool(df.query("site == 'lung' and quantity == 'live_cells'").value.max() > 4e5)
        True
        """
        import pandas as pd

        weights = self._weights()
        order = {s: i for i, s in enumerate(self.sites)}
        qorder = {q: i for i, q in enumerate(ALL_QUANTITIES)}
        keys = sorted(weights, key=lambda k: (order.get(k[0], 99), qorder.get(k[1], 9)))
        cols = [self.states @ weights[k] for k in keys]
        labels = list(keys)
        for site, cap in self.capacities.items():
            if cap > 0 and (site, "arrested_cells") in weights:
                cols.append(self.states @ weights[(site, "arrested_cells")] / cap)
                labels.append((site, "occlusion_fraction"))
        values = np.column_stack(cols)  # (T, K)
        t = len(self.times_h)
        return pd.DataFrame({
            "time_h": np.repeat(self.times_h, len(labels)),
            "site": np.tile([s for s, _ in labels], t),
            "quantity": np.tile([q for _, q in labels], t),
            "value": values.reshape(-1),
        })

    def to_xarray(self, quantities: Sequence[str] | str = CELL_QUANTITIES):
        """``xarray.DataArray`` with dims (time_h, site, quantity).

        ``quantities``: the cell quantities by default (``live_cells``, ``dead_cells``), or
        ``"all"`` for every quantity of ``to_frame()`` (``transit_cells``, ``arrested_cells``,
        ``engrafted_cells``, ``occlusion_fraction`` too); NaN where a site has no such quantity.
        """
        import xarray as xr

        qs = list(ALL_QUANTITIES if quantities == "all" else quantities)
        sites = self.sites
        data = np.full((len(self.times_h), len(sites), len(qs)), np.nan)
        w = self._weights()
        for j, s in enumerate(sites):
            for k, q in enumerate(qs):
                if q == "occlusion_fraction":
                    if self.capacities.get(s):
                        data[:, j, k] = self.quantity(s, q)
                elif (s, q) in w:
                    data[:, j, k] = self.states @ w[(s, q)]
                elif q not in ALL_QUANTITIES:
                    raise KeyError(f"unknown quantity {q!r}; allowed: {', '.join(ALL_QUANTITIES)}")
        return xr.DataArray(data, dims=("time_h", "site", "quantity"),
                            coords={"time_h": np.asarray(self.times_h), "site": list(sites), "quantity": qs},
                            name="cells", attrs={"units": "cells (occlusion_fraction: -)",
                                                 "scenario": self.scenario_name})

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (for stores and web apps)."""
        return {"scenario_name": self.scenario_name, "times_h": self.times_h.tolist(),
                "state_names": list(self.state_names), "states": self.states.tolist(),
                "administered": self.administered.tolist(), "capacities": dict(self.capacities),
                "solver": self.solver, "species": self.species, "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Result":
        return cls(d["scenario_name"], np.asarray(d["times_h"], float), tuple(d["state_names"]),
                   np.asarray(d["states"], float), np.asarray(d["administered"], float),
                   d.get("capacities", {}), d.get("solver", ""), d.get("species", ""), d.get("metadata", {}))
