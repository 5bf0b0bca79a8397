"""Static plots of a result (matplotlib, Agg): organ time courses and a heat map of the dose."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_path
from .result import Result


def plot_result(result: Result, path: str | Path, *, min_fraction: float = 1e-5) -> Path:
    """Write a figure: left, live (solid) and dead (dashed) cells per site over time on log
    scales; right, a heat map of where the live dose is (% of administered, log colour).
    Sites that never exceed ``min_fraction`` of the dose are left out of the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    t = result.times_h
    dose = max(float(result.administered.max()), 1.0)
    sites = [s for s in result.sites if s != "eliminated"]
    fig, (ax, hm) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1.1, 1]})
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, len(sites)))
    tplot = np.where(t > 0, t, np.nan)
    for c, site in zip(colors, sites):
        live, dead = result.quantity(site, "live_cells"), result.quantity(site, "dead_cells")
        if live.max() > min_fraction * dose:
            ax.plot(tplot, live, color=c, lw=1.8, label=f"{site} live")
        if dead.max() > min_fraction * dose:
            ax.plot(tplot, dead, color=c, lw=1.0, ls="--", label=f"{site} dead")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(max(min_fraction * dose, 1e-1), dose * 2)
    ax.set_xlabel("time after first dose [h]")
    ax.set_ylabel("cells [cell equivalents]")
    ax.set_title(f"{result.scenario_name}: live (solid) and dead (dashed) cells")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    given = np.where(result.administered > 0, result.administered, np.nan)
    mat = np.array([result.quantity(s, "live_cells") / given * 100 for s in sites])
    mat = np.where(mat > 1e-4, mat, np.nan)
    im = hm.imshow(mat, aspect="auto", cmap="viridis", norm=LogNorm(1e-4, 100),
                   extent=(0, len(t), len(sites), 0), interpolation="nearest")
    ticks = np.linspace(0, len(t) - 1, min(8, len(t))).astype(int)
    hm.set_xticks(ticks + 0.5)
    hm.set_xticklabels([f"{t[i]:g}" for i in ticks], fontsize=8)
    hm.set_yticks(np.arange(len(sites)) + 0.5)
    hm.set_yticklabels(sites, fontsize=8)
    hm.set_xlabel("time [h] (output grid)")
    hm.set_title("live cells, % of administered dose")
    fig.colorbar(im, ax=hm, label="% of dose")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
