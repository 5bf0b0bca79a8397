"""Data groups -> scenarios: each GROUP (or ROUTE/DOSE combination) gets a scenario derived
from a base scenario, or its own; several datasets each with their own scenario."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscpk.analysis.fitting.problem import as_frame, rows_of
from mscpk.errors import FitError, ScenarioError, did_you_mean
from mscpk.inputs.load import load_scenario, scenario_from_dict
from mscpk.inputs.routes import route as route_info, route_from_text, route_names

_OWN_SCENARIO = ("give this group its own scenario (fit(scenarios={group: Scenario}) or "
                 "--scenario-for GROUP=FILE)")


def _normalise_route(route: str, where: str) -> str:
    r = route_from_text(route)
    if r is None:
        names = route_names()
        raise FitError(f"{where}: ROUTE {route!r} is not a known route; "
                       f"{did_you_mean(str(route).strip().lower().replace(' ', '_'), names)}allowed: {', '.join(names)}")
    return r


def derive_scenario(base: Any, *, route: str | None = None, dose: float | None = None,
                    where: str = "data") -> Any:
    """``base`` with its single dose given ``dose`` cells and/or ``route`` (a route that needs
    a target organ keeps the base dose's ``site``); validated like a scenario file.

    Raises :class:`FitError` naming ``where``.
    """
    if route is None and dose is None:
        return base
    if len(base.dose) != 1:
        raise FitError(f"{where}: DOSE/ROUTE in the data need a base scenario with a single "
                       f"dose (it has {len(base.dose)}); {_OWN_SCENARIO}")
    d = base.dose[0]
    upd: dict[str, Any] = {}
    desc = []
    if route is not None:
        r = _normalise_route(route, where)
        if r != d.route:
            info = route_info(r)
            if info.site != "none" and info.needs_site and d.site is None:
                raise FitError(
                    f"{where}: ROUTE {r!r} needs a target organ (dose site) and the base "
                    f"scenario's dose (route {d.route!r}) has none; {_OWN_SCENARIO}")
            upd.update(route=r, site=None if info.site == "none" else d.site)
            desc.append(r)
    if dose is not None and not (d.cells is not None and math.isclose(dose, d.cells)):
        if not (dose > 0 and math.isfinite(dose)):
            raise FitError(f"{where}: DOSE {dose!r} must be a positive number of cells")
        upd.update(cells=float(dose), cells_per_kg=None)
        desc.append(f"{dose:g} cells")
    if not upd:
        return base
    raw = base.model_dump()  # a fresh copy
    raw["dose"][0].update(upd)
    raw["name"] = f"{base.name} [{', '.join(desc)}]"  # every change is described
    try:
        return scenario_from_dict(raw)
    except ScenarioError as exc:
        raise FitError(f"{where}: cannot build its scenario from the base: {exc}") from None


def group_scenarios(base: Any, frame: pd.DataFrame, *, prefix: str = ""
                    ) -> tuple[dict[str, Any], list[str]]:
    """Scenario per group of ``frame`` (derived from ``base``) and each row's group name.

    A GROUP with several DOSE/ROUTE values is an error; data without a GROUP column are
    split by (ROUTE, DOSE) instead.
    """
    n = len(frame)
    groups = frame["GROUP"].astype(str).tolist() if "GROUP" in frame else ["all"] * n
    doses = frame["DOSE"].to_numpy(float) if "DOSE" in frame else np.full(n, np.nan)
    routes = ([r.strip().lower() if isinstance(r, str) else "" for r in frame["ROUTE"]]
              if "ROUTE" in frame else [""] * n)
    combos_of: dict[str, dict[tuple, list[int]]] = {}
    for i, (g, r, d) in enumerate(zip(groups, routes, doses)):
        key = (r or None, None if math.isnan(d) else float(d))
        combos_of.setdefault(g, {}).setdefault(key, []).append(i)
    names = np.empty(n, object)
    out: dict[str, Any] = {}
    for g, combos in combos_of.items():
        if len(combos) > 1 and len(combos_of) > 1:
            listed = "; ".join(
                f"ROUTE {r or '(blank)'} DOSE {'(blank)' if d is None else f'{d:g}'} in "
                f"{rows_of(frame.iloc[idx])}"
                for (r, d), idx in combos.items())
            raise FitError(f"{prefix}GROUP {g!r} has several DOSE/ROUTE values ({listed}); give "
                           "each design its own GROUP")
        for (r, d), idx in combos.items():
            if len(combos) > 1:
                label = " ".join(x for x in (r, None if d is None else f"{d:g} cells") if x)
                gname = f"{prefix}{label or g}" if g == "all" else f"{prefix}{g} ({label})"
            else:
                gname = f"{prefix}{g}" if not (prefix and g == "all") else prefix.rstrip("/ ")
            where = f"{prefix}GROUP {g!r} ({rows_of(frame.iloc[idx])})"
            out[gname] = derive_scenario(base, route=r, dose=d, where=where)
            names[idx] = gname
    return out, names.tolist()


def _load(sc: Any) -> Any:
    return load_scenario(sc) if isinstance(sc, (str, Path)) else sc


def _by_group(mapping: Mapping[Any, Any], data: Any) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """``scenarios={group: Scenario}``: every data group has its scenario."""
    if data is None:
        raise FitError("scenarios={group: Scenario} needs data=")
    if not mapping:
        raise FitError("scenarios={} is empty")
    frame = as_frame(data).reset_index(drop=True)
    groups = frame["GROUP"].astype(str) if "GROUP" in frame else pd.Series(["all"] * len(frame))
    present = list(dict.fromkeys(groups))
    mapping = {str(k): v for k, v in mapping.items()}
    if present == ["all"] and len(mapping) == 1 and "all" not in mapping:
        mapping = {"all": next(iter(mapping.values()))}
    missing = [g for g in present if g not in mapping]
    if missing:
        g = missing[0]
        raise FitError(f"GROUP {g!r} ({rows_of(frame[(groups == g).to_numpy()])}) has no scenario; "
                       f"scenarios are given for: {', '.join(map(repr, mapping))}")
    unused = [g for g in mapping if g not in present]
    if unused:
        raise FitError(f"scenario given for GROUP {unused[0]!r}, which has no data rows; "
                       f"data groups: {', '.join(map(repr, present))}")
    scen: dict[str, Any] = {}
    names = np.empty(len(frame), object)
    for g in present:
        mask = (groups == g).to_numpy()
        s, names[mask] = group_scenarios(_load(mapping[g]), frame[mask])
        scen.update(s)
    return frame, scen, names.tolist()


def _by_dataset(pairs: list[Any]) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """``scenarios=[(scenario, data), ...]``: groups named ``dataset K[/GROUP]``."""
    if not pairs:
        raise FitError("scenarios=[] is empty")
    frames, scen, names = [], {}, []
    for k, pair in enumerate(pairs, 1):
        try:
            sc_k, data_k = pair
        except (TypeError, ValueError):
            raise FitError(f"scenarios[{k}] must be a (scenario, data) pair") from None
        fr = as_frame(data_k).reset_index(drop=True).copy()
        fr["DATASET"] = k
        s, nm = group_scenarios(_load(sc_k), fr, prefix=f"dataset {k}/")
        scen.update(s)
        names += nm
        frames.append(fr)
    return pd.concat(frames, ignore_index=True), scen, names


def prepare(scenario: Any, data: Any, scenarios: Any
            ) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """(combined frame, group -> scenario, each row's group) for the arguments of
    :func:`~mscpk.analysis.fitting.fit`; scenarios may be TOML paths."""
    if scenarios is None and isinstance(scenario, (Mapping, list, tuple)):
        scenarios, scenario = scenario, None
    if scenarios is None:
        if scenario is None:
            raise FitError("give a scenario (or scenarios={group: Scenario})")
        if data is None:
            raise FitError("no data to fit")
        frame = as_frame(data).reset_index(drop=True)
        return frame, *group_scenarios(_load(scenario), frame)
    if scenario is not None:
        raise FitError("give either a base scenario or scenarios=..., not both")
    if isinstance(scenarios, Mapping):
        return _by_group(scenarios, data)
    if data is not None:
        raise FitError("with scenarios=[(scenario, data), ...] give the data in the pairs, "
                       "not as data=")
    return _by_dataset(list(scenarios))
