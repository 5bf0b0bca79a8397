"""Fitting named model parameters to study data (maximum likelihood, profile-likelihood CIs).

Layers (PINTS-like; each usable and testable alone):

* :class:`ForwardModel` -- scenario + vector of log-parameters -> predicted cells at the
  data's times and sites. Observation model: rows with ``ASSAY == "qpcr"`` see live + dead
  cells (donor DNA persists in dead material until degraded); any other or missing assay sees
  live cells. A detection-layer hook (each assay's own observation model, sensitivity,
  label loss) can replace :meth:`ForwardModel.observe` later; it is not wired in yet.
* :class:`Problem` -- the data (in absolute cells) together with a forward model.
* :class:`LogLikelihood` -- log-normal error on DV with an estimated log-scale sigma;
  rows below the LLOQ by the censored likelihood (NONMEM M3):
  ``log Phi((log LLOQ - log pred) / sigma)``.
* :func:`optimise` -- multi-start L-BFGS-B on the log-parameters (and log sigma) within
  bounds; starts from the defaults and from a seeded Latin hypercube in log space around
  them (a factor 10 either way, clipped to the bounds); the best is kept.
* :func:`profile_ci` -- profile-likelihood 95 % interval per parameter (threshold
  chi2(1)/2 = 1.92 on the log-likelihood), a coarse expanding step search on each side with
  re-optimisation of the other parameters, then a few bisection steps. A side on which the
  log-likelihood never drops by 1.92 before the search bound is reported as the bound and the
  parameter is flagged ``identifiable: False``.

Search bounds of a parameter: the default value divided / multiplied by
:data:`SEARCH_FACTOR` (1000), intersected with the parameter's allowed range.

Limitations: one scenario for all rows (``GROUP``/``DOSE``/``ROUTE`` columns are not used to
build per-group scenarios, so joint fits of several doses or routes are not supported yet);
data must be individual (not summary) and in absolute ``cells`` (convert with
:func:`mscpk.studydata.to_cells` first).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mscpk.errors import FitError, MscpkError
from mscpk.model.build import scenario_parameters
from mscpk.studydata import StudyData

__all__ = [
    "SEARCH_FACTOR", "PROFILE_THRESHOLD", "ForwardModel", "Problem", "LogLikelihood",
    "FitResult", "fit", "optimise", "profile_ci", "plot_fit",
]

#: search range of each parameter: default / SEARCH_FACTOR .. default * SEARCH_FACTOR
SEARCH_FACTOR = 1000.0
#: drop of the log-likelihood defining the 95 % profile interval: chi2(1, 0.95) / 2
PROFILE_THRESHOLD = float(stats.chi2.ppf(0.95, 1) / 2.0)  # 1.92
#: bounds of the log-scale residual SD sigma
SIGMA_BOUNDS = (0.01, 5.0)
_PRED_FLOOR = 1e-9


# ---------------------------------------------------------------------------------------
# Forward model
# ---------------------------------------------------------------------------------------


class ForwardModel:
    """Scenario + estimated parameter names -> predictions for given log-parameters."""

    def __init__(self, scenario: Any, names: Sequence[str], params: Any = None) -> None:
        self.scenario = scenario
        self.base = params if params is not None else scenario_parameters(scenario)
        known = list(self.base)
        names = list(names)
        if not names:
            raise FitError("no parameters to estimate (use --estimate NAME[,NAME...])")
        if len(set(names)) != len(names):
            raise FitError(f"parameter named twice in the estimate list: {names}")
        for n in names:
            if n not in self.base:
                close = difflib.get_close_matches(n, known, n=3, cutoff=0.5)
                hint = (f"; did you mean {', '.join(repr(c) for c in close)}?" if close
                        else "; `mscpk params` lists the names")
                raise FitError(f"unknown parameter {n!r}{hint}")
        self.names = names
        lo, hi, x0 = [], [], []
        for n in names:
            rec = self.base.record(n)
            v = float(self.base[n])
            if not (v > 0 and math.isfinite(v)):
                raise FitError(f"parameter {n!r} has default {v!r}; only positive parameters "
                               "can be estimated on the log scale")
            a, b = v / SEARCH_FACTOR, v * SEARCH_FACTOR
            if rec.minimum is not None and rec.minimum > 0:
                a = max(a, rec.minimum)
            if rec.maximum is not None and math.isfinite(rec.maximum):
                b = min(b, rec.maximum)
            lo.append(math.log(a))
            hi.append(math.log(b))
            x0.append(math.log(v))
        self.lower = np.array(lo)
        self.upper = np.array(hi)
        self.x0 = np.clip(np.array(x0), self.lower, self.upper)

    @property
    def n_parameters(self) -> int:
        return len(self.names)

    def parameter_set(self, theta_log: Sequence[float]):
        return self.base.updated({n: float(math.exp(t)) for n, t in zip(self.names, theta_log)},
                                 source="fitted")

    def simulate(self, theta_log: Sequence[float], times_h: Sequence[float]):
        import mscpk
        return mscpk.simulate(self.scenario, times_h=list(times_h),
                              params=self.parameter_set(theta_log))

    @staticmethod
    def observe(result: Any, site: str, assay: str) -> np.ndarray:
        """What an assay sees at a site (hook for the detection layer)."""
        live = result.quantity(site, "live_cells")
        if assay == "qpcr":
            return live + result.quantity(site, "dead_cells")
        return live

    def predict(self, theta_log: Sequence[float], times: np.ndarray, sites: Sequence[str],
                assays: Sequence[str]) -> np.ndarray:
        """Predicted observed cells for each (time, site, assay) row."""
        times = np.asarray(times, float)
        utimes = np.unique(times)
        res = self.simulate(theta_log, utimes)
        index = np.searchsorted(utimes, times)
        out = np.empty(len(times))
        sites = np.asarray(sites, object)
        assays = np.asarray(assays, object)
        for key in set(zip(sites.tolist(), assays.tolist())):
            mask = (sites == key[0]) & (assays == key[1])
            out[mask] = self.observe(res, key[0], key[1])[index[mask]]
        return out


# ---------------------------------------------------------------------------------------
# Problem and likelihood
# ---------------------------------------------------------------------------------------


class Problem:
    """Data (absolute cells, individual observations) with a forward model."""

    def __init__(self, model: ForwardModel, data: StudyData | pd.DataFrame) -> None:
        frame = data.frame if isinstance(data, StudyData) else data
        if isinstance(data, StudyData) and data.is_summary:
            raise FitError("fitting summary (mean/SD) data is not supported yet; give "
                           "individual observations")
        if len(frame) == 0:
            raise FitError("no observations to fit")
        if "DVU" in frame.columns:
            bad = sorted(set(frame["DVU"].astype(str)) - {"cells", "", "nan"})
            if bad:
                raise FitError(f"fitting needs absolute cells; the data have unit(s) "
                               f"{', '.join(bad)} (convert with mscpk.studydata.to_cells)")
        self.model = model
        self.frame = frame.reset_index(drop=True)
        self.times = self.frame["TIME"].to_numpy(float)
        self.sites = [str(s) for s in self.frame["SITE"]]
        if "ASSAY" in self.frame.columns:
            self.assays = [str(a).strip().lower() if isinstance(a, str) else ""
                           for a in self.frame["ASSAY"]]
        else:
            self.assays = [""] * len(self.frame)
        cens = (self.frame["CENS"].to_numpy(int) if "CENS" in self.frame.columns
                else np.zeros(len(self.frame), int))
        self.censored = cens == 1
        self.dv = self.frame["DV"].to_numpy(float)
        self.lloq = (self.frame["LLOQ"].to_numpy(float) if "LLOQ" in self.frame.columns
                     else np.full(len(self.frame), np.nan))
        # usability checks
        probe = model.simulate(model.x0, [float(np.min(self.times))])
        unknown = sorted(set(self.sites) - set(probe.sites))
        if unknown:
            raise FitError(f"data site(s) {', '.join(unknown)} not in the model; model sites: "
                           f"{', '.join(probe.sites)}")
        bad_cens = self.censored & ~(self.lloq > 0)
        if bad_cens.any():
            raise FitError(f"{int(bad_cens.sum())} censored row(s) without a positive LLOQ")
        bad_dv = ~self.censored & ~(self.dv > 0)
        if bad_dv.any():
            raise FitError(f"{int(bad_dv.sum())} observed row(s) with DV <= 0 cannot enter a "
                           "log-normal likelihood; report them as censored (CENS=1 with LLOQ)")
        if (~self.censored).sum() == 0:
            raise FitError("all observations are below the LLOQ; nothing to fit")

    @property
    def n_obs(self) -> int:
        return len(self.frame)

    @property
    def n_blq(self) -> int:
        return int(self.censored.sum())

    def predict(self, theta_log: Sequence[float]) -> np.ndarray:
        return self.model.predict(theta_log, self.times, self.sites, self.assays)


class LogLikelihood:
    """log L(theta_log, log_sigma): log-normal errors, M3 for censored rows.

    Called with a vector ``[theta_log..., log_sigma]``.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        p = problem
        self._logdv = np.log(np.where(p.censored, 1.0, p.dv))
        self._loglloq = np.log(np.where(p.censored, p.lloq, 1.0))

    @property
    def n_parameters(self) -> int:
        return self.problem.model.n_parameters + 1

    def from_prediction(self, pred: np.ndarray, log_sigma: float) -> float:
        sigma = math.exp(log_sigma)
        logp = np.log(np.maximum(pred, _PRED_FLOOR))
        c = self.problem.censored
        z = (self._logdv[~c] - logp[~c]) / sigma
        ll = float(np.sum(-0.5 * z * z - math.log(sigma) - 0.5 * math.log(2 * math.pi)
                          - self._logdv[~c]))
        if c.any():
            ll += float(np.sum(stats.norm.logcdf((self._loglloq[c] - logp[c]) / sigma)))
        return ll

    def __call__(self, x: Sequence[float]) -> float:
        x = np.asarray(x, float)
        try:
            pred = self.problem.predict(x[:-1])
        except MscpkError:
            return -np.inf
        ll = self.from_prediction(pred, x[-1])
        return ll if math.isfinite(ll) else -1e300


