"""Noncompartmental analysis (NCA) of cell biodistribution data.

:func:`nca` computes, per ``GROUP`` x ``SITE`` (x ``ASSAY`` when the data have one), the usual
NCA parameters with CDISC ``PPTESTCD`` codes, following the conventions of the R package
PKNCA unless stated otherwise. Time is in hours (the study-data convention).

Conventions (all settable in :class:`NCAOptions`)
-------------------------------------------------
* BLQ: censored observations (``CENS = 1``) and measured zeros count as BLQ = 0
  concentration. As in PKNCA's ``clean.conc.blq`` the rule depends on the position:
  ``first`` (up to the first measurable value; all values when none is measurable),
  ``middle`` (between the first and the last measurable value) and ``last`` (after the
  last measurable value). Each rule is ``"keep"`` (kept as 0), ``"drop"``, or a number
  (the value used instead); ``last`` also accepts ``"keep_first"``: the first trailing BLQ
  is kept as 0 and later ones dropped. Defaults: first ``keep``, middle ``drop``, last
  ``keep_first`` (for AUC to Tlast and lambda_z identical to PKNCA's default, which keeps
  all trailing zeros).
* AUC: ``"lin up/log down"`` (default; log trapezoid where the concentration falls and both
  ends are > 0, linear otherwise), ``"linear"``, or ``"log"`` (log trapezoid wherever both
  ends are > 0 and differ). AUMC uses the same rule per interval. AUC starts at the first
  sample: no value at time 0 is invented unless ``assume_zero_at_time0`` (a profile that
  starts later is flagged ``NO_TIME0``).
* lambda_z: log-linear least squares over the last n >= ``min_hl_points`` (3) positive
  points after Tmax (Tmax included only with ``allow_tmax_in_half_life``); among the fits
  with lambda_z > 0 and adjusted R^2 within ``adj_r2_factor`` (1e-4) of the best adjusted
  R^2 of all fits, the one with most points is chosen (PKNCA ``pk.calc.half.life``;
  "within" includes the boundary, so ``adj_r2_factor=0`` selects the best fit, where
  PKNCA's strict comparison would select none).
* AUCALL: AUC over all points left by the BLQ rules (trailing BLQ kept as 0 included);
  AUCLST stops at Tlast.
* Tmax: the first time of the maximum (``first_tmax``).
* MRT: MRTEVLST = AUMCLST / AUCLST ("extravascular" form: cells are not a drug in
  plasma, so no compartment is assumed). MRTIVLST (= the same for a bolus; the study-data
  format has no infusion duration, so administration is taken as a bolus) is added when
  the ROUTE of the profile is intravenous (``iv_routes``).

Flags (column ``FLAGS``, ``;``-separated): ``LOW_R2ADJ`` (adjusted R^2 < ``r2adj_min``,
0.9), ``SHORT_SPAN`` (span ratio < ``span_ratio_min``, 2), ``HIGH_EXTRAP`` (AUCPEO >
``max_extrap_pct``, 20 %), ``NO_LAMZ:<reason>``, ``NO_TIME0``, ``ALL_BLQ``,
``PERSIST_AT_LAST_SAMPLE`` (still above LLOQ at the last sample: true persistence is
longer), and for sparse designs ``SE_NOT_ESTIMABLE:<reason>`` and ``SERIAL_POOLED``
(sparse analysis forced on data with several samples per animal: Bailer's variance then
ignores the within-animal correlation). Ratios may carry ``TLST_DIFFERS``,
``MIXED_UNITS`` or ``ZERO_DENOMINATOR``.

Serial vs sparse
----------------
``sparse="auto"``: a GROUP x SITE is sparse (destructive sampling) when every ID in it has a
single observation; otherwise serial. Summary data (``N``/``SD`` columns) are always sparse
means unless ``sparse=False``. Serial: NCA per animal (column ``ID``). Sparse: Bailer's
method (Bailer 1988; Nedelman & Jia 1998): BLQ values of individual animals count as 0, the
per-time means, SDs and Ns are formed, the BLQ position rules act on the mean profile
(a mean of 0 is BLQ), and AUCLST = sum_i w_i * mean_i by the linear trapezoidal rule with
w_0 = (t_1 - t_0)/2, w_i = (t_{i+1} - t_{i-1})/2, w_k = (t_k - t_{k-1})/2 over the points up
to Tlast; Var(AUCLST) = sum_i w_i^2 s_i^2 / n_i, SE = sqrt(Var), CI = AUCLST +/- z SE with
z the normal quantile for ``ci_level``. All other parameters come from the mean profile
(with linear AUC/AUMC for consistency).

Cell-therapy parameters (codes specific to mscpk)
-------------------------------------------------
* ``EXPOSURE``: AUCLST / 24, the exposure in cell-days when DV is in cells (unit ``cells*d``;
  generally DV unit x d).
* ``PERSIST``: the last sampling time with at least one observation above the LLOQ (not
  censored and > 0), in h.
* ``TBRATIO`` (when the group has a ``blood`` site): AUCLST(site) / AUCLST(blood).
* ``TGTEFF`` (groups with >= 2 sites): targeting efficiency AUCLST(site) / sum of
  AUCLST over all sites of the group (needs one unit for all sites, else NaN with
  ``MIXED_UNITS``).
  For both, the AUCLST of a site is the pooled (sparse) AUCLST or the arithmetic mean of
  the animals' AUCLST (serial). AUCs to different Tlast are flagged ``TLST_DIFFERS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mscpk.errors import DataError
from mscpk.inputs.studydata import StudyData, study_from_frame, unit_ratio

__all__ = ["NCAOptions", "nca", "clean_blq", "bailer_auc", "OUTPUT_COLUMNS", "PPTEST_NAMES",
           "AUC_METHODS"]

#: Output columns, in order (the first five are fixed by the interface).
OUTPUT_COLUMNS = (
    "GROUP", "SITE", "PPTESTCD", "PPORRES", "PPORRESU",
    "ID", "ASSAY", "METHOD", "N", "SE", "CI_LOW", "CI_HIGH", "POINTS_USED", "FLAGS", "PPTEST",
)

AUC_METHODS = ("linear", "lin up/log down", "log")
_AUC_ALIASES = {
    "linear": "linear", "lin": "linear", "linuplogdown": "lin up/log down",
    "linearuplogdown": "lin up/log down", "log": "log", "logarithmic": "log",
}

PPTEST_NAMES: dict[str, str] = {
    "CMAX": "Max Conc",
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
    "EXPOSURE": "Cell exposure, AUCLST in days (mscpk)",
    "PERSIST": "Persistence, last time above LLOQ (mscpk)",
    "TBRATIO": "Tissue-to-blood AUCLST ratio (mscpk)",
    "TGTEFF": "Targeting efficiency, share of summed AUCLST (mscpk)",
}

_LAMZ_CODES = ("LAMZ", "LAMZHL", "LAMZNPT", "R2", "R2ADJ", "LAMZLL", "LAMZUL", "LAMZSPN")
_AREA_CODES = ("AUCLST", "AUCALL", "AUMCLST", "AUCIFO", "AUCIFP", "AUCPEO", "AUCPEP",
               "AUMCIFO", "MRTEVLST", "MRTEVIFO", "MRTIVLST", "MRTIVIFO", "EXPOSURE")
_EXTRAP_CODES = ("CLSTP", "AUCIFO", "AUCIFP", "AUCPEO", "AUCPEP", "AUMCIFO", "MRTEVIFO",
                 "MRTIVIFO")


def _blq_rule(name: str, value: Any, allowed: tuple[str, ...]) -> str | float:
    if isinstance(value, str):
        v = value.strip().lower().replace("-", "_").replace(" ", "_")
        if v in allowed:
            return v
        try:
            value = float(v)
        except ValueError:
            raise ValueError(f"{name} must be one of {', '.join(allowed)} or a number >= 0, "
                             f"not {value!r}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError(f"{name} must be one of {', '.join(allowed)} or a number >= 0, "
                     f"not {value!r}")


@dataclass(frozen=True)
class NCAOptions:
    """All NCA rule settings (see the module docstring). Invalid settings raise ValueError."""

    auc_method: str = "lin up/log down"
    min_hl_points: int = 3
    allow_tmax_in_half_life: bool = False
    adj_r2_factor: float = 1e-4
    first_tmax: bool = True
    blq_first: str | float = "keep"
    blq_middle: str | float = "drop"
    blq_last: str | float = "keep_first"
    assume_zero_at_time0: bool = False
    ci_level: float = 0.95
    r2adj_min: float = 0.9
    span_ratio_min: float = 2.0
    max_extrap_pct: float = 20.0
    iv_routes: tuple[str, ...] = ("iv", "intravenous")

    def __post_init__(self) -> None:
        key = "".join(ch for ch in str(self.auc_method).lower() if ch.isalnum())
        if key not in _AUC_ALIASES:
            raise ValueError(f"auc_method must be one of {', '.join(AUC_METHODS)}, "
                             f"not {self.auc_method!r}")
        object.__setattr__(self, "auc_method", _AUC_ALIASES[key])
        if not isinstance(self.min_hl_points, (int, np.integer)) or self.min_hl_points < 3:
            raise ValueError(f"min_hl_points must be a whole number >= 3, not "
                             f"{self.min_hl_points!r}")
        if not (math.isfinite(self.adj_r2_factor) and self.adj_r2_factor >= 0):
            raise ValueError(f"adj_r2_factor must be >= 0, not {self.adj_r2_factor!r}")
        object.__setattr__(self, "blq_first", _blq_rule("blq_first", self.blq_first,
                                                        ("keep", "drop")))
        object.__setattr__(self, "blq_middle", _blq_rule("blq_middle", self.blq_middle,
                                                         ("keep", "drop")))
        object.__setattr__(self, "blq_last", _blq_rule("blq_last", self.blq_last,
                                                       ("keep", "drop", "keep_first")))
        if not (0 < self.ci_level < 1):
            raise ValueError(f"ci_level must be between 0 and 1, not {self.ci_level!r}")
        for name in ("r2adj_min", "span_ratio_min", "max_extrap_pct"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        object.__setattr__(self, "iv_routes", tuple(r.lower() for r in self.iv_routes))


# ---------------------------------------------------------------------------------------
# Core calculations on one concentration-time profile
# ---------------------------------------------------------------------------------------


def clean_blq(time: Any, conc: Any, options: NCAOptions | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Apply the BLQ position rules of ``options`` to one profile (``conc`` with BLQ as 0,
    ``time`` sorted ascending). Returns the kept times and their (possibly replaced)
    concentrations."""
    t = np.asarray(time, dtype=float)
    idx, c = _clean_blq(t, np.asarray(conc, dtype=float), options or NCAOptions())
    return t[idx], c


