"""Figures of the detection layer (matplotlib, Agg backend).

* :func:`plot_detection_windows`: Gantt-style chart - which assay sees which site when;
* :func:`plot_observation`: observed signal (with its detection limit) against the engine's
  true live-cell (and dead-cell) curve, one panel per site.

Both write the figure atomically (:func:`mscpk.utils.atomic_path`); the file type follows
the suffix (.png, .pdf or .svg; the command line checks the path first).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from mscpk.inputs.catalogue import ASSAYS
from mscpk.utils import atomic_path

_MIN_T = 0.01  # [h] left edge of the log time axis
#: One colour per assay in every figure (matplotlib's tab10 without its grey, which the
#: engine's dead cells use); the detection limit is dashed dark grey, true cells black / grey.
ASSAY_COLOURS = dict(zip(ASSAYS, ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8")))
_LIMIT_COLOUR, _LIVE_COLOUR, _DEAD_COLOUR = "0.3", "k", "0.6"


def _pyplot():
    """matplotlib.pyplot with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            # the temporary name ends in .tmp: give matplotlib the format explicitly
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix.lstrip(".").lower() or "png")
    finally:
        _pyplot().close(fig)


def _spans(text) -> list[tuple[float, float]]:
    """``"0-17.8;48-72"`` -> [(0, 17.8), (48, 72)] (empty for a missing value)."""
    if not isinstance(text, str) or not text.strip():
        return []
    out = []
    for part in text.split(";"):
        a, _, b = part.partition("-")
        try:
            out.append((float(a), float(b)))
        except ValueError:
            return []
    return out


def plot_detection_windows(windows, path, title: str = "Detection windows") -> Path:
    """Gantt chart of a :func:`~mscpk.analysis.detection.detection_windows` table; returns the path."""
    plt = _pyplot()
    p = Path(path)
    w = windows[np.isfinite(windows["first_h"].astype(float))]
    colours = ASSAY_COLOURS
    n = max(len(w), 1)
    fig, ax = plt.subplots(figsize=(9, 0.28 * n + 1.6))
    labels = []
    for k, (_, r) in enumerate(w.iterrows()):
        spans = _spans(r.get("intervals", "")) or [(float(r.first_h), float(r.last_h))]
        for a, b in spans:  # every detectable interval (gaps between doses stay empty)
            left = max(a, _MIN_T)
            right = max(b, left * 1.05)
            ax.barh(k, right - left, left=left, color=colours[r.assay], height=0.7)
        if bool(r.get("until_end", False)):
            ax.annotate("", xy=(right * 1.6, k), xytext=(right, k),
                        arrowprops={"arrowstyle": "->", "color": colours[r.assay]})
        labels.append(f"{r.assay}: {r.site}")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time after dosing [h]")
    never = sorted(set(windows["assay"]) - set(w["assay"]))
    sub = f" (never detectable: {', '.join(never)})" if never else ""
    label = windows["label"].iloc[0] if len(windows) else ""
    ax.set_title("\n".join(textwrap.wrap(f"{title} - label {label}{sub}", 90)), fontsize=10)
    for t in (1, 24, 168, 672):  # 1 h, 1 day, 1 week, 4 weeks
        ax.axvline(t, color="0.85", lw=0.8, zorder=0)
    if not len(w):
        ax.text(0.5, 0.5, "no assay detects the product", transform=ax.transAxes, ha="center")
    _save(fig, p)
    return p


def plot_observation(obs, path, max_sites: int = 6) -> Path:
    """Observed readout vs the true live-cell curve, one panel per site; returns the path."""
    plt = _pyplot()
    p = Path(path)
    df = obs[obs["site"] != "whole_body"]
    peak = df.groupby("site", sort=False)["expected"].max().sort_values(ascending=False)
    sites = [s for s in peak.index[:max_sites] if peak[s] > 0] or list(peak.index[:1])
    ncol = min(3, max(len(sites), 1))
    nrow = max(1, math.ceil(len(sites) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow), squeeze=False)
    unit, assay, label = (obs[c].iloc[0] if len(obs) else "" for c in ("unit", "assay", "label"))
    for ax in axes.flat[len(sites):]:
        ax.set_visible(False)
    for ax, site in zip(axes.flat, sites):
        d = df[df["site"] == site]
        t = np.maximum(d["time_h"].to_numpy(float), _MIN_T)
        c = ASSAY_COLOURS.get(assay, "C0")
        ax.plot(t, np.maximum(d["expected"], 1e-300), color=c, lw=1.2, label=f"{assay} expected")
        det = d["detectable"].to_numpy(bool)
        v = np.maximum(d["value"].to_numpy(float), 1e-300)
        ax.plot(t[det], v[det], "o", color=c, ms=3.5, label="observed (detectable)")
        ax.plot(t[~det], v[~det], "o", mfc="none", color=c, ms=3.5, label="observed (< limit)")
        ax.plot(t, d["limit"], color=_LIMIT_COLOUR, lw=1.1, ls="--", label="detection limit")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(unit, color=c, fontsize=8)
        ax2 = ax.twinx()
        ax2.plot(t, np.maximum(d["true_live_cells"], 1e-300), color=_LIVE_COLOUR, lw=1.0, ls="-",
                 label="true live cells")
        ax2.plot(t, np.maximum(d["true_dead_cells"], 1e-300), color=_DEAD_COLOUR, lw=1.0, ls=":",
                 label="true dead cells")
        ax2.set_yscale("log")
        ax2.set_ylabel("cells (engine)", fontsize=8)
        top = max(float(np.max(d["true_live_cells"])), float(np.max(d["true_dead_cells"])), 1.0)
        ax2.set_ylim(top * 1e-5, top * 3)
        ymax = max(float(np.max(d["expected"])), float(np.max(d["limit"])), 1e-300)
        ax.set_ylim(ymax * 1e-5, ymax * 3)
        ax.set_title(site, fontsize=10)
        ax.set_xlabel("time [h]", fontsize=8)
    h1, l1 = axes.flat[0].get_legend_handles_labels()
    if sites:
        h2, l2 = axes.flat[0].get_figure().axes[-1].get_legend_handles_labels()
        fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"{assay} ({label}): observed signal vs true cells", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    _save(fig, p)
    return p


__all__ = ["plot_detection_windows", "plot_observation", "ASSAY_COLOURS"]
