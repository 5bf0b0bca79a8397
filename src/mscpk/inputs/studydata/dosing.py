"""NONMEM-style dosing records in study data (EVID, AMT, CMT or ROUTE, II, ADDL, RATE or DUR)
and the scenario doses they stand for (rules: docs/studydata.md, "Dosing records").

>>> import pandas as pd
>>> from mscpk.inputs.studydata.read import study_from_frame
>>> df = pd.DataFrame({"ID": ["m1", "m1"], "TIME": [0, 24], "EVID": [1, 0],
...                    "AMT": [1e6, None], "ROUTE": ["iv", None], "II": [24, None],
...                    "ADDL": [2, None], "DV": [None, 5e4], "SITE": [None, "lung"]})
>>> doses_from_records(study_from_frame(df))
[{'route': 'iv', 'cells': 1000000.0, 'time_h': 0.0, 'infusion_min': 0.0, 'site': None, 'every_h': 24.0, 'count': 3}]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import ValidationError

from mscpk.errors import DataError, ScenarioError
from mscpk.inputs.load import scenario_from_dict
from mscpk.inputs.routes import route as route_info, route_from_text, route_names
from mscpk.inputs.scenario import Dose, Scenario
from mscpk.inputs.studydata.cells import number, site_name, text
from mscpk.inputs.studydata.study import StudyData, capped
from mscpk.inputs.studydata.units import ureg

#: The dosing columns (read only on dosing rows, and only when the file has an EVID column).
DOSING_COLUMNS: tuple[str, ...] = ("EVID", "AMT", "CMT", "II", "ADDL", "RATE", "DUR")
#: Allowed EVID values: 0 observation, 1 dose (NONMEM's 2, 3, 4 are not supported).
EVIDS = {0: "observation", 1: "dose"}
_MIN_PER_H = float(ureg.Quantity(1.0, "hour").to("minute").magnitude)
# Dose field -> the column a problem with it is reported under
_FIELD_COLUMN = {"cells": "AMT", "time_h": "TIME", "infusion_min": "RATE/DUR", "every_h": "II",
                 "count": "ADDL", "route": "ROUTE", "site": "SITE"}


def _route(cells: Mapping[str, Any], seen: Mapping[str, str], add) -> str | None:
    """The route named by the ROUTE and/or CMT cell (problems go to ``add(column, msg)``)."""
    names = route_names()
    allowed = ", ".join(names)
    found: dict[str, str] = {}
    for col in ("ROUTE", "CMT"):
        raw = text(cells.get(col)) if col in seen else ""
        if raw == "":
            continue
        name = route_from_text(raw)
        if name is None:
            why = (f"{col} {raw!r} is a compartment number; mscpk doses go by route, so {col} must "
                   "name a route" if col == "CMT" and raw.replace(".", "").isdigit()
                   else f"{col} {raw!r} is not a known route")
            add(col, f"{why}; allowed: {allowed}")
            return None
        found[col] = name
    if not found:
        add("ROUTE", f"a dosing row (EVID 1) needs its route in ROUTE or CMT; allowed: {allowed}")
        return None
    if len(set(found.values())) > 1:
        add("CMT", f"CMT names route {found['CMT']!r} but ROUTE names {found['ROUTE']!r}")
        return None
    return next(iter(found.values()))


def dose_row(rownum: int, cells: Mapping[str, Any], seen: Mapping[str, str], problems: Any
             ) -> dict[str, Any] | None:
    """One dosing record (EVID 1) as a row of ``StudyData.dosing``, or None (problems added
    to ``problems``, a :class:`~mscpk.inputs.studydata.columns.Problems`)."""
    n_before = len(problems)

    def add(col: str, msg: str) -> None:
        problems.add(rownum, col, msg)

    def value(col: str, *, whole: bool = False) -> float:
        """A number >= 0 (NaN when blank or wrong)."""
        raw = cells.get(col) if col in seen else None
        v = number(raw)
        if v is None:
            return math.nan
        if not isinstance(v, float) or not math.isfinite(v) or v < 0 or (whole and not v.is_integer()):
            kind = "a whole number >= 0" if whole else "a finite number >= 0"
            add(col, f"{col} {text(raw)!r} on a dosing row (EVID 1) must be {kind}")
            return math.nan
        return v

    ident = text(cells.get("ID"))
    if ident == "":
        add("ID", "ID is missing")
    group = text(cells.get("GROUP")) if "GROUP" in seen else "all"
    if "GROUP" in seen and group == "":
        add("GROUP", "GROUP is missing (the file has a GROUP column, so every row needs one)")
    time_h = value("TIME")
    if math.isnan(time_h) and number(cells.get("TIME")) is None:
        add("TIME", "TIME (the dose's time [h]) is missing")
    amt = value("AMT")
    if math.isnan(amt) and number(cells.get("AMT") if "AMT" in seen else None) is None:
        add("AMT", "a dosing row (EVID 1) needs AMT (cells administered)")
    elif amt == 0:
        add("AMT", "AMT 0 on a dosing row (EVID 1): a dose needs cells > 0")
    route = _route(cells, seen, add)
    dv = number(cells.get("DV"))
    if dv is not None and dv != 0:
        add("DV", f"DV {text(cells.get('DV'))!r} on a dosing row (EVID 1): a dose carries no "
                  "measurement (leave DV empty or 0)")
    raw_rate = cells.get("RATE") if "RATE" in seen else None
    if isinstance(number(raw_rate), float) and number(raw_rate) < 0:
        add("RATE", f"RATE {text(raw_rate)!r}: modelled rates (NONMEM's -1, -2) are not "
                    "supported; give RATE (cells/h) > 0, DUR (h), or 0 for a bolus")
        rate = math.nan
    else:
        rate = value("RATE")
    dur = value("DUR")
    ii = value("II")
    addl = value("ADDL", whole=True)
    infusion_h = 0.0
    if rate > 0 and dur > 0:
        add("DUR", f"RATE {rate:g} and DUR {dur:g} both given; give one (RATE cells/h or DUR h)")
    elif rate > 0 and amt > 0:
        infusion_h = amt / rate
    elif dur > 0:
        infusion_h = dur
    if addl > 0 and not ii > 0:
        add("II", f"ADDL {addl:g} additional doses need II > 0 (the interval [h])")
    site = text(cells.get("SITE"))
    site = site_name(site) if site else None
    if route is not None and site is not None and route_info(route).site == "none":
        add("SITE", f"route {route!r} takes no site; leave SITE empty on its dosing rows")
    elif route is not None and site is None and route_info(route).needs_site:
        add("SITE", f"route {route!r} needs SITE (the organ reached) on its dosing rows")
    if len(problems) > n_before:
        return None
    count = 1 if math.isnan(addl) else int(addl) + 1
    dose = {"route": route, "cells": amt, "time_h": time_h, "infusion_min": infusion_h * _MIN_PER_H,
            "site": site, "every_h": ii if count > 1 else None, "count": count}
    try:
        Dose(**dose)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if err["loc"]:
            col = _FIELD_COLUMN[str(err["loc"][0])]
            msg = f"{col} gives {str(err['loc'][0])} = {err['input']!r}: {msg}"
        else:  # a rule across fields (the interval against the infusion)
            col = "II" if "every_h" in msg else "ROUTE"
        add(col, f"not a valid dose: {msg}")
        return None
    return {"ROW": rownum, "GROUP": group, "ID": ident, "TIME": time_h, "ROUTE": route,
            "SITE": site, "AMT": amt, "INFUSION_MIN": dose["infusion_min"],
            "II": math.nan if dose["every_h"] is None else dose["every_h"], "ADDL": count - 1}


def _dose_dict(r: Mapping[str, Any]) -> dict[str, Any]:
    every = r["II"]
    return {"route": r["ROUTE"], "cells": float(r["AMT"]), "time_h": float(r["TIME"]),
            "infusion_min": float(r["INFUSION_MIN"]),
            "site": r["SITE"] if isinstance(r["SITE"], str) else None,
            "every_h": None if every is None or pd.isna(every) else float(every),
            "count": int(r["ADDL"]) + 1}


def doses_from_records(data: StudyData, group: str | None = None) -> list[dict[str, Any]]:
    """The doses of the dosing records (EVID 1) of ``data`` (or of its GROUP ``group``), as
    scenario ``[[dose]]`` tables in time order (II/ADDL -> ``every_h``/``count``).

    One scenario is one subject, so every ID (of the group) must have the same doses, and
    every observed ID needs dosing records. Raises :class:`DataError` otherwise.
    """
    recs = data.dosing
    src = data.source or "the study data"
    if len(recs) == 0:
        raise DataError(f"{src} has no dosing records (rows with EVID 1)")
    groups = list(dict.fromkeys(recs["GROUP"].astype(str)))
    obs = data.frame
    if group is not None:
        if str(group) not in groups:
            raise DataError(f"{src}: GROUP {group!r} has no dosing records; groups with doses: "
                            f"{', '.join(map(repr, groups))}")
        recs = recs[recs["GROUP"].astype(str) == str(group)]
        obs = obs[obs["GROUP"].astype(str) == str(group)]
    by_id: dict[str, list[dict[str, Any]]] = {}
    rows_of: dict[str, list[int]] = {}
    for r in recs.sort_values(["TIME", "ROW"], kind="stable").to_dict("records"):
        key = f"{r['GROUP']}/{r['ID']}" if group is None and len(groups) > 1 else str(r["ID"])
        by_id.setdefault(key, []).append(_dose_dict(r))
        rows_of.setdefault(key, []).append(int(r["ROW"]))
    ids = list(by_id)
    first = by_id[ids[0]]
    differ = [i for i in ids[1:] if by_id[i] != first]
    if differ:
        raise DataError(
            f"{src}: the IDs{'' if group is None else f' of GROUP {group!r}'} have different "
            f"doses (ID {ids[0]!r}, rows {', '.join(map(str, rows_of[ids[0]]))}; ID {differ[0]!r}, "
            f"rows {', '.join(map(str, rows_of[differ[0]]))}); one scenario is one regimen: "
            "give each regimen its own GROUP and take the doses per group")
    keys = (obs["GROUP"].astype(str) + "/" + obs["ID"].astype(str)) if group is None and \
        len(groups) > 1 else obs["ID"].astype(str)
    undosed = [k for k in dict.fromkeys(keys) if k not in by_id]
    if undosed:
        rows = obs["ROW"][(keys == undosed[0]).to_numpy()].tolist()
        lines = capped([f"ID {k!r}" for k in undosed], " ID(s)")
        raise DataError(f"{src}: observed IDs without dosing records (EVID 1 rows): "
                        f"{', '.join(lines)} (first in rows {', '.join(map(str, rows[:5]))}); "
                        "every observed ID needs its doses")
    return [dict(d) for d in first]


def scenario_with_doses(scenario: Scenario, data: StudyData, group: str | None = None) -> Scenario:
    """``scenario`` with its ``[[dose]]`` tables replaced by the doses of ``data``'s dosing
    records (:func:`doses_from_records`), validated like a scenario file.

    Raises :class:`DataError` when the records' doses do not make a valid scenario.
    """
    doses = doses_from_records(data, group)
    raw = scenario.model_dump()
    raw["dose"] = doses
    try:
        return scenario_from_dict(raw)
    except ScenarioError as exc:
        src = data.source or "the study data"
        raise DataError(f"{src}: the dosing records do not fit scenario {scenario.name!r}: "
                        f"{exc}") from None
