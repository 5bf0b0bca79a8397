"""The NCA driver: checks the data, then analyses each GROUP x SITE (x ASSAY) serially (per
animal) or sparsely (destructive sampling: the mean profile and Bailer's AUC standard error) and
assembles the output table (rules in docs/nca.md).

>>> auc, se = bailer_auc([0, 1, 2], [0, 10, 4], [0, 2, 1], [3, 3, 3])
>>> auc, round(se, 4)
(12.0, 1.1902)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mscpk.analysis.nca.core import (NCAOptions, Profile, clean_indices, dose_parameters,
                                     persistence, profile_parameters, start)
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
        units = sorted(sub["DVU"].unique())
        where = ", ".join(f"{k} {v!r}" for k, v in zip(keys, key))
        if len(units) > 1:
            problems.append(f"{where} has several units ({', '.join(units)}); NCA needs one "
                            "unit per GROUP and SITE (convert with to_cells first)")
        elif units[0] == "Ct":
            problems.append(f"{where} is in Ct (cycle threshold, a log scale): convert to "
                            "cells first (to_cells with a standard curve; on the command line "
                            "--standard-curve, --copies-per-cell, --dna-per-reaction, --dna-mass)")
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


def bailer_auc(time: np.ndarray, mean: np.ndarray, sd: np.ndarray, n: np.ndarray
               ) -> tuple[float, float]:
    """Bailer's AUC (linear trapezoid on means) and its standard error over all the given
    points (sorted by time)."""
    t = np.asarray(time, dtype=float)
    k = len(t)
    if k < 2:
        return 0.0, 0.0 if k == 1 else math.nan
    padded = np.r_[t[0], t, t[-1]]  # trapezoid weight of point i: (t[i+1] - t[i-1]) / 2
    w = (padded[2:] - padded[:-2]) / 2.0
    auc = float(np.sum(w * mean))
    var = float(np.sum(w ** 2 * np.asarray(sd, float) ** 2 / np.asarray(n, float)))
    return auc, math.sqrt(var) if math.isfinite(var) else math.nan


def sparse_profile(sub: pd.DataFrame, *, is_summary: bool, pooled_serial: bool,
                   opts: NCAOptions) -> Profile:
    """NCA of the mean profile of one GROUP x SITE (x ASSAY); ``pooled_serial``: some
    animals have several samples (flagged ``SERIAL_POOLED``)."""
    obs = sub.assign(_V=np.where(sub["CENS"] == 1, 0.0, sub["DV"].fillna(0.0)))
    g = obs.groupby("TIME", sort=True)
    # summary data: the SD and N given per mean; individual data: those of the animals
    sd = (g["SD"].first() if "SD" in obs else math.nan) if is_summary else g["_V"].std(ddof=1)
    n = g["N"].sum() if is_summary and "N" in obs else g.size()
    tab = pd.DataFrame({"mean": g["_V"].mean(), "sd": sd, "n": n})
    t_all = tab.index.to_numpy(dtype=float)
    idx, c = clean_indices(t_all, tab["mean"].to_numpy(dtype=float), opts)
    sd = tab["sd"].to_numpy(dtype=float)[idx]
    n_t = tab["n"].to_numpy(dtype=float)[idx]
    t, c, added, aflags = start(t_all[idx], c, opts)
    if added:
        sd, n_t = np.r_[0.0, sd], np.r_[1.0, n_t]
    vals, fit, pflags, xflags = profile_parameters(t, c, opts, method="linear")
    dose_parameters(vals, _dose(sub), systemic=False)
    auc_flags: list[str] = []
    if len(t) and np.any(c > 0):
        upto = t <= vals["TLST"]
        auc_b, se = bailer_auc(t[upto], c[upto], sd[upto], n_t[upto])
        assert math.isclose(auc_b, vals["AUCLST"], rel_tol=1e-9, abs_tol=1e-12)
        bad = [f"{x:g}" for x, s, nn in zip(t[upto], sd[upto], n_t[upto])
               if not math.isfinite(s) or nn < 1]
        if bad:
            why = "SD missing" if is_summary else "a single animal"
            auc_flags.append(f"SE_NOT_ESTIMABLE:{why} at TIME {','.join(bad)}")
            se = math.nan
    else:
        se = 0.0 if len(t) else math.nan
    if pooled_serial and not is_summary:
        auc_flags.append("SERIAL_POOLED")
    vals["PERSIST"], persist_flags = persistence(sub)
    return Profile("", "sparse", vals, int(tab["n"].sum()), fit, pflags, xflags, aflags,
                   persist_flags, se=se, auc_flags=auc_flags)


def _dose(rows: pd.DataFrame) -> float:
    """The DOSE of a profile's rows (NaN without one, or with several)."""
    doses = set(rows["DOSE"].dropna()) if "DOSE" in rows else set()
    return float(doses.pop()) if len(doses) == 1 else math.nan