# ---------------------------------------------------------------------------------------
# Optimisation and profiles
# ---------------------------------------------------------------------------------------


def _bounds(loglik: LogLikelihood) -> tuple[np.ndarray, np.ndarray]:
    m = loglik.problem.model
    lo = np.append(m.lower, math.log(SIGMA_BOUNDS[0]))
    hi = np.append(m.upper, math.log(SIGMA_BOUNDS[1]))
    return lo, hi


def _minimise(fun, x0, lo, hi) -> optimize.OptimizeResult:
    x0 = np.clip(np.asarray(x0, float), lo, hi)
    res = optimize.minimize(fun, x0, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                            options={"maxiter": 200, "eps": 1e-6})
    return res


def optimise(loglik: LogLikelihood, *, n_starts: int = 4, seed: int = 0
             ) -> tuple[np.ndarray, float, bool, list[float]]:
    """Maximise ``loglik``: returns (x_best, logL_best, converged, logL of every start)."""
    if n_starts < 1:
        raise FitError("n_starts must be at least 1")
    lo, hi = _bounds(loglik)
    m = loglik.problem.model
    rng = np.random.default_rng(seed)
    centre = np.append(m.x0, math.log(0.5))
    starts = [centre]
    if n_starts > 1:
        k = n_starts - 1
        # Latin hypercube in log space, +-log(10) around the defaults
        u = (rng.permuted(np.tile(np.arange(k), (len(centre), 1)), axis=1).T
             + rng.random((k, len(centre)))) / k
        span = math.log(10.0)
        for row in u:
            s = centre + (2 * row - 1) * span
            s[-1] = centre[-1]
            starts.append(np.clip(s, lo, hi))

    def neg(x):
        return -loglik(x)

    best = None
    lls = []
    for s in starts:
        res = _minimise(neg, s, lo, hi)
        lls.append(float(-res.fun))
        if best is None or res.fun < best.fun:
            best = res
    return np.asarray(best.x), float(-best.fun), bool(best.success), lls