def _clean_blq(time: np.ndarray, conc: np.ndarray, opts: NCAOptions
               ) -> tuple[np.ndarray, np.ndarray]:
    """BLQ position rules. ``time`` sorted; ``conc`` >= 0 with BLQ as 0.
    Returns (kept indices, cleaned concentrations at those indices)."""
    conc = conc.astype(float).copy()
    blq = conc == 0
    pos = ~blq
    keep = np.ones(len(conc), dtype=bool)
    if not pos.any():
        masks = {"first": blq.copy(), "middle": np.zeros_like(blq), "last": np.zeros_like(blq)}
    else:
        tfirst = time[pos][0]
        tlast = time[pos][-1]
        masks = {
            "first": blq & (time <= tfirst),
            "middle": blq & (time > tfirst) & (time < tlast),
            "last": blq & (time >= tlast),
        }
    for position, rule in (("first", opts.blq_first), ("middle", opts.blq_middle),
                           ("last", opts.blq_last)):
        mask = masks[position]
        if rule == "keep":
            continue
        if rule == "drop":
            keep &= ~mask
        elif rule == "keep_first":
            idx = np.flatnonzero(mask)
            keep[idx[1:]] = False
        else:
            conc[mask] = float(rule)
    idx = np.flatnonzero(keep)
    return idx, conc[idx]


