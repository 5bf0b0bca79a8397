"""Conversion of study data to absolute cell numbers in the sampled site (:func:`to_cells`).

>>> import pandas as pd
>>> from mscpk.inputs.studydata.read import study_from_frame
>>> study = study_from_frame(pd.DataFrame({"ID": ["m1"], "TIME": [24], "DV": [2e4],
...                                        "SITE": ["lung"], "DVU": ["cells/g"]}))
>>> to_cells(study, tissue_mass_g={"lung": 0.15}).frame[["DV", "DVU", "CONVERSION"]]
       DV    DVU               CONVERSION
0  3000.0  cells  cells/g x 0.15 g (lung)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import replace
from importlib import resources
from typing import Any

import numpy as np

from mscpk.errors import DataError
from mscpk.inputs.studydata.study import StudyData, capped
from mscpk.inputs.studydata.units import PINT_EXPR, ureg

_DEFAULTS = tomllib.loads(
    resources.files("mscpk.data").joinpath("studydata.toml").read_text("utf-8"))["to_cells"]
#: Default DNA per donor cell, pg (data/studydata.toml ``[to_cells] dna_per_cell_pg``).
DNA_PER_CELL_PG: float = float(ureg.Quantity(_DEFAULTS["dna_per_cell_pg"]["value"],
                                             _DEFAULTS["dna_per_cell_pg"]["unit"])
                               .to("picogram").magnitude)


def _lookup(table: Mapping[Any, float] | float | None, group: str, ident: str, site: str
            ) -> float | None:
    """Value for one sample: keys tried (GROUP, ID, SITE), (ID, SITE), SITE; a bare number
    applies to every sample."""
    if table is None:
        return None
    if isinstance(table, (int, float)) and not isinstance(table, bool):
        return float(table)
    for key in ((group, ident, site), (ident, site), site):
        if key in table:
            return float(table[key])
    return None


def dna_mass_ug(tissue_mass_g: Mapping[Any, float], cells_per_gram: float,
                dna_per_cell_pg: float = DNA_PER_CELL_PG) -> dict[Any, float]:
    """Total DNA [ug] of each sampled tissue from its mass [g] and the cells per gram of
    tissue (all host cells, diploid): mass x cells per g x DNA per cell.

    >>> dna_mass_ug({"lung": 0.15}, 1e8)
    {'lung': 99.0}
    """
    ug_per_pg = float(ureg.Quantity(1.0, "picogram").to("microgram").magnitude)
    return {k: float(m) * cells_per_gram * dna_per_cell_pg * ug_per_pg
            for k, m in tissue_mass_g.items()}


def to_cells(
    study: StudyData,
    *,
    tissue_mass_g: Mapping[Any, float] | None = None,
    fluid_volume_ml: Mapping[Any, float] | None = None,
    dose: float | Mapping[str, float] | None = None,
    standard_curve: tuple[float, float] | None = None,
    curve_quantity: str = "copies",
    copies_per_cell: float | None = None,
    dna_per_cell_pg: float = DNA_PER_CELL_PG,
    dna_mass_ug: Mapping[Any, float] | float | None = None,
    dna_per_reaction_ug: float | None = None,
    units: Collection[str] | None = None,
) -> StudyData:
    """Convert every observation to absolute cells in the sampled site (whole organ, whole
    fluid volume, or whole sample).

    Conversions (``DV`` and ``LLOQ`` alike; all via pint except the logarithmic Ct):

    * ``cells``: unchanged.
    * ``cells/g`` (and ``cells/mg``): times the site's mass in g from ``tissue_mass_g``.
    * ``cells/mL`` (and ``cells/uL``): times the fluid volume in mL from ``fluid_volume_ml``
      (e.g. total blood volume for ``blood``). No density is assumed to turn a mass into a
      volume or back.
    * ``%ID``: times dose/100, the dose in cells from ``dose`` (a number, or a mapping
      GROUP -> cells) or else from the row's ``DOSE`` column; ``%ID/g`` additionally times
      the site's mass. The injected dose is taken to be the number of cells administered
      (radioactivity decay-corrected to injection, label retained by the cells).
    * ``copies/ug`` (copies of the assay target per ug of total DNA): cells =
      DV * dna_mass_ug / copies_per_cell, where ``dna_mass_ug`` is the total DNA of the whole
      sampled site (extracted from the whole homogenised tissue) and ``copies_per_cell`` the
      target copies per donor cell (1 for standards in genome equivalents or a single
      integrated transgene; Alu-type targets must be calibrated to genome equivalents).
      There is no default for ``copies_per_cell``: it must be stated.
    * ``Ct``: quantity per reaction Q = 10 ** ((Ct - intercept) / slope) from
      ``standard_curve=(slope, intercept)`` (Ct = intercept + slope * log10(Q), slope
      negative, about -3.32 at 100 % efficiency). With ``curve_quantity="copies"`` Q is
      target copies and cells per reaction = Q / copies_per_cell; with
      ``curve_quantity="pg"`` Q is pg of donor genomic DNA and cells per reaction =
      Q / dna_per_cell_pg (default :data:`DNA_PER_CELL_PG`, the diploid human genome, from
      data/studydata.toml). Cells in the site =
      cells per reaction * dna_mass_ug / dna_per_reaction_ug (``dna_per_reaction_ug``: ug
      of total DNA loaded per reaction). A censored Ct row has its LLOQ (a Ct) converted
      the same way.

    ``tissue_mass_g``, ``fluid_volume_ml`` and ``dna_mass_ug`` are looked up per sample with
    keys ``(GROUP, ID, SITE)``, then ``(ID, SITE)``, then ``SITE``; ``dna_mass_ug`` may also
    be a single number for every sample.

    ``units``: convert only the rows in these units (the others are kept as they are, with
    an empty ``CONVERSION``); default every row.

    Anything needed and not given is refused with one :class:`DataError` listing each missing
    item and the rows that need it. The result has ``DVU = "cells"``; the original values
    are kept in ``DV_ORIG``/``LLOQ_ORIG``/``DVU_ORIG`` and the factor used in ``CONVERSION``.
    ``SD`` (summary data) is scaled by the same factor for linear units; summary data in Ct
    cannot be converted (a mean of Ct is not a mean of cells) and are refused.
    """
    if not isinstance(study, StudyData):
        raise DataError("to_cells needs a StudyData (from read_study)")
    if curve_quantity not in ("copies", "pg"):
        raise DataError(f"curve_quantity must be 'copies' or 'pg', not {curve_quantity!r}")
    if standard_curve is not None:
        try:
            slope, intercept = (float(x) for x in standard_curve)
        except (TypeError, ValueError):
            raise DataError("standard_curve must be (slope, intercept), two numbers") from None
        if not (math.isfinite(slope) and math.isfinite(intercept)) or slope >= 0:
            raise DataError(f"standard curve slope must be negative (Ct falls as copies rise; "
                            f"about -3.32 at 100 % efficiency), got {slope:g}")
    for name, val in (("copies_per_cell", copies_per_cell), ("dna_per_cell_pg", dna_per_cell_pg),
                      ("dna_per_reaction_ug", dna_per_reaction_ug)):
        if val is not None and not (math.isfinite(float(val)) and float(val) > 0):
            raise DataError(f"{name} must be a positive number, got {val!r}")

    frame = study.frame
    missing: dict[str, list[int]] = {}

    def need(what: str, row: int) -> None:
        missing.setdefault(what, []).append(row)

    factors = np.full(len(frame), np.nan)
    notes: list[str] = [""] * len(frame)
    new_dv = frame["DV"].to_numpy(dtype=float).copy()
    new_lloq = frame["LLOQ"].to_numpy(dtype=float).copy()

    for i, r in enumerate(frame.to_dict("records")):
        unit, row = r["DVU"], int(r["ROW"])
        g, ident, site = r["GROUP"], r["ID"], r["SITE"]
        if units is not None and unit not in units:
            factors[i] = 1.0
            continue
        if unit == "cells":
            factors[i], notes[i] = 1.0, "cells"
            continue
        if unit == "photons/s":
            need("a photons/s-per-cell calibration at each site's depth (optical flux cannot be "
                 "converted to cells here; fit it with the bli/fluorescence observation model)", row)
            continue
        if unit in ("cells/g", "cells/mg", "%ID/g"):
            mass = _lookup(tissue_mass_g, g, ident, site)
            if mass is None or not mass > 0:
                need(f"tissue_mass_g for SITE {site!r} (to convert {unit})", row)
                continue
        if unit in ("cells/mL", "cells/uL"):
            vol = _lookup(fluid_volume_ml, g, ident, site)
            if vol is None or not vol > 0:
                need(f"fluid_volume_ml for SITE {site!r} (to convert {unit})", row)
                continue
        if unit in ("%ID", "%ID/g"):
            d = None
            if isinstance(dose, Mapping):
                d = dose.get(g)
            elif dose is not None:
                d = float(dose)
            if d is None and "DOSE" in frame and not math.isnan(r["DOSE"]):
                d = float(r["DOSE"])
            if d is None or not d > 0:
                need(f"the dose in cells for GROUP {g!r} (dose= or a DOSE column; to "
                     f"convert {unit})", row)
                continue
        if unit in ("copies/ug", "Ct"):
            dna = _lookup(dna_mass_ug, g, ident, site)
            if dna is None or not dna > 0:
                need(f"dna_mass_ug (total DNA of the whole site) for SITE {site!r} "
                     f"(to convert {unit})", row)
                continue
            if (unit == "copies/ug" or curve_quantity == "copies") and copies_per_cell is None:
                need(f"copies_per_cell (target copies per donor cell; to convert {unit})", row)
                continue
        if unit == "Ct":
            if study.is_summary:
                need("individual Ct values (summary means of Ct cannot be converted to cells)",
                     row)
                continue
            if standard_curve is None:
                need("standard_curve=(slope, intercept) (to convert Ct)", row)
                continue
            if dna_per_reaction_ug is None:
                need("dna_per_reaction_ug (ug of total DNA per qPCR reaction; to convert Ct)",
                     row)
                continue

        Q = ureg.Quantity
        if unit in ("cells/g", "cells/mg"):
            f = (Q(1.0, PINT_EXPR[unit]) * Q(mass, "gram")).to("cell").magnitude
            notes[i] = f"{unit} x {mass:g} g ({site})"
        elif unit in ("cells/mL", "cells/uL"):
            f = (Q(1.0, PINT_EXPR[unit]) * Q(vol, "milliliter")).to("cell").magnitude
            notes[i] = f"{unit} x {vol:g} mL ({site})"
        elif unit == "%ID":
            f = Q(1.0, "percent").to("dimensionless").magnitude * d
            notes[i] = f"%ID x {d:g} cells / 100"
        elif unit == "%ID/g":
            f = (Q(1.0, "percent / gram") * Q(mass, "gram")).to("dimensionless").magnitude * d
            notes[i] = f"%ID/g x {mass:g} g x {d:g} cells / 100"
        elif unit == "copies/ug":
            f = (Q(1.0, PINT_EXPR[unit]) * Q(dna, "microgram")).to("target_copy").magnitude
            f /= copies_per_cell
            notes[i] = f"copies/ug x {dna:g} ug DNA / {copies_per_cell:g} copies per cell"
        elif unit == "Ct":
            per_cell = copies_per_cell if curve_quantity == "copies" else dna_per_cell_pg
            scale = dna / dna_per_reaction_ug / per_cell  # type: ignore[operator]

            def ct_to_cells(ct: float) -> float:
                return 10.0 ** ((ct - intercept) / slope) * scale

            new_dv[i] = ct_to_cells(new_dv[i]) if not math.isnan(new_dv[i]) else math.nan
            new_lloq[i] = ct_to_cells(new_lloq[i]) if not math.isnan(new_lloq[i]) else math.nan
            notes[i] = (f"10^((Ct - {intercept:g})/{slope:g}) {curve_quantity} per reaction"
                        f" / {per_cell:g} {'copies' if curve_quantity == 'copies' else 'pg'}"
                        f" per cell x {dna:g} ug / {dna_per_reaction_ug:g} ug per reaction")
            factors[i] = math.nan
            continue
        else:  # pragma: no cover - every allowed unit is handled above
            raise AssertionError(unit)
        factors[i] = float(f)
        new_dv[i] *= f
        new_lloq[i] *= f

    if missing:
        lines = []
        for what, rows in missing.items():
            shown = ", ".join(map(str, rows[:8])) + (f" and {len(rows) - 8} more" if len(rows) > 8
                                                     else "")
            lines.append(f"missing {what}: needed by row{'s' if len(rows) > 1 else ''} {shown}")
        raise DataError(f"cannot convert {study.source or 'study data'} to cells:\n  "
                        + "\n  ".join(capped(lines)))

    kept = frame["DVU"] if units is None else frame["DVU"].where(~frame["DVU"].isin(units))
    frame = frame.assign(DV_ORIG=frame["DV"], LLOQ_ORIG=frame["LLOQ"], DVU_ORIG=frame["DVU"],
                         DV=new_dv, LLOQ=new_lloq, DVU="cells" if units is None
                         else kept.fillna("cells"), CONVERSION=notes)
    if "SD" in frame:
        frame["SD"] = frame["SD"].to_numpy(dtype=float) * factors
    return replace(study, frame=frame)