def _profile_value(loglik, i, value, x_start, lo, hi) -> tuple[float, np.ndarray]:
    """Max of log L with parameter i fixed at ``value`` (others re-optimised)."""
    free = [j for j in range(len(x_start)) if j != i]

    def neg(z):
        x = np.empty(len(x_start))
        x[i] = value
        x[free] = z
        return -loglik(x)

    res = _minimise(neg, x_start[free], lo[free], hi[free])
    x = np.empty(len(x_start))
    x[i] = value
    x[free] = res.x
    return float(-res.fun), x


def profile_ci(loglik: LogLikelihood, x_best: np.ndarray, ll_best: float, i: int,
               *, first_step: float = 0.1, growth: float = 2.0, bisections: int = 3
               ) -> tuple[float, float, bool, bool]:
    """95 % profile interval of log-parameter ``i``.

    Returns ``(low, high, low_at_bound, high_at_bound)`` on the log scale; a side at the
    bound means the profile never dropped by :data:`PROFILE_THRESHOLD` there.
    """
    lo, hi = _bounds(loglik)
    target = ll_best - PROFILE_THRESHOLD
    result = []
    for direction in (-1.0, 1.0):
        limit = lo[i] if direction < 0 else hi[i]
        inner, x_inner = float(x_best[i]), np.array(x_best)
        step = first_step
        found = None
        while True:
            value = inner + direction * step
            at_limit = (value <= limit) if direction < 0 else (value >= limit)
            if at_limit:
                value = limit
            ll, x = _profile_value(loglik, i, value, x_inner, lo, hi)
            if ll < target:
                found = (inner, value)
                break
            if at_limit:
                break
            # the profile may have found a better optimum; keep going from there
            inner, x_inner = value, x
            step *= growth
        if found is None:
            result.append((float(limit), True))
            continue
        a, b = found  # ll(a) >= target > ll(b)
        for _ in range(bisections):
            mid = 0.5 * (a + b)
            ll, x = _profile_value(loglik, i, mid, x_inner, lo, hi)
            if ll >= target:
                a, x_inner = mid, x
            else:
                b = mid
        result.append((0.5 * (a + b), False))
    (low, low_b), (high, high_b) = result
    return low, high, low_b, high_b


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit`.

    ``parameters``: name -> {estimate, ci_low, ci_high, unit, identifiable} (natural scale).
    ``sigma``: residual SD on the log scale. ``objective``: -2 log L at the optimum.
    ``predictions``: the data rows with ``PRED`` (model prediction, cells) and ``LOGRES``
    (log DV - log PRED; NaN for censored rows).
    """

    parameters: dict[str, dict[str, Any]]
    sigma: float
    objective: float
    converged: bool
    n_obs: int
    n_blq: int
    predictions: pd.DataFrame = field(repr=False)
    start_objectives: tuple[float, ...] = ()
    n_starts: int = 1
    seed: int = 0
    scenario: Any = field(default=None, repr=False, compare=False)
    fitted_params: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        pred = self.predictions
        cols = [c for c in ("ID", "TIME", "SITE", "ASSAY", "DV", "CENS", "LLOQ", "PRED",
                            "LOGRES") if c in pred.columns]
        rows = []
        for rec in pred[cols].to_dict("records"):
            rows.append({k: (num(v) if isinstance(v, (float, np.floating)) else
                             int(v) if isinstance(v, (np.integer,)) else v)
                         for k, v in rec.items()})
        return {
            "parameters": {n: {"estimate": num(p["estimate"]), "ci_low": num(p["ci_low"]),
                               "ci_high": num(p["ci_high"]), "unit": p["unit"],
                               "identifiable": bool(p["identifiable"]),
                               "ci_level": 0.95, "ci_method": "profile likelihood"}
                           for n, p in self.parameters.items()},
            "objective": num(self.objective),
            "converged": bool(self.converged),
            "sigma": num(self.sigma),
            "error_model": "log-normal; BLQ censored (M3)",
            "n_obs": int(self.n_obs),
            "n_blq": int(self.n_blq),
            "n_starts": int(self.n_starts),
            "seed": int(self.seed),
            "start_objectives": [num(v) for v in self.start_objectives],
            "predictions": rows,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def fit(scenario: Any, data: StudyData | pd.DataFrame, estimate: Sequence[str], *,
        n_starts: int = 4, seed: int = 0, profile: bool = True) -> FitResult:
    """Estimate the named parameters of ``scenario`` from ``data`` (see the module docstring).

    Raises :class:`FitError` for unknown names, unusable data or a failed optimisation.
    """
    if isinstance(estimate, str):
        estimate = [estimate]
    model = ForwardModel(scenario, estimate)
    problem = Problem(model, data)
    loglik = LogLikelihood(problem)
    x_best, ll_best, converged, lls = optimise(loglik, n_starts=n_starts, seed=seed)
    if not math.isfinite(ll_best) or ll_best < -1e299:
        raise FitError("the optimisation found no finite likelihood")
    params: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(model.names):
        if profile:
            low, high, lb, hb = profile_ci(loglik, x_best, ll_best, i)
            ci_low, ci_high, ident = math.exp(low), math.exp(high), not (lb or hb)
        else:
            ci_low = ci_high = float("nan")
            ident = True
        params[name] = {"estimate": math.exp(x_best[i]), "ci_low": ci_low,
                        "ci_high": ci_high, "unit": model.base.record(name).unit,
                        "identifiable": ident}
    pred = problem.predict(x_best[:-1])
    frame = problem.frame.copy()
    frame["PRED"] = pred
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["LOGRES"] = np.where(problem.censored, np.nan,
                                   np.log(problem.dv) - np.log(np.maximum(pred, _PRED_FLOOR)))
    return FitResult(parameters=params, sigma=math.exp(x_best[-1]), objective=-2 * ll_best,
                     converged=converged, n_obs=problem.n_obs, n_blq=problem.n_blq,
                     predictions=frame, start_objectives=tuple(-2 * v for v in lls),
                     n_starts=n_starts, seed=seed, scenario=scenario,
                     fitted_params=model.parameter_set(x_best[:-1]))


def plot_fit(result: FitResult, path: str | Path) -> Path:
    """Diagnostic figure: observed vs predicted, log residuals vs time, fitted curves over
    the data per site (curves need ``result.scenario``; BLQ rows drawn at the LLOQ as open
    triangles)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    import mscpk

    path = Path(path)
    pred = result.predictions
    keys = sorted(set(zip(pred["SITE"], pred["ASSAY"] if "ASSAY" in pred else [""] * len(pred))))
    n_panels = 2 + len(keys)
    ncol = min(3, n_panels)
    nrow = math.ceil(n_panels / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.5 * ncol, 3.6 * nrow), squeeze=False)
    axes = axes.ravel()
    cens = pred["CENS"].to_numpy(int) == 1 if "CENS" in pred else np.zeros(len(pred), bool)
    ax = axes[0]
    ax.loglog(pred["PRED"][~cens], pred["DV"][~cens], "o", ms=4, label="observed")
    if cens.any():
        ax.loglog(pred["PRED"][cens], pred["LLOQ"][cens], "v", mfc="none", ms=5, label="BLQ (LLOQ)")
    vals = pd.concat([pred["PRED"], pred["DV"].dropna()])
    vals = vals[vals > 0]
    if len(vals):
        lim = [vals.min() / 2, vals.max() * 2]
        ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("predicted [cells]")
    ax.set_ylabel("observed [cells]")
    ax.set_title("observed vs predicted")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(pred["TIME"][~cens], pred["LOGRES"][~cens], "o", ms=4)
    ax.axhline(0, color="k", lw=0.8)
    for s in (-2, 2):
        ax.axhline(s * result.sigma, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("log(DV) - log(PRED)")
    ax.set_title("residuals vs time")
    curve = None
    if result.scenario is not None and result.fitted_params is not None:
        tmax = float(pred["TIME"].max())
        grid = np.unique(np.concatenate([np.linspace(0, tmax * 1.05, 120), pred["TIME"]]))
        curve = mscpk.simulate(result.scenario, times_h=list(grid), params=result.fitted_params)
    for k, (site, assay) in enumerate(keys):
        ax = axes[2 + k]
        sub = pred[(pred["SITE"] == site) & ((pred["ASSAY"] if "ASSAY" in pred else "") == assay)]
        sc = sub["CENS"].to_numpy(int) == 1 if "CENS" in sub else np.zeros(len(sub), bool)
        ax.semilogy(sub["TIME"][~sc], sub["DV"][~sc], "o", ms=4, label="observed")
        if sc.any():
            ax.semilogy(sub["TIME"][sc], sub["LLOQ"][sc], "v", mfc="none", ms=5, label="BLQ")
        if curve is not None:
            y = ForwardModel.observe(curve, site, assay)
            ax.semilogy(curve.times_h, np.maximum(y, _PRED_FLOOR), "-", lw=1.2, label="fit")
            pos = sub["DV"].dropna()
            lowest = min([v for v in [pos.min() if len(pos) else None,
                                      sub["LLOQ"].min() if "LLOQ" in sub else None]
                          if v is not None and v > 0] or [1.0])
            ax.set_ylim(bottom=lowest / 10)
        ax.set_title(f"{site}" + (f" [{assay}]" if assay else ""))
        ax.set_xlabel("time [h]")
        ax.set_ylabel("cells")
        ax.legend(fontsize=7)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