def _interval_areas(t: np.ndarray, c: np.ndarray, method: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """AUC and AUMC of each interval [t_i, t_{i+1}]."""
    t1, t2, c1, c2 = t[:-1], t[1:], c[:-1], c[1:]
    dt = t2 - t1
    auc = dt * (c1 + c2) / 2.0
    aumc = dt * (c1 * t1 + c2 * t2) / 2.0
    if method == "linear":
        use_log = np.zeros(len(dt), dtype=bool)
    elif method == "lin up/log down":
        use_log = (c1 > 0) & (c2 > 0) & (c2 < c1)
    else:  # "log"
        use_log = (c1 > 0) & (c2 > 0) & (c2 != c1)
    if use_log.any():
        a, b, d = c1[use_log], c2[use_log], dt[use_log]
        ta, tb = t1[use_log], t2[use_log]
        lr = np.log(a / b)
        auc[use_log] = d * (a - b) / lr
        aumc[use_log] = d * (a * ta - b * tb) / lr + d * d * (a - b) / (lr * lr)
    return auc, aumc


@dataclass
class _LambdaFit:
    lamz: float = math.nan
    intercept: float = math.nan
    r2: float = math.nan
    adj_r2: float = math.nan
    n: int = 0
    times: tuple[float, ...] = ()
    reason: str = ""


def _fit_lambda_z(t: np.ndarray, c: np.ndarray, tmax: float, opts: NCAOptions) -> _LambdaFit:
    """PKNCA-style automatic terminal-slope selection (see module docstring)."""
    sel = (c > 0) & ((t >= tmax) if opts.allow_tmax_in_half_life else (t > tmax))
    tt, yy = t[sel], np.log(c[sel])
    m = len(tt)
    if m < opts.min_hl_points:
        where = "from Tmax on" if opts.allow_tmax_in_half_life else "after Tmax"
        return _LambdaFit(reason=f"{m} positive points {where} (need {opts.min_hl_points})")
    fits = []
    for n in range(opts.min_hl_points, m + 1):
        x, y = tt[m - n:], yy[m - n:]
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (intercept + slope * x)
        sst = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid ** 2)) / sst if sst > 0 else math.nan
        adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2) if not math.isnan(r2) else math.nan
        fits.append(_LambdaFit(lamz=-float(slope), intercept=float(intercept), r2=r2,
                               adj_r2=adj, n=n, times=tuple(float(v) for v in x)))
    adjs = [f.adj_r2 for f in fits if not math.isnan(f.adj_r2)]
    if not adjs:
        return _LambdaFit(reason="no fit with a defined R^2 (constant terminal values)")
    best = max(adjs)
    ok = [f for f in fits if f.lamz > 0 and not math.isnan(f.adj_r2)
          and f.adj_r2 >= best - opts.adj_r2_factor]
    if not ok:
        return _LambdaFit(reason="no terminal fit with a decreasing slope")
    return max(ok, key=lambda f: f.n)


