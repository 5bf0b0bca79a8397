"""Figures of a design search: the objective against the first constraint's metric (Pareto)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_pareto(res, path, suffix: str) -> None:
    """Every evaluated design (feasible filled, infeasible open), the non-dominated front
    (highest objective for a given constraint metric) and the best design."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    h = res.history
    fig, ax = plt.subplots(figsize=(6, 4.5))
    y = h[res.maximize].to_numpy(dtype=float)
    if res.constraints:
        metric = next(iter(res.constraints))
        x = h[metric].to_numpy(dtype=float)
        order = np.argsort(x)
        front = np.maximum.accumulate(y[order])
        ax.step(x[order], front, where="post", color="k", lw=1, label="front (best objective at or below x)")
        ax.set_xlabel(metric)
    else:
        x = np.arange(len(h))
        ax.set_xlabel("evaluation")
    feas = h["feasible"].to_numpy(dtype=bool)
    ax.scatter(x[feas], y[feas], s=14, label="feasible")
    ax.scatter(x[~feas], y[~feas], s=14, facecolors="none", edgecolors="C3", label="infeasible")
    bx = res.constraints[next(iter(res.constraints))] if res.constraints else x[int(np.argmax(y))]
    ax.scatter([bx], [res.objective], marker="*", s=160, color="gold", edgecolors="k", zorder=3, label="best")
    ax.set(ylabel=res.maximize, yscale="log" if (y > 0).all() else "linear",
           title="best design: " + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                             for k, v in res.best.items()))
    ax.title.set_fontsize(8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=110, format=suffix.lstrip(".").lower())
    plt.close(fig)


def plot_effect(df, spec, path, suffix: str) -> None:
    """Driver (left axis, log) and effect (right axis) over time."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    keep = df.driver > 0
    ax.plot(df.time_h[keep], df.driver[keep], color="C0")
    ax.set(xlabel="time [h]", ylabel=f"driver: {spec.driver} ({spec.site})", yscale="log")
    ax2 = ax.twinx()
    ax2.plot(df.time_h, df.effect, color="C3")
    ax2.set_ylabel(f"effect [{spec.unit}]", color="C3")
    ax.set_title(f"{spec.model} effect model", fontsize=9)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=110, format=suffix.lstrip(".").lower())
    plt.close(fig)


__all__ = ["plot_pareto", "plot_effect"]
