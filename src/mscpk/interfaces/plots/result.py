"""Static plots of a result (matplotlib, Agg): organ time courses and a heat map of the dose."""

from __future__ import annotations

import io

import textwrap
from pathlib import Path

import numpy as np

from mscpk.engine.result import Result

#: Colour range of the heat map and body maps [% of the administered dose]; values below the
#: range are drawn in :data:`BELOW_COLOUR` (labelled), cells before the first dose stay white.
PERCENT_RANGE = (1e-4, 100.0)
BELOW_COLOUR = "0.72"
#: Characters per line of the figure title (the scenario name) before it wraps.
TITLE_WIDTH = 110


#: Schematic position (x, y) of each site on the body map (head up, unit-free).
BODY_POSITIONS = {
    "brain": (0.0, 0.93), "csf": (0.09, 0.86), "airway": (-0.06, 0.76), "lung": (0.0, 0.68),
    "heart": (0.07, 0.6), "blood": (-0.2, 0.7), "liver": (-0.1, 0.5), "spleen": (0.14, 0.5),
    "kidney": (0.1, 0.41), "gut": (0.0, 0.33), "peritoneum": (-0.1, 0.26), "adipose": (0.16, 0.28),
    "rest": (-0.17, 0.4), "skin": (-0.24, 0.56), "injection_site": (0.22, 0.6),
    "bone_marrow": (-0.08, 0.05), "muscle": (0.1, 0.1), "joint": (0.09, -0.05),
}


def _draw_body(ax, values: dict[str, float], norm, cmap, title: str) -> None:
    from matplotlib.patches import Circle, FancyBboxPatch

    ax.add_patch(Circle((0, 0.93), 0.08, fc="0.93", ec="0.6"))
    ax.add_patch(FancyBboxPatch((-0.27, 0.2), 0.54, 0.62, boxstyle="round,pad=0.02", fc="0.93", ec="0.6"))
    for x in (-0.14, 0.05):
        ax.add_patch(FancyBboxPatch((x, -0.12), 0.09, 0.3, boxstyle="round,pad=0.02", fc="0.93", ec="0.6"))
    for site, (x, y) in BODY_POSITIONS.items():
        if site not in values:
            continue
        v = values[site]  # below the colour range: the smallest circle in the "below" colour
        size = 0.015 + 0.012 * np.log10(max(v, norm.vmin) / norm.vmin)
        ax.add_patch(Circle((x, y), size, fc=cmap(norm(v)) if v > norm.vmin else BELOW_COLOUR, ec="k", lw=0.4))
        ax.text(x, y - 0.045, site, ha="center", va="top", fontsize=6)
    ax.set_xlim(-0.35, 0.35)
    ax.set_ylim(-0.16, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def save_figure(fig, path: str | Path, suffix: str) -> None:
    """Save ``fig`` to ``path`` in the format named by ``suffix`` (".png", ".pdf", ".svg")."""
    fig.savefig(path, dpi=110, format=suffix.lstrip(".") or "png")


def figure_bytes(fig, suffix: str = ".png") -> bytes:
    """``fig`` saved as :func:`save_figure` does, as bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    save_figure(fig, buf, suffix)
    plt.close(fig)
    return buf.getvalue()


def result_figure(result: Result, *, min_fraction: float = 1e-5,
                  body_times_h: tuple[float, ...] = (1.0, 24.0, 168.0)):
    """The figure of a result: top left, live (solid) and dead (dashed) cells per site over time on
    log scales; top right, a heat map of where the live dose is (% of administered, log
    colour; below 1e-4 % in a labelled grey, white before the first dose); bottom, body maps of
    live cells (% of dose) at ``body_times_h`` and at the end. Sites that never exceed
    ``min_fraction`` of the dose are left out of the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    t = result.times_h
    dose = max(float(result.administered.max()), 1.0)
    sites = [s for s in result.sites if s != "eliminated"]
    body_t = [x for x in body_times_h if t[0] < x < t[-1]] + [float(t[-1])]
    fig = plt.figure(figsize=(14, 10.5))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.25, 1])
    top = grid[0].subgridspec(1, 2, width_ratios=[1.1, 1])
    ax, hm = fig.add_subplot(top[0]), fig.add_subplot(top[1])
    bottom = grid[1].subgridspec(1, len(body_t))
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
    fig.suptitle("\n".join(textwrap.wrap(result.scenario_name, TITLE_WIDTH)), fontsize=12)
    ax.set_title("live (solid) and dead (dashed) cells")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    given = np.where(result.administered > 0, result.administered, np.nan)  # NaN before the first dose
    mat = np.array([result.quantity(s, "live_cells") / given * 100 for s in sites])
    # below the range (zero included): the "below" colour, not the blank of missing data
    mat = np.where(np.isnan(mat), np.nan, np.maximum(mat, PERCENT_RANGE[0] / 10))
    edges = np.concatenate([[t[0]], (t[1:] + t[:-1]) / 2, [t[-1]]])
    cmap, norm = plt.get_cmap("viridis").with_extremes(under=BELOW_COLOUR, bad="white"), LogNorm(*PERCENT_RANGE)
    im = hm.pcolormesh(edges, np.arange(len(sites) + 1), mat, cmap=cmap, norm=norm, shading="flat")
    hm.set_xscale("symlog", linthresh=1.0)
    hm.set_xlim(edges[0], edges[-1])
    hm.set_ylim(len(sites), 0)
    hm.set_yticks(np.arange(len(sites)) + 0.5)
    hm.set_yticklabels(sites, fontsize=8)
    hm.set_xlabel("time after first dose [h] (linear below 1 h, log above)")
    hm.set_title("live cells, % of administered dose")
    bar = fig.colorbar(im, ax=hm, label="% of dose", extend="min")
    bar.ax.text(0.5, -0.03, "below\n" + f"{PERCENT_RANGE[0]:.0e} %".replace("e-0", "e-"), transform=bar.ax.transAxes,
                ha="center", va="top", fontsize=7)
    for k, tb in enumerate(body_t):
        i = int(np.searchsorted(t, tb, side="right") - 1)
        given = result.administered[i]
        vals = {s: float(result.quantity(s, "live_cells")[i] / given * 100) for s in sites} if given > 0 else {}
        _draw_body(fig.add_subplot(bottom[k]), vals, norm, cmap, f"live cells at {t[i]:g} h (% of dose)")
    fig.tight_layout()
    return fig


__all__ = ["result_figure", "save_figure", "BODY_POSITIONS", "PERCENT_RANGE", "BELOW_COLOUR"]