def _profile_parameters(t: np.ndarray, c: np.ndarray, opts: NCAOptions, *, method: str
                        ) -> tuple[dict[str, float], _LambdaFit | None, list[str], list[str]]:
    """NCA of one cleaned profile (t sorted, c >= 0). Returns (values, lambda fit, profile
    flags, lambda/extrapolation flags)."""
    v: dict[str, float] = {}
    pflags: list[str] = []
    xflags: list[str] = []
    if len(t) == 0 or not np.any(c > 0):
        pflags.append("ALL_BLQ")
        v.update(CMAX=0.0 if len(t) else math.nan, TMAX=math.nan, CLST=math.nan,
                 TLST=math.nan, AUCLST=0.0 if len(t) else math.nan,
                 AUCALL=0.0 if len(t) else math.nan,
                 AUMCLST=0.0 if len(t) else math.nan)
        for code in _LAMZ_CODES + _EXTRAP_CODES + ("MRTEVLST", "MRTIVLST"):
            v[code] = math.nan
        xflags.append("NO_LAMZ:all values BLQ")
        return v, None, pflags, xflags
    cmax = float(c.max())
    imax = np.flatnonzero(c == cmax)
    tmax = float(t[imax[0] if opts.first_tmax else imax[-1]])
    ipos = np.flatnonzero(c > 0)
    ilast = int(ipos[-1])
    tlast, clast = float(t[ilast]), float(c[ilast])
    auc_i, aumc_i = _interval_areas(t[: ilast + 1], c[: ilast + 1], method)
    auclast = float(auc_i.sum())
    aumclast = float(aumc_i.sum())
    v.update(CMAX=cmax, TMAX=tmax, CLST=clast, TLST=tlast, AUCLST=auclast, AUMCLST=aumclast,
             AUCALL=float(_interval_areas(t, c, method)[0].sum()))
    v["MRTEVLST"] = aumclast / auclast if auclast > 0 else math.nan
    v["MRTIVLST"] = v["MRTEVLST"]

    fit = _fit_lambda_z(t, c, tmax, opts)
    if math.isnan(fit.lamz):
        xflags.append(f"NO_LAMZ:{fit.reason}")
        for code in _LAMZ_CODES + _EXTRAP_CODES:
            v[code] = math.nan
        return v, None, pflags, xflags
    lz = fit.lamz
    hl = math.log(2.0) / lz
    span = (max(fit.times) - min(fit.times)) / hl
    clstp = math.exp(fit.intercept - lz * tlast)
    aucifo = auclast + clast / lz
    aucifp = auclast + clstp / lz
    aumcifo = aumclast + clast * tlast / lz + clast / lz ** 2
    v.update(LAMZ=lz, LAMZHL=hl, LAMZNPT=float(fit.n), R2=fit.r2, R2ADJ=fit.adj_r2,
             LAMZLL=min(fit.times), LAMZUL=max(fit.times), LAMZSPN=span, CLSTP=clstp,
             AUCIFO=aucifo, AUCIFP=aucifp,
             AUCPEO=100.0 * (aucifo - auclast) / aucifo if aucifo > 0 else math.nan,
             AUCPEP=100.0 * (aucifp - auclast) / aucifp if aucifp > 0 else math.nan,
             AUMCIFO=aumcifo, MRTEVIFO=aumcifo / aucifo if aucifo > 0 else math.nan)
    v["MRTIVIFO"] = v["MRTEVIFO"]
    if fit.adj_r2 < opts.r2adj_min:
        xflags.append("LOW_R2ADJ")
    if span < opts.span_ratio_min:
        xflags.append("SHORT_SPAN")
    return v, fit, pflags, xflags


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


