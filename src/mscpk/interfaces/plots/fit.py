"""Diagnostic figure of a fit (matplotlib, Agg): observed vs predicted, residuals vs time,
fitted curves over the data per group, site and assay."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mscpk.analysis.fitting.forward import PRED_FLOOR, ForwardModel, JointModel
from mscpk.analysis.fitting.run import FitResult
from mscpk.errors import MscpkError
from mscpk.utils import atomic_path

_MAX_CURVE_PANELS = 24
#: one colour per kind of mark, the same in every panel
COLOURS = {"observed": "tab:blue", "blq": "tab:grey", "fit": "tab:red"}


def _observed_vs_predicted(ax, pred: pd.DataFrame, unit: pd.Series, cens: np.ndarray) -> None:
    for u in sorted(set(unit)):
        um = (unit == u).to_numpy()
        ax.loglog(pred["PRED"][~cens & um], pred["DV"][~cens & um], "o", ms=4,
                  label=f"observed [{u}]")
    if cens.any():
        ax.loglog(pred["PRED"][cens], pred["LLOQ"][cens], "v", mfc="none", ms=5,
                  color=COLOURS["blq"], label="BLQ (LLOQ)")
    vals = pd.concat([pred["PRED"], pred["DV"]])
    vals = vals[vals > 0]
    if len(vals):
        lim = [vals.min() / 2, vals.max() * 2]
        ax.plot(lim, lim, "k--", lw=0.8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("observed")
    ax.set_title("observed vs predicted")
    ax.legend(fontsize=7)


def _residuals(ax, pred: pd.DataFrame, cens: np.ndarray, sigma: float) -> None:
    ax.plot(pred["TIME"][~cens], pred["LOGRES"][~cens], "o", ms=4, color=COLOURS["observed"])
    ax.axhline(0, color="k", lw=0.8)
    for s in (-2, 2):
        ax.axhline(s * sigma, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("log(DV) - log(PRED)")
    ax.set_title("residuals vs time")


def _curve(ax, result: FitResult, group: str, site: str, assay: str, grid: np.ndarray,
           sub: pd.DataFrame) -> None:
    """The fitted curve of one (group, site, assay), when the result holds its model."""
    model = result.model
    fm = (model.models.get(group) if isinstance(model, JointModel)
          else model if isinstance(model, ForwardModel) else None)
    if fm is None or not result.theta_log:
        return
    try:
        s_list, arr = fm.signals(result.theta_log, grid, [assay])[assay]
        y = arr[:, s_list.index(site)]
        ax.semilogy(grid, np.maximum(y, PRED_FLOOR), "-", lw=1.2, color=COLOURS["fit"],
                    label="fit")
    except (MscpkError, ValueError):
        pass
    lows = [sub[c].min() for c in ("DV", "LLOQ") if c in sub]  # NaN: no value in the column
    ax.set_ylim(bottom=min([v for v in lows if v > 0] or [1.0]) / 10)


def _observed(ax, sub: pd.DataFrame, cens: np.ndarray) -> None:
    """The data of one curve panel: quantified rows (summary means with +/- SD bars), BLQ
    rows at the LLOQ as open triangles."""
    q = sub[~cens]
    sd = q["SD"].to_numpy(float) if "SD" in q else np.full(len(q), np.nan)
    has = np.isfinite(sd) & (sd > 0)
    ax.semilogy(q["TIME"][~has], q["DV"][~has], "o", ms=4, color=COLOURS["observed"],
                label="observed")
    if has.any():
        dv = q["DV"].to_numpy(float)[has]
        low = np.minimum(sd[has], dv * (1 - 1e-3))  # a log axis cannot show mean - SD <= 0
        ax.errorbar(q["TIME"].to_numpy(float)[has], dv, yerr=[low, sd[has]], fmt="s", ms=4,
                    color=COLOURS["observed"], capsize=2, label="mean +/- SD")
    if cens.any():
        ax.semilogy(sub["TIME"][cens], sub["LLOQ"][cens], "v", mfc="none", ms=5,
                    color=COLOURS["blq"], label="BLQ")


def fit_figure(result: FitResult):
    """The diagnostic figure of :func:`plot_fit` (a matplotlib Figure)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pred = result.predictions
    grp = pred.get("FITGROUP", pd.Series("*", index=pred.index))
    assay = pred.get("ASSAY", pd.Series("", index=pred.index)).fillna("").astype(str)
    unit = pred.get("UNIT", pd.Series("cells", index=pred.index))
    keys = sorted(set(zip(grp, pred["SITE"], assay)))[:_MAX_CURVE_PANELS]
    n_panels = 2 + len(keys)
    ncol = min(3, n_panels)
    nrow = math.ceil(n_panels / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.5 * ncol, 3.6 * nrow), squeeze=False)
    axes = axes.ravel()
    cens = pred.get("CENS", pd.Series(0, index=pred.index)).to_numpy(int) == 1
    _observed_vs_predicted(axes[0], pred, unit, cens)
    _residuals(axes[1], pred, cens, result.sigma)
    tmax = float(pred["TIME"].max())
    grid = np.unique(np.concatenate([np.linspace(0, tmax * 1.05, 120), pred["TIME"]]))
    for k, (g, site, a) in enumerate(keys):
        ax = axes[2 + k]
        sel = ((grp == g) & (pred["SITE"] == site) & (assay == a)).to_numpy()
        sub = pred[sel]
        sc = cens[sel]
        _observed(ax, sub, sc)
        _curve(ax, result, g, site, a, grid, sub)
        title = f"{site}" + (f" [{a}]" if a else "")
        if g not in ("*", "all") and len(set(grp)) > 1:
            title = f"{g}: {title}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time [h]")
        ax.set_ylabel(str(unit[sel].iloc[0]))
        ax.legend(fontsize=7)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_fit(result: FitResult, path: str | Path) -> Path:
    """Diagnostic figure: observed vs predicted, log residuals vs time, fitted curves over
    the data per group, site and assay (curves need ``result.model``; summary means with
    +/- SD bars; BLQ rows drawn at the LLOQ as open triangles; at most 24 curve panels; the
    same colour for each kind of mark in every panel)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fig = fit_figure(result)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
