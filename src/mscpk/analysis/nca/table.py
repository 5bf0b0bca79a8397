"""The NCA output table: parameter codes and names, units, flags and the cross-site ratios
(columns and codes in docs/nca.md).

>>> units_for("cells/g")["AUCLST"], units_for("cells")["AUMCLST"]
('h*cells/g', 'cells*h^2')
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mscpk.analysis.nca.core import (DOSE_CODES, EXTRAP_CODES, LAMZ_CODES, SYSTEMIC_CODES,
                                     NCAOptions, Profile)
from mscpk.inputs.studydata import unit_ratio, ureg

#: Output columns, in order (the first five are fixed by the interface).
OUTPUT_COLUMNS = (
    "GROUP", "SITE", "PPTESTCD", "PPORRES", "PPORRESU",
    "ID", "ASSAY", "METHOD", "N", "SE", "CI_LOW", "CI_HIGH", "POINTS_USED", "FLAGS", "PPTEST",
)

PPTEST_NAMES: dict[str, str] = {
    "CMAX": "Max Conc",
    "C0": "Initial Conc",
    "TMAX": "Time of CMAX",
    "CLST": "Last Nonzero Conc",
    "TLST": "Time of Last Nonzero Conc",
    "AUCLST": "AUC to Last Nonzero Conc",
    "AUCALL": "AUC All",
    "AUMCLST": "AUMC to Last Nonzero Conc",
    "LAMZ": "Lambda z",
    "LAMZHL": "Half-Life Lambda z",
    "LAMZNPT": "Number of Points for Lambda z",
    "R2": "R Squared",
    "R2ADJ": "R Squared Adjusted",
    "LAMZLL": "Lambda z Lower Limit",
    "LAMZUL": "Lambda z Upper Limit",
    "LAMZSPN": "Lambda z Span",
    "CLSTP": "Last Nonzero Conc Predicted",
    "AUCIFO": "AUC Infinity Obs",
    "AUCIFP": "AUC Infinity Pred",
    "AUCPEO": "AUC %Extrapolation Obs",
    "AUCPEP": "AUC %Extrapolation Pred",
    "AUMCIFO": "AUMC Infinity Obs",
    "MRTEVLST": "MRT Extravasc to Last Nonzero Conc",
    "MRTEVIFO": "MRT Extravasc Infinity Obs",
    "MRTIVLST": "MRT Intravasc to Last Nonzero Conc",
    "MRTIVIFO": "MRT Intravasc Infinity Obs",
    "AUCPBEO": "AUC %Back Extrapolation Obs",
    "CMAXD": "Max Conc Norm by Dose",
    "AUCLSTD": "AUC to Last Nonzero Conc Norm by Dose",
    "AUCIFOD": "AUC Infinity Obs Norm by Dose",
    "CLO": "Total CL Obs",
    "VZO": "Vz Obs",
    "VSSO": "Vol Dist Steady State Obs",
    "EXPOSURE": "Cell exposure, AUCLST in days (mscpk)",
    "PERSIST": "Persistence, last time above LLOQ (mscpk)",
    "TBRATIO": "Tissue-to-blood AUCLST ratio (mscpk)",
    "TGTEFF": "Targeting efficiency, share of summed AUCLST (mscpk)",
}

#: Hours per day (time in study data is in h; EXPOSURE is in days).
HOURS_PER_DAY = float(ureg.Quantity(1.0, "day").to("hour").magnitude)

_AREA_CODES = ("AUCLST", "AUCALL", "AUMCLST", "AUCIFO", "AUCIFP", "AUCPEO", "AUCPEP",
               "AUMCIFO", "MRTEVLST", "MRTEVIFO", "MRTIVLST", "MRTIVIFO", "EXPOSURE", "AUCPBEO",
               "AUCLSTD", "AUCIFOD", "CLO", "VZO", "VSSO")
# codes that depend on lambda_z besides EXTRAP_CODES
_LAMZ_DEPENDENT = ("AUCPBEO", "AUCIFOD", "CLO", "VZO", "VSSO")
# codes listed only when the profile has them (IV bolus convention, DOSE given)
_OPTIONAL = ("C0", "AUCPBEO") + DOSE_CODES + SYSTEMIC_CODES
# code -> the extrapolated percentage that flags it HIGH_EXTRAP
_EXTRAP_PCT = {**dict.fromkeys(("AUCIFO", "AUCPEO", "AUMCIFO", "MRTEVIFO", "MRTIVIFO"), "AUCPEO"),
               "AUCIFP": "AUCPEP", "AUCPEP": "AUCPEP"}
_ORDER = ("CMAX", "TMAX", "C0", "CLST", "TLST", "AUCLST", "AUCALL", "AUMCLST", "LAMZ", "LAMZHL",
          "LAMZNPT", "R2", "R2ADJ", "LAMZLL", "LAMZUL", "LAMZSPN", "CLSTP", "AUCIFO", "AUCIFP",
          "AUCPEO", "AUCPEP", "AUCPBEO", "AUMCIFO", "MRTEVLST", "MRTEVIFO", "MRTIVLST",
          "MRTIVIFO", "CMAXD", "AUCLSTD", "AUCIFOD", "CLO", "VZO", "VSSO", "EXPOSURE", "PERSIST")


def _unit_times(unit: str, tunit: str, power: int = 1) -> str:
    tpart = tunit if power == 1 else f"{tunit}^{power}"
    if not unit:
        return tpart
    if unit.startswith("1/"):
        return f"{tpart}{unit[1:]}"
    return f"{tpart}*{unit}" if "/" in unit else f"{unit}*{tpart}"


def units_for(unit: str) -> dict[str, str]:
    """Unit of every parameter code for data in ``unit`` (time in h)."""
    auc = _unit_times(unit, "h")
    u = {code: "h" for code in ("TMAX", "TLST", "LAMZHL", "LAMZLL", "LAMZUL", "MRTEVLST",
                                "MRTEVIFO", "MRTIVLST", "MRTIVIFO", "PERSIST")}
    u.update(CMAX=unit, CLST=unit, CLSTP=unit, AUCLST=auc, AUCALL=auc, AUCIFO=auc,
             AUCIFP=auc,
             AUMCLST=_unit_times(unit, "h", 2), AUMCIFO=_unit_times(unit, "h", 2),
             LAMZ="1/h", LAMZNPT="", R2="", R2ADJ="", LAMZSPN="", AUCPEO="%", AUCPEP="%",
             EXPOSURE=_unit_times(unit, "d"), C0=unit, AUCPBEO="%")
    per_dose = unit_ratio(unit, "cells")  # DOSE is in cells
    volume = unit_ratio("cells", unit)
    u.update(CMAXD=per_dose, AUCLSTD=_unit_times(per_dose, "h"),
             AUCIFOD=_unit_times(per_dose, "h"), CLO=f"{volume or '1'}/h", VZO=volume,
             VSSO=volume)
    return u


def parameter_rows(p: Profile, *, group: str, site: str, assay: str, unit: str, is_iv: bool,
                   z: float, opts: NCAOptions) -> list[dict[str, Any]]:
    """The output rows of one profile (MRTIV* only for an intravenous route)."""
    units = units_for(unit)
    vals = p.vals
    rows = []
    for code in _ORDER:
        if code in ("MRTIVLST", "MRTIVIFO") and not is_iv or code in _OPTIONAL and code not in vals:
            continue
        val = vals["AUCLST"] / HOURS_PER_DAY if code == "EXPOSURE" else vals.get(code, math.nan)
        flags = list(p.pflags)
        if code in LAMZ_CODES or code in EXTRAP_CODES or code in _LAMZ_DEPENDENT:
            flags += p.xflags
        if code in _AREA_CODES:
            flags += p.area_flags
        if code in _EXTRAP_PCT and vals.get(_EXTRAP_PCT[code], math.nan) > opts.max_extrap_pct:
            flags.append("HIGH_EXTRAP")
        if code == "PERSIST":
            flags += p.persist_flags
        row = {
            "GROUP": group, "SITE": site, "PPTESTCD": code, "PPORRES": val,
            "PPORRESU": units[code], "ID": p.ident, "ASSAY": assay, "METHOD": p.method,
            "N": p.n_obs, "SE": math.nan, "CI_LOW": math.nan, "CI_HIGH": math.nan,
            "POINTS_USED": "", "FLAGS": "", "PPTEST": PPTEST_NAMES[code],
        }
        if p.method == "sparse" and code in ("AUCLST", "EXPOSURE"):
            scale = 1.0 if code == "AUCLST" else 1.0 / HOURS_PER_DAY
            row["SE"] = p.se * scale
            row["CI_LOW"] = (vals["AUCLST"] - z * p.se) * scale
            row["CI_HIGH"] = (vals["AUCLST"] + z * p.se) * scale
            flags += p.auc_flags
        if code in LAMZ_CODES and p.fit is not None:
            row["POINTS_USED"] = ";".join(f"{x:g}" for x in p.fit.times)
        row["FLAGS"] = ";".join(dict.fromkeys(flags))
        rows.append(row)
    return rows


def ratio_rows(site_summary: dict[tuple, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """TBRATIO and TGTEFF rows from each (GROUP, ASSAY)'s per-site AUCLST, TLST and unit."""
    rows: list[dict[str, Any]] = []
    for (group, assay), sites in site_summary.items():
        base = {"GROUP": group, "ID": "", "ASSAY": assay, "METHOD": "ratio", "N": pd.NA,
                "SE": math.nan, "CI_LOW": math.nan, "CI_HIGH": math.nan, "POINTS_USED": ""}
        if "blood" in sites:
            b = sites["blood"]
            for site, s in sites.items():
                if site == "blood":
                    continue
                val = s["AUCLST"] / b["AUCLST"] if b["AUCLST"] > 0 else math.nan
                flags = [] if b["AUCLST"] > 0 else ["ZERO_DENOMINATOR"]
                if s["TLST"] != b["TLST"] and not (math.isnan(s["TLST"]) and
                                                   math.isnan(b["TLST"])):
                    flags.append("TLST_DIFFERS")
                rows.append({**base, "SITE": site, "PPTESTCD": "TBRATIO", "PPORRES": val,
                             "PPORRESU": unit_ratio(s["unit"], b["unit"]),
                             "FLAGS": ";".join(flags), "PPTEST": PPTEST_NAMES["TBRATIO"]})
        if len(sites) >= 2:
            units = {s["unit"] for s in sites.values()}
            total = sum(s["AUCLST"] for s in sites.values())
            tl = {s["TLST"] for s in sites.values() if not math.isnan(s["TLST"])}
            for site, s in sites.items():
                flags = []
                if len(units) > 1:
                    val = math.nan
                    flags.append("MIXED_UNITS")
                elif total > 0:
                    val = s["AUCLST"] / total
                else:
                    val = math.nan
                    flags.append("ZERO_DENOMINATOR")
                if len(tl) > 1:
                    flags.append("TLST_DIFFERS")
                rows.append({**base, "SITE": site, "PPTESTCD": "TGTEFF", "PPORRES": val,
                             "PPORRESU": "", "FLAGS": ";".join(flags),
                             "PPTEST": PPTEST_NAMES["TGTEFF"]})
    return rows


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The output table with columns :data:`OUTPUT_COLUMNS` and their types."""
    out = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    return out.astype({"PPORRES": float, "N": "Int64", "SE": float, "CI_LOW": float,
                       "CI_HIGH": float})
