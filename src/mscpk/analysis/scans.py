"""Scans: simulate a scenario over a grid of settings and return one xarray.

A grid key is either a dotted path into the scenario (``"product.diameter_um.mean"``,
``"subject.immune"``, ``"product.receptors.CXCR4"``, ``"dose[1].cells"``, ``"dose[1].route"``,
``"dose[*].cells"`` for every dose, ``"dose[1]"`` for a whole dose) or a parameter name as
``mscpk params`` lists it (``"Lung arrested cell death half-life [h]"``). A table value updates
the table at its key (``{"route": "local", "site": "heart"}`` keeps the dose's cells; null
removes a key). The full factorial product is simulated; each point is validated like a
scenario file, so a bad value names the key.
"""

from __future__ import annotations

import copy
import itertools
import json
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from mscpk.engine.result import ALL_QUANTITIES, CELL_QUANTITIES
from mscpk.engine.simulate import simulate
from mscpk.analysis.summary import embolic_limits, embolic_warnings, peak_occlusions
from mscpk.errors import MscpkWarning, ScenarioError, refuse_repeats
from mscpk.inputs.keys import set_path
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.parameters import load_parameter_set
from mscpk.inputs.physiology import physiology_names
from mscpk.inputs.resolve import scenario_species
from mscpk.inputs.scenario import Scenario, check_times

def check_quantities(quantities: Sequence[str] | str, key: str = "quantities") -> list[str]:
    """The quantities of a scan: ``"all"`` (every quantity of the result table) or names of
    :data:`~mscpk.engine.result.ALL_QUANTITIES`, each once. Raises :class:`ScenarioError`."""
    if quantities == "all":
        return list(ALL_QUANTITIES)
    names = [quantities] if isinstance(quantities, str) else list(quantities)
    allowed = f"allowed: {', '.join(ALL_QUANTITIES)}, or all"
    if not names:
        raise ScenarioError(f"{key}: give at least one quantity; {allowed}")
    for q in names:
        if q not in ALL_QUANTITIES:
            raise ScenarioError(f"{key}: unknown quantity {q!r}; {allowed}")
    refuse_repeats(key, names)
    return names


def _is_parameter(key: str, base: Scenario) -> bool:
    return key in load_parameter_set("default") or key in physiology_names(scenario_species(base))


