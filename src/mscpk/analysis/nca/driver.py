"""The NCA driver: checks the data, then analyses each GROUP x SITE (x ASSAY) serially (per
animal) or sparsely (Bailer) and assembles the output table (rules in docs/nca.md)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mscpk.analysis.nca.core import Profile, clean_indices, persistence, profile_parameters, start
from mscpk.analysis.nca.options import NCAOptions
from mscpk.analysis.nca.sparse import sparse_profile
from mscpk.analysis.nca.table import parameter_rows, ratio_rows, to_frame
from mscpk.errors import DataError
from mscpk.inputs.studydata import StudyData, study_from_frame
from mscpk.inputs.studydata.study import capped


def _coerce_sparse(sparse: Any) -> bool | None:
    if isinstance(sparse, (bool, np.bool_)):
        return bool(sparse)
    if isinstance(sparse, str):
        s = sparse.strip().lower()
        if s == "auto":
            return None
        if s in ("yes", "true", "y", "1"):
            return True
        if s in ("no", "false", "n", "0"):
            return False
    raise ValueError(f"sparse must be 'auto', True or False (or 'yes'/'no'), not {sparse!r}")


def _check(study: StudyData, keys: list[str], force: bool | None) -> None:
    """Refuse GROUP x SITE sets with several units or in Ct, and summary data with several
    rows at one time."""
    problems: list[str] = []
    for key, sub in study.frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        units = sorted(sub["DVU"].unique())
        where = ", ".join(f"{k} {v!r}" for k, v in zip(keys, key))
        if len(units) > 1:
            problems.append(f"{where} has several units ({', '.join(units)}); NCA needs one "
                            "unit per GROUP and SITE (convert with to_cells first)")
        elif units[0] == "Ct":
            problems.append(f"{where} is in Ct (cycle threshold, a log scale): convert to "
                            "cells or copies first (to_cells with a standard curve)")
        if study.is_summary and force is not False:
            dup = sub.groupby("TIME").size()
            dup = dup[dup > 1]
            if len(dup):
                problems.append(f"{where}: summary data have several rows at TIME "
                                f"{', '.join(f'{x:g}' for x in dup.index)} (one mean per time "
                                "expected)")
    if problems:
        raise DataError("cannot run NCA on " + (study.source or "the data") + ":\n  "
                        + "\n  ".join(capped(problems)))


def _serial_profile(ident: Any, prof: pd.DataFrame, opts: NCAOptions) -> Profile:
    """NCA of one animal's profile."""
    prof = prof.sort_values("TIME")
    t_all = prof["TIME"].to_numpy(dtype=float)
    conc = np.where(prof["CENS"].to_numpy() == 1, 0.0, prof["DV"].to_numpy(dtype=float))
    idx, c = clean_indices(t_all, np.nan_to_num(conc, nan=0.0), opts)
    t, c, _, aflags = start(t_all[idx], c, opts)
    vals, fit, pflags, xflags = profile_parameters(t, c, opts, method=opts.auc_method)
    vals["PERSIST"], persist_flags = persistence(prof)
    return Profile(str(ident), "serial", vals, len(prof), fit, pflags, xflags, aflags,
                   persist_flags)


def nca(
    data: StudyData | pd.DataFrame,
    *,
    sparse: str | bool = "auto",
    options: NCAOptions | None = None,
) -> pd.DataFrame:
    """Noncompartmental analysis per GROUP x SITE (x ASSAY); the rules are in docs/nca.md.

    ``data``: a :class:`~mscpk.inputs.studydata.StudyData` or a DataFrame in the study-data
    format (validated like a file). ``sparse``: ``"auto"`` (destructive sampling detected),
    True or False. Returns a long table with columns
    :data:`~mscpk.analysis.nca.table.OUTPUT_COLUMNS`. Raises :class:`DataError` for data NCA
    cannot use (several units in one GROUP x SITE, Ct values, several summary rows at one
    time).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"ID": "m1", "TIME": [0, 1, 2, 4, 8], "SITE": "lung",
    ...                    "DV": [0, 100, 80, 40, 10]})
    >>> pp = nca(df)
    >>> pp.set_index("PPTESTCD").loc[["CMAX", "TMAX", "AUCLST"], "PPORRES"].round(2).tolist()
    [100.0, 1.0, 341.61]
    """
    opts = options or NCAOptions()
    force = _coerce_sparse(sparse)
    study = data if isinstance(data, StudyData) else study_from_frame(data)
    df = study.frame
    has_assay = "ASSAY" in df and (df["ASSAY"] != "").any()
    keys = ["GROUP", "SITE"] + (["ASSAY"] if has_assay else [])
    _check(study, keys, force)

    z = float(stats.norm.ppf(0.5 + opts.ci_level / 2.0))
    rows: list[dict[str, Any]] = []
    site_summary: dict[tuple, dict[str, dict[str, Any]]] = {}
    for key, sub in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        group, site = key[0], key[1]
        assay = key[2] if has_assay else ""
        unit = sub["DVU"].iloc[0]
        routes = set(sub["ROUTE"].dropna().unique()) - {""} if "ROUTE" in sub else set()
        is_iv = bool(routes) and routes <= set(opts.iv_routes)
        one_each = bool((sub.groupby("ID", sort=False).size() == 1).all())
        is_sparse = (study.is_summary or one_each) if force is None else force
        if is_sparse:
            profiles = [sparse_profile(sub, is_summary=study.is_summary,
                                       pooled_serial=not one_each, opts=opts)]
            summary = {"AUCLST": profiles[0].vals["AUCLST"], "TLST": profiles[0].vals["TLST"]}
        else:
            profiles = [_serial_profile(ident, prof, opts)
                        for ident, prof in sub.groupby("ID", sort=False)]
            tlsts = [p.vals["TLST"] for p in profiles]
            summary = {"AUCLST": float(np.mean([p.vals["AUCLST"] for p in profiles])),
                       "TLST": float(np.nanmax(tlsts)) if np.any(np.isfinite(tlsts))
                       else math.nan}
        for p in profiles:
            rows += parameter_rows(p, group=group, site=site, assay=assay, unit=unit,
                                   is_iv=is_iv, z=z, opts=opts)
        site_summary.setdefault((group, assay), {})[site] = {**summary, "unit": unit}
    return to_frame(rows + ratio_rows(site_summary))