# ---------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------


def _unit_times(unit: str, tunit: str, power: int = 1) -> str:
    tpart = tunit if power == 1 else f"{tunit}^{power}"
    if not unit:
        return tpart
    return f"{tpart}*{unit}" if "/" in unit else f"{unit}*{tpart}"


def _units_for(unit: str) -> dict[str, str]:
    auc = _unit_times(unit, "h")
    u = {code: "h" for code in ("TMAX", "TLST", "LAMZHL", "LAMZLL", "LAMZUL", "MRTEVLST",
                                "MRTEVIFO", "MRTIVLST", "MRTIVIFO", "PERSIST")}
    u.update(CMAX=unit, CLST=unit, CLSTP=unit, AUCLST=auc, AUCALL=auc, AUCIFO=auc,
             AUCIFP=auc,
             AUMCLST=_unit_times(unit, "h", 2), AUMCIFO=_unit_times(unit, "h", 2),
             LAMZ="1/h", LAMZNPT="", R2="", R2ADJ="", LAMZSPN="", AUCPEO="%", AUCPEP="%",
             EXPOSURE=_unit_times(unit, "d"))
    return u


_ORDER = ("CMAX", "TMAX", "CLST", "TLST", "AUCLST", "AUCALL", "AUMCLST", "LAMZ", "LAMZHL",
          "LAMZNPT", "R2", "R2ADJ", "LAMZLL", "LAMZUL", "LAMZSPN", "CLSTP", "AUCIFO", "AUCIFP", "AUCPEO",
          "AUCPEP", "AUMCIFO", "MRTEVLST", "MRTEVIFO", "MRTIVLST", "MRTIVIFO", "EXPOSURE",
          "PERSIST")


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


def _fmt_times(times: tuple[float, ...] | list[float]) -> str:
    return ";".join(f"{x:g}" for x in times)


