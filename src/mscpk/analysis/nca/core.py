"""NCA rule settings (:class:`NCAOptions`; numeric defaults from data/nca.toml) and the NCA
of one concentration-time profile: BLQ rules, AUC/AUMC, lambda_z and the parameters derived
from them (rules in docs/nca.md).

>>> NCAOptions(auc_method="Linear", blq_last="0.5").blq_last
0.5
>>> t, c = clean_blq([0, 1, 2, 4, 8], [0, 10, 0, 5, 0])
>>> t.tolist(), c.tolist()
([0.0, 1.0, 4.0, 8.0], [0.0, 10.0, 5.0, 0.0])
"""

from __future__ import annotations

import contextlib
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

AUC_METHODS = ("linear", "lin up/log down", "log")
_AUC_ALIASES = {
    "linear": "linear", "lin": "linear", "linuplogdown": "lin up/log down",
    "linearuplogdown": "lin up/log down", "log": "log", "logarithmic": "log",
}
_DEFAULTS = {k: v["value"] for k, v in tomllib.loads(
    resources.files("mscpk.data").joinpath("nca.toml").read_text("utf-8"))["options"].items()}


def _blq_rule(name: str, value: Any, allowed: tuple[str, ...]) -> str | float:
    if isinstance(value, str):
        v = value.strip().lower().replace("-", "_").replace(" ", "_")
        if v in allowed:
            return v
        with contextlib.suppress(ValueError):  # not a number: refused below
            value = float(v)
    if isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value >= 0:
        return float(value)
    raise ValueError(f"{name} must be one of {', '.join(allowed)} or a number >= 0, "
                     f"not {value!r}")