def scan(scenario: Scenario, grid: Mapping[str, Sequence[Any]], *, times_h: Sequence[float] | None = None,
         saturation: str | None = None, quantities: Sequence[str] | str = CELL_QUANTITIES):
    """Simulate every combination of ``grid`` values; ``xarray.DataArray`` of cells with dims
    (*grid keys, time_h, site, quantity). A site or quantity missing at a grid point but present
    at others (a depot of another route) is 0 there; NaN marks a quantity a site never has
    (blood has no arrested cells). ``quantities``: as :meth:`Result.to_xarray` (``"all"`` adds transit, arrested,
    engrafted cells and occlusion fraction; :func:`check_quantities`). Points whose embolic
    burden (read on the scenario's dense grid too) exceeds its bed's limit
    (:func:`~mscpk.analysis.summary.embolic_warnings`) give one :class:`MscpkWarning`, also in
    ``attrs["warnings"]``.

    Examples
    --------
    >>> import mscpk
    >>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):  # a warning is also kept in attrs["warnings"]
    ...     warnings.simplefilter("always")
    ...     da = mscpk.scan(sc, {"product.diameter_um.mean": [12, 18, 30]}, times_h=[1, 24])
    >>> lung = da.sel(site="lung", quantity="live_cells", time_h=1).values
    >>> bool(lung[0] < lung[1] < lung[2])  # larger cells are trapped more
    True
    >>> print(da.attrs["warnings"][0])  # and 30 um cells occlude more of the lung's capillaries
    embolic burden above a bed's limit at 1 of 3 scan points: {'product.diameter_um.mean': 30} lung 11.4 % ...
    """
    import xarray as xr


    if not grid:
        raise ScenarioError("scan: give at least one key to vary")
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    for k, v in zip(keys, values):
        if not v:
            raise ScenarioError(f"scan key {k!r}: no values given")
        refuse_repeats(f"scan key {k!r}", v, "value ", same=lambda x: json.dumps(x, sort_keys=True))
    quantities = check_quantities(quantities)
    base = scenario.model_dump(mode="json", exclude_none=True)
    params = {k for k in keys if _is_parameter(k, scenario)}
    times = check_times(times_h if times_h is not None else scenario.output_times())
    arrays, burdens = [], []
    for combo in itertools.product(*values):
        raw = copy.deepcopy(base)
        for k, v in zip(keys, combo):
            if k in params:
                raw.setdefault("parameters", {})[k] = v
            else:
                set_path(raw, k, v)
        try:
            point = scenario_from_dict(raw)
        except ScenarioError as exc:
            raise ScenarioError(f"scan point {dict(zip(keys, combo))}: {exc}") from None
        # on the dense grid as well, so that the peak embolic burden is not missed between times
        result = simulate(point, times_h=np.union1d(times, point.dense_times()), saturation=saturation)
        peaks = peak_occlusions(result)
        if embolic_warnings(peaks):  # the bed furthest above its own limit
            ratio = {s: peaks[s] / embolic_limits(s)[1]["warn"] for s in peaks}
            worst = max(ratio, key=ratio.get)
            burdens.append((ratio[worst], f"{dict(zip(keys, combo))} {worst} {100 * peaks[worst]:.3g} % "
                                          f"(limit {100 * peaks[worst] / ratio[worst]:.3g} %)"))
        arrays.append(result.to_xarray(quantities).sel(time_h=times))
    sites = list(dict.fromkeys(s for a in arrays for s in a.site.values.tolist()))
    stacked = xr.concat([a.reindex(site=sites) for a in arrays], dim="point")
    # 0 where a point lacks a site x quantity that other points have (a depot of another route)
    lacking = stacked.isnull().all("time_h") & stacked.notnull().any(("point", "time_h"))
    stacked = stacked.where(~lacking, 0.0)
    shape = [len(v) for v in values]
    data = stacked.values.reshape(*shape, *stacked.shape[1:])
    coords = {k: _coordinate(v) for k, v in zip(keys, values)}
    coords.update({"time_h": stacked.time_h.values, "site": sites, "quantity": stacked.quantity.values})
    notes = []
    if burdens:  # one warning for the whole scan, worst points first
        shown = [text for _, text in sorted(burdens, reverse=True)[:3]]
        more = f" and {len(burdens) - 3} more" if len(burdens) > 3 else ""
        notes.append(f"embolic burden above a bed's limit at {len(burdens)} of {len(arrays)} scan points: "
                     f"{'; '.join(shown)}{more} (per-bed limits and their sources in data/embolic.toml)")
        warnings.warn(MscpkWarning(notes[0]), stacklevel=2)
    return xr.DataArray(data, dims=(*keys, "time_h", "site", "quantity"), coords=coords, name="cells",
                        attrs={"units": "cells", "scenario": scenario.name, "warnings": notes})


def _coordinate(values: list[Any]) -> np.ndarray:
    """Coordinate labels of one grid key: the values themselves when they are scalars, else
    their JSON text (lists such as preconditioning sets, tables such as receptors)."""
    if all(isinstance(v, (int, float, str, bool)) for v in values):
        return np.asarray(values)
    return np.asarray([json.dumps(v, sort_keys=True) for v in values])


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["KEY=v1,v2", ...]`` -> grid; numbers are parsed as floats, other values kept as text.

    ``KEY=[...]`` takes a JSON list of values instead, for values that are lists or tables:
    ``product.preconditioning=[[], ["hypoxia"]]``; ``KEY={...},{...}`` JSON tables, e.g. a dose
    with its site: ``dose[1]={"route": "local", "site": "heart"},{"route": "iv"}``. A key is
    given once.

    >>> parse_vary(["dose[1].cells=1e5,1e6", 'dose[2]={"route": "ip"},{"route": "iv"}'])
    {'dose[1].cells': [100000.0, 1000000.0], 'dose[2]': [{'route': 'ip'}, {'route': 'iv'}]}
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, vals = item.partition("=")
        if not sep or not key.strip() or not vals.strip():
            raise ScenarioError(f"--vary {item!r}: expected KEY=value[,value...]")
        if key.strip() in grid:
            raise ScenarioError(f"--vary: key {key.strip()!r} is given twice; list all its values in one --vary")
        if vals.strip().startswith("{"):
            try:
                tables = json.loads(f"[{vals}]")
            except json.JSONDecodeError as exc:
                raise ScenarioError(f"--vary {item!r}: not JSON tables separated by commas ({exc.msg})") from None
            if not all(isinstance(t, dict) for t in tables):
                raise ScenarioError(f"--vary {item!r}: not JSON tables separated by commas")
            grid[key.strip()] = tables
            continue
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
        for i, v in enumerate(vals.split(","), 1):
            v = v.strip()
            if not v:
                raise ScenarioError(f"--vary {item!r}: value {i} is empty; give KEY=value[,value...]")
            try:
                parsed.append(float(v))
            except ValueError:
                parsed.append({"true": True, "false": False}.get(v.lower(), v))
        grid[key.strip()] = parsed
    return grid
