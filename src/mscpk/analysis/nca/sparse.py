"""Sparse (destructive-sampling) NCA: the mean profile and Bailer's AUC standard error
(method in docs/nca.md).

>>> auc, se = bailer_auc([0, 1, 2], [0, 10, 4], [0, 2, 1], [3, 3, 3])
>>> auc, round(se, 4)
(12.0, 1.1902)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mscpk.analysis.nca.core import Profile, clean_indices, persistence, profile_parameters, start
from mscpk.analysis.nca.options import NCAOptions


def bailer_auc(time: np.ndarray, mean: np.ndarray, sd: np.ndarray, n: np.ndarray
               ) -> tuple[float, float]:
    """Bailer's AUC (linear trapezoid on means) and its standard error over all the given
    points (sorted by time)."""
    t = np.asarray(time, dtype=float)
    k = len(t)
    if k < 2:
        return 0.0, 0.0 if k == 1 else math.nan
    w = np.empty(k)
    w[0] = (t[1] - t[0]) / 2.0
    w[-1] = (t[-1] - t[-2]) / 2.0
    if k > 2:
        w[1:-1] = (t[2:] - t[:-2]) / 2.0
    auc = float(np.sum(w * mean))
    var = float(np.sum(w ** 2 * np.asarray(sd, float) ** 2 / np.asarray(n, float)))
    return auc, math.sqrt(var) if math.isfinite(var) else math.nan


def sparse_profile(sub: pd.DataFrame, *, is_summary: bool, pooled_serial: bool,
                   opts: NCAOptions) -> Profile:
    """NCA of the mean profile of one GROUP x SITE (x ASSAY); ``pooled_serial``: some
    animals have several samples (flagged ``SERIAL_POOLED``)."""
    obs = sub.assign(_V=np.where(sub["CENS"] == 1, 0.0, sub["DV"].fillna(0.0)))
    if is_summary:
        g = obs.groupby("TIME", sort=True)
        tab = pd.DataFrame({
            "mean": g["_V"].mean(),
            "sd": g["SD"].first() if "SD" in obs else math.nan,
            "n": g["N"].sum() if "N" in obs else g.size(),
        })
    else:
        gv = obs.groupby("TIME", sort=True)["_V"]
        tab = pd.DataFrame({"mean": gv.mean(), "sd": gv.std(ddof=1), "n": gv.size()})
    t_all = tab.index.to_numpy(dtype=float)
    idx, c = clean_indices(t_all, tab["mean"].to_numpy(dtype=float), opts)
    sd = tab["sd"].to_numpy(dtype=float)[idx]
    n_t = tab["n"].to_numpy(dtype=float)[idx]
    t, c, added, aflags = start(t_all[idx], c, opts)
    if added:
        sd, n_t = np.r_[0.0, sd], np.r_[1.0, n_t]
    vals, fit, pflags, xflags = profile_parameters(t, c, opts, method="linear")
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
