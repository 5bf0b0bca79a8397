"""Scans: simulate a scenario over a grid of settings and return one xarray.

A grid key is either a dotted path into the scenario (``"product.diameter_um.mean"``,
``"subject.immune"``, ``"product.receptors.CXCR4"``, ``"dose[1].cells"``, ``"dose[1].route"``,
``"dose[*].cells"`` for every dose) or a parameter name as ``mscpk params`` lists it
(``"Lung arrested cell death half-life [h]"``). The full factorial product is simulated;
each point is validated like a scenario file, so a bad value names the key.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.engine.simulate import simulate
from mscpk.errors import ScenarioError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.parameters import load_parameter_set
from mscpk.inputs.physiology import physiology_names
from mscpk.inputs.resolve import scenario_species
from mscpk.inputs.scenario import Scenario

_INDEX = re.compile(r"^(\w+)\[(\d+|\*)\]$")


def _set_path(raw: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    targets: list[Any] = [raw]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        m = _INDEX.match(part)
        nxt: list[Any] = []
        for node in targets:
            if m:
                seq = node.get(m.group(1))
                if not isinstance(seq, list):
                    raise ScenarioError(f"scan key {path!r}: {m.group(1)!r} is not a list in the scenario")
                idx = range(len(seq)) if m.group(2) == "*" else [int(m.group(2)) - 1]
                for j in idx:
                    if not 0 <= j < len(seq):
                        raise ScenarioError(f"scan key {path!r}: index {j + 1} out of range 1..{len(seq)}")
                    if last:
                        seq[j] = value
                    else:
                        nxt.append(seq[j])
            elif last:
                node[part] = value
                if part == "cells" and "cells_per_kg" in node:
                    node.pop("cells_per_kg")
                elif part == "cells_per_kg" and "cells" in node:
                    node.pop("cells")
            else:
                nxt.append(node.setdefault(part, {}))
        targets = nxt


def _is_parameter(key: str, base: Scenario) -> bool:
    return key in load_parameter_set("default") or key in physiology_names(scenario_species(base))


def scan(scenario: Scenario, grid: Mapping[str, Sequence[Any]], *, times_h: Sequence[float] | None = None,
         saturation: str | None = None, quantities: Sequence[str] | str = ("live_cells", "dead_cells")):
    """Simulate every combination of ``grid`` values; ``xarray.DataArray`` of cells with dims
    (*grid keys, time_h, site, quantity). Sites missing at a grid point (a depot of another
    route) are filled with 0. ``quantities``: as :meth:`Result.to_xarray` (``"all"`` adds
    transit, arrested, engrafted cells and occlusion fraction).

    Examples
    --------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
    >>> da = mscpk.scan(sc, {"product.diameter_um.mean": [12, 18, 30]}, times_h=[1, 24])
    >>> lung = da.sel(site="lung", quantity="live_cells", time_h=1).values
    >>> bool(lung[0] < lung[1] < lung[2])  # larger cells are trapped more
    True
    """
    import xarray as xr


    if not grid:
        raise ScenarioError("scan: give at least one key to vary")
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    for k, v in zip(keys, values):
        if not v:
            raise ScenarioError(f"scan key {k!r}: no values given")
    base = scenario.model_dump(mode="json", exclude_none=True)
    params = {k for k in keys if _is_parameter(k, scenario)}
    times = list(times_h) if times_h is not None else scenario.output_times()
    arrays = []
    for combo in itertools.product(*values):
        raw = copy.deepcopy(base)
        for k, v in zip(keys, combo):
            if k in params:
                raw.setdefault("parameters", {})[k] = v
            else:
                _set_path(raw, k, v)
        try:
            point = scenario_from_dict(raw)
        except ScenarioError as exc:
            raise ScenarioError(f"scan point {dict(zip(keys, combo))}: {exc}") from None
        arrays.append(simulate(point, times_h=times, saturation=saturation).to_xarray(quantities))
    sites = list(dict.fromkeys(s for a in arrays for s in a.site.values.tolist()))
    arrays = [a.reindex(site=sites, fill_value=0.0) for a in arrays]
    stacked = xr.concat(arrays, dim="point")
    shape = [len(v) for v in values]
    data = stacked.values.reshape(*shape, *stacked.shape[1:])
    coords = {k: _coordinate(v) for k, v in zip(keys, values)}
    coords.update({"time_h": stacked.time_h.values, "site": sites, "quantity": stacked.quantity.values})
    return xr.DataArray(data, dims=(*keys, "time_h", "site", "quantity"), coords=coords, name="cells",
                        attrs={"units": "cells", "scenario": scenario.name})


def _coordinate(values: list[Any]) -> np.ndarray:
    """Coordinate labels of one grid key: the values themselves when they are scalars, else
    their JSON text (lists such as preconditioning sets, tables such as receptors)."""
    if all(isinstance(v, (int, float, str, bool)) for v in values):
        return np.asarray(values)
    return np.asarray([json.dumps(v, sort_keys=True) for v in values])


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["KEY=v1,v2", ...]`` -> grid; numbers are parsed as floats, other values kept as text.

    ``KEY=[...]`` takes a JSON list of values instead, for values that are lists or tables:
    ``product.preconditioning=[[], ["hypoxia"]]``.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, vals = item.partition("=")
        if not sep or not key.strip() or not vals.strip():
            raise ScenarioError(f"--vary {item!r}: expected KEY=value[,value...]")
        if vals.strip().startswith("["):
            try:
                parsed_json = json.loads(vals)
            except json.JSONDecodeError as exc:
                raise ScenarioError(f"--vary {item!r}: not a JSON list of values ({exc.msg})") from None
            if not isinstance(parsed_json, list) or not parsed_json:
                raise ScenarioError(f"--vary {item!r}: give a non-empty JSON list of values")
            grid[key.strip()] = parsed_json
            continue
        parsed: list[Any] = []
        for v in vals.split(","):
            v = v.strip()
            try:
                parsed.append(float(v))
            except ValueError:
                parsed.append({"true": True, "false": False}.get(v.lower(), v))
        grid[key.strip()] = parsed
    return grid