def nca(
    data: StudyData | pd.DataFrame,
    *,
    sparse: str | bool = "auto",
    options: NCAOptions | None = None,
) -> pd.DataFrame:
    """Noncompartmental analysis per GROUP x SITE (x ASSAY); see the module docstring.

    ``data``: a :class:`~mscpk.inputs.studydata.StudyData` or a DataFrame in the study-data format
    (validated like a file). Returns a long table with columns :data:`OUTPUT_COLUMNS`.
    Raises :class:`DataError` for data NCA cannot use (several units in one GROUP x SITE,
    Ct values, several summary rows at one time).
    """
    opts = options or NCAOptions()
    force = _coerce_sparse(sparse)
    study = data if isinstance(data, StudyData) else study_from_frame(data)
    df = study.frame
    has_assay = "ASSAY" in df and (df["ASSAY"] != "").any()
    keys = ["GROUP", "SITE"] + (["ASSAY"] if has_assay else [])

    problems: list[str] = []
    for key, sub in df.groupby(keys, sort=False):
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
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20
                                 else [])
        raise DataError("cannot run NCA on " + (study.source or "the data") + ":\n  "
                        + "\n  ".join(shown))

    z = float(stats.norm.ppf(0.5 + opts.ci_level / 2.0))
    rows: list[dict[str, Any]] = []
    site_summary: dict[tuple, dict[str, dict[str, Any]]] = {}

    for key, sub in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        group, site = key[0], key[1]
        assay = key[2] if has_assay else ""
        unit = sub["DVU"].iloc[0]
        units = _units_for(unit)
        routes = set(sub["ROUTE"].dropna().unique()) - {""} if "ROUTE" in sub else set()
        is_iv = bool(routes) and routes <= set(opts.iv_routes)
        per_id = sub.groupby("ID", sort=False).size()
        if force is None:
            is_sparse = study.is_summary or bool((per_id == 1).all())
        else:
            is_sparse = force

        def emit(ident: str, method: str, vals: dict[str, float], n_obs: int,
                 fit: _LambdaFit | None, pflags: list[str], xflags: list[str],
                 se: float = math.nan, extra_auc_flags: list[str] | None = None,
                 area_flags: list[str] | None = None) -> None:
            for code in _ORDER:
                if code == "EXPOSURE":
                    val = vals["AUCLST"] / 24.0
                elif code == "PERSIST":
                    val = vals["PERSIST"]
                else:
                    val = vals.get(code, math.nan)
                if code in ("MRTIVLST", "MRTIVIFO") and not is_iv:
                    continue
                flags = list(pflags)
                if code in _LAMZ_CODES or code in _EXTRAP_CODES:
                    flags += xflags
                if code in _AREA_CODES:
                    flags += area_flags or []
                if code in ("AUCIFO", "AUCPEO", "AUMCIFO", "MRTEVIFO", "MRTIVIFO") and \
                        vals.get("AUCPEO", math.nan) > opts.max_extrap_pct:
                    flags.append("HIGH_EXTRAP")
                if code in ("AUCIFP", "AUCPEP") and \
                        vals.get("AUCPEP", math.nan) > opts.max_extrap_pct:
                    flags.append("HIGH_EXTRAP")
                if code == "PERSIST":
                    flags += vals.get("_persist_flags", [])
                row = {
                    "GROUP": group, "SITE": site, "PPTESTCD": code, "PPORRES": val,
                    "PPORRESU": units[code], "ID": ident, "ASSAY": assay, "METHOD": method,
                    "N": n_obs, "SE": math.nan, "CI_LOW": math.nan, "CI_HIGH": math.nan,
                    "POINTS_USED": "", "FLAGS": "", "PPTEST": PPTEST_NAMES[code],
                }
                if method == "sparse" and code in ("AUCLST", "EXPOSURE"):
                    scale = 1.0 if code == "AUCLST" else 1.0 / 24.0
                    row["SE"] = se * scale
                    row["CI_LOW"] = (vals["AUCLST"] - z * se) * scale
                    row["CI_HIGH"] = (vals["AUCLST"] + z * se) * scale
                    flags += extra_auc_flags or []
                if code in _LAMZ_CODES and fit is not None:
                    row["POINTS_USED"] = _fmt_times(fit.times)
                row["FLAGS"] = ";".join(dict.fromkeys(flags))
                rows.append(row)

        last_sample = float(sub["TIME"].max())
        measurable = sub[(sub["CENS"] == 0) & (sub["DV"] > 0)]
        if is_sparse:
            obs = sub.assign(_V=np.where(sub["CENS"] == 1, 0.0, sub["DV"].fillna(0.0)))
            if study.is_summary:
                g = obs.groupby("TIME", sort=True)
                tab = pd.DataFrame({
                    "mean": g["_V"].mean(),
                    "sd": g["SD"].first() if "SD" in obs else math.nan,
                    "n": g["N"].sum() if "N" in obs else g.size(),
                })
            else:
                g = obs.groupby("TIME", sort=True)["_V"]
                tab = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.size()})
            t_all = tab.index.to_numpy(dtype=float)
            idx, c_clean = _clean_blq(t_all, tab["mean"].to_numpy(dtype=float), opts)
            t, c = t_all[idx], c_clean
            sd = tab["sd"].to_numpy(dtype=float)[idx]
            n_t = tab["n"].to_numpy(dtype=float)[idx]
            pflags: list[str] = []
            aflags: list[str] = []
            if opts.assume_zero_at_time0 and len(t) and t[0] > 0:
                t, c = np.r_[0.0, t], np.r_[0.0, c]
                sd, n_t = np.r_[0.0, sd], np.r_[1.0, n_t]
            if len(t) and t[0] > 0:
                aflags.append("NO_TIME0")
            vals, fit, pf, xflags = _profile_parameters(t, c, opts, method="linear")
            pflags += pf
            auc_flags: list[str] = []
            if len(t) and np.any(c > 0):
                upto = t <= vals["TLST"]
                auc_b, se = bailer_auc(t[upto], c[upto], sd[upto], n_t[upto])
                assert math.isclose(auc_b, vals["AUCLST"], rel_tol=1e-9, abs_tol=1e-12)
                bad = [f"{x:g}" for x, s, nn in zip(t[upto], sd[upto], n_t[upto])
                       if not math.isfinite(s) or nn < 1]
                if bad:
                    why = "SD missing" if study.is_summary else "a single animal"
                    auc_flags.append(f"SE_NOT_ESTIMABLE:{why} at TIME {','.join(bad)}")
                    se = math.nan
            else:
                se = 0.0 if len(t) else math.nan
            if not bool((per_id == 1).all()) and not study.is_summary:
                auc_flags.append("SERIAL_POOLED")
            vals["PERSIST"] = float(measurable["TIME"].max()) if len(measurable) else math.nan
            vals["_persist_flags"] = (["PERSIST_AT_LAST_SAMPLE"]
                                      if vals["PERSIST"] == last_sample else [])
            n_obs = int(tab["n"].sum())
            emit("", "sparse", vals, n_obs, fit, pflags, xflags, se=se,
                 extra_auc_flags=auc_flags, area_flags=aflags)
            site_summary.setdefault((group, assay), {})[site] = {
                "AUCLST": vals["AUCLST"], "TLST": vals["TLST"], "unit": unit}
        else:
            aucs, tlsts = [], []
            for ident, prof in sub.groupby("ID", sort=False):
                prof = prof.sort_values("TIME")
                t_all = prof["TIME"].to_numpy(dtype=float)
                conc = np.where(prof["CENS"].to_numpy() == 1, 0.0,
                                prof["DV"].to_numpy(dtype=float))
                conc = np.nan_to_num(conc, nan=0.0)
                idx, c = _clean_blq(t_all, conc, opts)
                t = t_all[idx]
                pflags = []
                aflags = []
                if opts.assume_zero_at_time0 and len(t) and t[0] > 0:
                    t, c = np.r_[0.0, t], np.r_[0.0, c]
                if len(t) and t[0] > 0:
                    aflags.append("NO_TIME0")
                vals, fit, pf, xflags = _profile_parameters(t, c, opts, method=opts.auc_method)
                pflags += pf
                meas = prof[(prof["CENS"] == 0) & (prof["DV"] > 0)]
                vals["PERSIST"] = float(meas["TIME"].max()) if len(meas) else math.nan
                vals["_persist_flags"] = (["PERSIST_AT_LAST_SAMPLE"]
                                          if vals["PERSIST"] == float(prof["TIME"].max())
                                          else [])
                emit(str(ident), "serial", vals, len(prof), fit, pflags, xflags,
                     area_flags=aflags)
                aucs.append(vals["AUCLST"])
                tlsts.append(vals["TLST"])
            site_summary.setdefault((group, assay), {})[site] = {
                "AUCLST": float(np.mean(aucs)),
                "TLST": float(np.nanmax(tlsts)) if np.any(np.isfinite(tlsts)) else math.nan,
                "unit": unit}

    # cross-site figures
    for (group, assay), sites in site_summary.items():
        base = {"GROUP": group, "ID": "", "ASSAY": assay, "METHOD": "ratio", "N": pd.NA,
                "SE": math.nan, "CI_LOW": math.nan, "CI_HIGH": math.nan, "POINTS_USED": ""}
        if "blood" in sites:
            b = sites["blood"]
            for site, s in sites.items():
                if site == "blood":
                    continue
                flags = []
                if b["AUCLST"] > 0:
                    val = s["AUCLST"] / b["AUCLST"]
                else:
                    val = math.nan
                    flags.append("ZERO_DENOMINATOR")
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

    out = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    out["PPORRES"] = out["PPORRES"].astype(float)
    out["N"] = out["N"].astype("Int64")
    for col in ("SE", "CI_LOW", "CI_HIGH"):
        out[col] = out[col].astype(float)
    return out