def _serial_profile(ident: Any, prof: pd.DataFrame, opts: NCAOptions, iv_bolus: bool
                    ) -> Profile:
    """NCA of one animal's profile (``iv_bolus``: the IV bolus convention, C0 and CL/V)."""
    prof = prof.sort_values("TIME")
    t_all = prof["TIME"].to_numpy(dtype=float)
    conc = np.where(prof["CENS"].to_numpy() == 1, 0.0, prof["DV"].to_numpy(dtype=float))
    idx, c = clean_indices(t_all, np.nan_to_num(conc, nan=0.0), opts)
    if iv_bolus:
        t, aflags = t_all[idx], []
    else:
        t, c, _, aflags = start(t_all[idx], c, opts)
    vals, fit, pflags, xflags = profile_parameters(t, c, opts, method=opts.auc_method,
                                                   iv_bolus=iv_bolus)
    dose_parameters(vals, _dose(prof), systemic=iv_bolus)
    vals["PERSIST"], persist_flags = persistence(prof)
    return Profile(str(ident), "serial", vals, len(prof), fit, pflags, xflags, aflags,
                   persist_flags)


def record_doses(study: StudyData) -> pd.DataFrame:
    """The observations with ``DOSE`` and ``ROUTE`` from the NONMEM-style dosing records (EVID 1)
    where a row gives none: DOSE = every administration of the row's GROUP x ID (AMT x (ADDL + 1),
    summed: the total dose, as CL = dose / AUC to infinity needs for a linear system), ROUTE = the
    records' route when they have one. IDs without records keep theirs (NaN, "")."""
    df, recs = study.frame, study.dosing
    if len(recs) == 0:
        return df
    key = [recs["GROUP"].astype(str), recs["ID"].astype(str)]
    total = (recs["AMT"] * (recs["ADDL"].fillna(0.0) + 1.0)).groupby(key).sum()
    route = recs["ROUTE"].groupby(key).agg(lambda r: r.iloc[0] if r.nunique() == 1 else "")
    at = pd.MultiIndex.from_arrays([df["GROUP"].astype(str), df["ID"].astype(str)])
    dose = pd.Series(total.reindex(at).to_numpy(dtype=float), index=df.index)
    given = df["DOSE"] if "DOSE" in df else pd.Series(math.nan, index=df.index)
    out = df.assign(DOSE=given.fillna(dose))
    rec_route = pd.Series(route.reindex(at).fillna("").to_numpy(dtype=object), index=df.index)
    own = df["ROUTE"].fillna("").astype(str) if "ROUTE" in df else pd.Series("", index=df.index)
    return out.assign(ROUTE=own.where(own != "", rec_route))


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
    df = record_doses(study)
    has_assay = "ASSAY" in df and (df["ASSAY"] != "").any()
    keys = ["GROUP", "SITE"] + (["ASSAY"] if has_assay else [])
    _check(study, keys, force)

    z = float(stats.norm.ppf(0.5 + opts.ci_level / 2.0))
    rows: list[dict[str, Any]] = []
    site_summary: dict[tuple, dict[str, dict[str, Any]]] = {}
    for key, sub in df.groupby(keys, sort=False):
        group, site = key[0], key[1]
        assay = key[2] if has_assay else ""
        unit = sub["DVU"].iloc[0]
        routes = set(sub["ROUTE"].dropna().unique()) - {""} if "ROUTE" in sub else set()
        is_iv = bool(routes) and routes <= set(opts.iv_routes)
        iv_bolus = is_iv and opts.iv_bolus_c0 and site in opts.c0_sites
        one_each = bool((sub.groupby("ID", sort=False).size() == 1).all())
        is_sparse = (study.is_summary or one_each) if force is None else force
        if is_sparse:
            profiles = [sparse_profile(sub, is_summary=study.is_summary,
                                       pooled_serial=not one_each, opts=opts)]
            summary = {"AUCLST": profiles[0].vals["AUCLST"], "TLST": profiles[0].vals["TLST"]}
        else:
            profiles = [_serial_profile(ident, prof, opts, iv_bolus)
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