@dataclass(frozen=True)
class NCAOptions:
    """All NCA rule settings (see docs/nca.md). Invalid settings raise ValueError."""

    auc_method: str = "lin up/log down"
    min_hl_points: int = _DEFAULTS["min_hl_points"]
    allow_tmax_in_half_life: bool = False
    adj_r2_factor: float = _DEFAULTS["adj_r2_factor"]
    first_tmax: bool = True
    blq_first: str | float = "keep"
    blq_middle: str | float = "drop"
    blq_last: str | float = "keep_first"
    assume_zero_at_time0: bool = False
    ci_level: float = _DEFAULTS["ci_level"]
    r2adj_min: float = _DEFAULTS["r2adj_min"]
    span_ratio_min: float = _DEFAULTS["span_ratio_min"]
    max_extrap_pct: float = _DEFAULTS["max_extrap_pct"]
    iv_routes: tuple[str, ...] = ("iv", "intravenous")
    iv_bolus_c0: bool = True
    c0_sites: tuple[str, ...] = ("blood",)

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
        for position, allowed in (("first", ("keep", "drop")), ("middle", ("keep", "drop")),
                                  ("last", ("keep", "drop", "keep_first"))):
            name = f"blq_{position}"
            object.__setattr__(self, name, _blq_rule(name, getattr(self, name), allowed))
        if not (0 < self.ci_level < 1):
            raise ValueError(f"ci_level must be between 0 and 1, not {self.ci_level!r}")
        for name in ("r2adj_min", "span_ratio_min", "max_extrap_pct"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        object.__setattr__(self, "iv_routes", tuple(r.lower() for r in self.iv_routes))
        object.__setattr__(self, "c0_sites", tuple(s.lower() for s in self.c0_sites))


#: Codes of the terminal (lambda_z) fit and of the parameters extrapolated with it.
LAMZ_CODES = ("LAMZ", "LAMZHL", "LAMZNPT", "R2", "R2ADJ", "LAMZLL", "LAMZUL", "LAMZSPN")
EXTRAP_CODES = ("CLSTP", "AUCIFO", "AUCIFP", "AUCPEO", "AUCPEP", "AUMCIFO", "MRTEVIFO",
                "MRTIVIFO")
#: Codes added with a DOSE: per-dose exposures (any profile), clearance and volumes (IV bolus
#: blood profiles, where the whole dose enters the sampled circulation).
DOSE_CODES = ("CMAXD", "AUCLSTD", "AUCIFOD")
SYSTEMIC_CODES = ("CLO", "VZO", "VSSO")


def back_extrapolate(t: np.ndarray, c: np.ndarray) -> tuple[float, str]:
    """C0 of an IV bolus profile and the rule used, in PKNCA's order (``pk.calc.c0``): the
    value at time 0 when it is > 0 (``c0``); else log-linear back-extrapolation from the first
    two samples after time 0 when they fall and the second is > 0 (``logslope``); else the
    first sample after time 0 (``c1``)."""
    if t[0] == 0 and c[0] > 0:
        return float(c[0]), "c0"
    after = np.flatnonzero(t > 0)
    if len(after) >= 2:
        (t1, t2), (c1, c2) = t[after[:2]], c[after[:2]]
        if 0 < c2 < c1:
            return float(c1 * math.exp(math.log(c1 / c2) / (t2 - t1) * t1)), "logslope"
    return (float(c[after[0]]), "c1") if len(after) else (math.nan, "none")


def dose_parameters(v: dict[str, float], dose: float, systemic: bool) -> None:
    """Add the per-dose exposures (and with ``systemic`` CLO, VZO, VSSO) to ``v``."""
    if not (dose > 0 and math.isfinite(dose)):
        return
    v.update(CMAXD=v["CMAX"] / dose, AUCLSTD=v["AUCLST"] / dose, AUCIFOD=v["AUCIFO"] / dose)
    if systemic:
        clo = dose / v["AUCIFO"] if v["AUCIFO"] > 0 else math.nan
        v.update(CLO=clo, VZO=clo / v["LAMZ"], VSSO=clo * v["MRTIVIFO"])


def clean_blq(time: Any, conc: Any, options: NCAOptions | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Apply the BLQ position rules of ``options`` to one profile (``conc`` with BLQ as 0,
    ``time`` sorted ascending). Returns the kept times and their (possibly replaced)
    concentrations."""
    t = np.asarray(time, dtype=float)
    idx, c = clean_indices(t, np.asarray(conc, dtype=float), options or NCAOptions())
    return t[idx], c


def clean_indices(time: np.ndarray, conc: np.ndarray, opts: NCAOptions
                  ) -> tuple[np.ndarray, np.ndarray]:
    """BLQ position rules. ``time`` sorted; ``conc`` >= 0 with BLQ as 0.
    Returns (kept indices, cleaned concentrations at those indices)."""
    conc = conc.astype(float).copy()
    blq = conc == 0
    measured = time[~blq]
    # with no measurable value every BLQ counts as "first"
    tfirst, tlast = (measured[0], measured[-1]) if len(measured) else (np.inf, np.inf)
    keep = np.ones(len(conc), dtype=bool)
    for mask, rule in ((blq & (time <= tfirst), opts.blq_first),
                       (blq & (time > tfirst) & (time < tlast), opts.blq_middle),
                       (blq & (time >= tlast), opts.blq_last)):
        if rule == "drop":
            keep &= ~mask
        elif rule == "keep_first":
            keep[np.flatnonzero(mask)[1:]] = False
        elif rule != "keep":
            conc[mask] = float(rule)
    idx = np.flatnonzero(keep)
    return idx, conc[idx]


def start(t: np.ndarray, c: np.ndarray, opts: NCAOptions
          ) -> tuple[np.ndarray, np.ndarray, bool, list[str]]:
    """The profile with a 0 at time 0 added when ``assume_zero_at_time0`` and it starts
    later; returns (t, c, whether added, ``["NO_TIME0"]`` if it still starts later)."""
    added = bool(opts.assume_zero_at_time0 and len(t) and t[0] > 0)
    if added:
        t, c = np.r_[0.0, t], np.r_[0.0, c]
    return t, c, added, (["NO_TIME0"] if len(t) and t[0] > 0 else [])


def persistence(obs: pd.DataFrame) -> tuple[float, list[str]]:
    """Last time with an observation above the LLOQ (NaN if none) and
    ``["PERSIST_AT_LAST_SAMPLE"]`` when that is the last sampling time of ``obs``."""
    meas = obs[(obs["CENS"] == 0) & (obs["DV"] > 0)]
    value = float(meas["TIME"].max()) if len(meas) else math.nan
    return value, (["PERSIST_AT_LAST_SAMPLE"] if value == float(obs["TIME"].max()) else [])


def interval_areas(t: np.ndarray, c: np.ndarray, method: str
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
class LambdaFit:
    """A log-linear terminal fit (``reason`` says why there is none when ``lamz`` is NaN)."""

    lamz: float = math.nan
    intercept: float = math.nan
    r2: float = math.nan
    adj_r2: float = math.nan
    n: int = 0
    times: tuple[float, ...] = ()
    reason: str = ""


@dataclass
class Profile:
    """NCA of one profile, ready for the output table: parameter values, the lambda_z fit
    and the flags of the profile, of the fit, of areas, of PERSIST and (sparse) of the AUC."""

    ident: str
    method: str
    vals: dict[str, float]
    n_obs: int
    fit: LambdaFit | None
    pflags: list[str]
    xflags: list[str]
    area_flags: list[str]
    persist_flags: list[str]
    se: float = math.nan
    auc_flags: list[str] = field(default_factory=list)


def fit_lambda_z(t: np.ndarray, c: np.ndarray, tmax: float, opts: NCAOptions) -> LambdaFit:
    """PKNCA-style automatic terminal-slope selection (see docs/nca.md)."""
    sel = (c > 0) & ((t >= tmax) if opts.allow_tmax_in_half_life else (t > tmax))
    tt, yy = t[sel], np.log(c[sel])
    m = len(tt)
    if m < opts.min_hl_points:
        where = "from Tmax on" if opts.allow_tmax_in_half_life else "after Tmax"
        return LambdaFit(reason=f"{m} positive points {where} (need {opts.min_hl_points})")
    fits = []
    for n in range(opts.min_hl_points, m + 1):
        x, y = tt[m - n:], yy[m - n:]
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (intercept + slope * x)
        sst = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid ** 2)) / sst if sst > 0 else math.nan
        adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2) if not math.isnan(r2) else math.nan
        fits.append(LambdaFit(lamz=-float(slope), intercept=float(intercept), r2=r2,
                              adj_r2=adj, n=n, times=tuple(float(v) for v in x)))
    adjs = [f.adj_r2 for f in fits if not math.isnan(f.adj_r2)]
    if not adjs:
        return LambdaFit(reason="no fit with a defined R^2 (constant terminal values)")
    best = max(adjs)
    ok = [f for f in fits if f.lamz > 0 and not math.isnan(f.adj_r2)
          and f.adj_r2 >= best - opts.adj_r2_factor]
    if not ok:
        return LambdaFit(reason="no terminal fit with a decreasing slope")
    return max(ok, key=lambda f: f.n)


def profile_parameters(t: np.ndarray, c: np.ndarray, opts: NCAOptions, *, method: str,
                       iv_bolus: bool = False
                       ) -> tuple[dict[str, float], LambdaFit | None, list[str], list[str]]:
    """NCA of one cleaned profile (t sorted, c >= 0). Returns (values, lambda fit, profile
    flags, lambda/extrapolation flags). ``iv_bolus``: add C0 (:func:`back_extrapolate`) at
    time 0 (replacing a measured pre-dose 0 there) and start the areas from it; Cmax, Tmax and
    lambda_z stay on the samples; the area before the first sample is AUCPBEO (% of AUCIFO)
    and the rule ``IV_BOLUS_C0:<rule>`` is the first profile flag."""
    v: dict[str, float] = {}
    pflags: list[str] = []
    xflags: list[str] = []
    if len(t) == 0 or not np.any(c > 0):
        pflags.append("ALL_BLQ")
        zero = 0.0 if len(t) else math.nan
        v.update(CMAX=zero, TMAX=math.nan, CLST=math.nan, TLST=math.nan, AUCLST=zero,
                 AUCALL=zero, AUMCLST=zero)
        v.update(dict.fromkeys(LAMZ_CODES + EXTRAP_CODES + ("MRTEVLST", "MRTIVLST"), math.nan))
        xflags.append("NO_LAMZ:all values BLQ")
        return v, None, pflags, xflags
    cmax = float(c.max())
    imax = np.flatnonzero(c == cmax)
    tmax = float(t[imax[0] if opts.first_tmax else imax[-1]])
    ta, ca = t, c  # the points of the areas
    if iv_bolus:
        c0, rule = back_extrapolate(t, c)
        pflags.append(f"IV_BOLUS_C0:{rule}")
        v["C0"] = c0
        ta, ca = (np.r_[0.0, t[1:]], np.r_[c0, c[1:]]) if t[0] == 0 else (np.r_[0.0, t],
                                                                          np.r_[c0, c])
    ipos = np.flatnonzero(ca > 0)
    ilast = int(ipos[-1])
    tlast, clast = float(ta[ilast]), float(ca[ilast])
    auc_i, aumc_i = interval_areas(ta[: ilast + 1], ca[: ilast + 1], method)
    auclast = float(auc_i.sum())
    aumclast = float(aumc_i.sum())
    v.update(CMAX=cmax, TMAX=tmax, CLST=clast, TLST=tlast, AUCLST=auclast, AUMCLST=aumclast,
             AUCALL=float(interval_areas(ta, ca, method)[0].sum()))
    v["MRTEVLST"] = aumclast / auclast if auclast > 0 else math.nan
    v["MRTIVLST"] = v["MRTEVLST"]

    fit = fit_lambda_z(t, c, tmax, opts)
    if math.isnan(fit.lamz):
        xflags.append(f"NO_LAMZ:{fit.reason}")
        v.update(dict.fromkeys(LAMZ_CODES + EXTRAP_CODES, math.nan))
        if iv_bolus:
            v["AUCPBEO"] = math.nan
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
    if iv_bolus:
        v["AUCPBEO"] = 100.0 * float(auc_i[0]) / aucifo if aucifo > 0 else math.nan
    if fit.adj_r2 < opts.r2adj_min:
        xflags.append("LOW_R2ADJ")
    if span < opts.span_ratio_min:
        xflags.append("SHORT_SPAN")
    return v, fit, pflags, xflags
