"""Figures of a virtual population (bands per organ, metric histograms, metric against its most
influential factors) and of sensitivity indices (bars with CIs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Organs shown with bands: the largest by median peak live cells.
MAX_SITES = 6
#: Varied keys shown against the exposure: those that go most with it.
MAX_FACTORS = 3


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def influence(subjects, metric: str, keys) -> dict[str, float]:
    """How strongly each varied key goes with ``metric`` over the subjects, on ranks in [0, 1]:
    |Spearman rho| for a numeric key; for a categorical one (sex, immune status) the
    correlation ratio eta of the metric's ranks (sqrt of the share of their variance between
    categories; 1 when the category decides the rank order)."""
    import pandas as pd

    y = subjects[metric].rank()
    out = {}
    for k in keys:
        x = subjects[k]
        if pd.api.types.is_numeric_dtype(x) and x.nunique() > 1:
            out[k] = abs(float(x.rank().corr(y)))
        elif not pd.api.types.is_numeric_dtype(x) and x.nunique() > 1:
            total = float(((y - y.mean()) ** 2).sum())
            between = float(y.groupby(x).agg(lambda g: g.size * (g.mean() - y.mean()) ** 2).sum())
            out[k] = float(np.sqrt(between / total)) if total > 0 else 0.0
        else:
            out[k] = 0.0
        if not np.isfinite(out[k]):
            out[k] = 0.0
    return out


def plot_population(res, path, suffix: str) -> None:
    """Bands (5-95 %, median) of live cells for the organs holding most cells, a histogram of
    each metric, and the first metric (the exposure) against the varied keys that go most with
    it (:func:`influence`; a categorical key, such as sex, as a box per category)."""
    import pandas as pd

    plt = _pyplot()
    subjects, bands = res.subjects, res.bands
    first = res.metrics[0]
    keys = [c for c in subjects.columns[1:] if c not in res.metrics]
    rho = influence(subjects, first, keys)
    top = sorted(rho, key=lambda k: -rho[k])[:MAX_FACTORS]
    fig, axes = plt.subplots(1, 2 + len(top), figsize=(5 * (2 + len(top)), 4))
    ax = axes[0]
    live = bands[bands.quantity == "live_cells"]
    order = live[live.time_h > 0].groupby("site")["p50"].max().sort_values(ascending=False).index[:MAX_SITES]
    for site in order:
        b = live[live.site == site]
        t = b.time_h.to_numpy()
        keep = t > 0
        line, = ax.plot(t[keep], b.p50.to_numpy()[keep], label=site)
        ax.fill_between(t[keep], b.p05.to_numpy()[keep], b.p95.to_numpy()[keep], color=line.get_color(), alpha=0.2)
    ax.set(xscale="log", yscale="log", xlabel="time [h]", ylabel="live cells (median, 5-95 %)",
           title=f"{len(subjects)} subjects")
    ax.legend(fontsize=8)
    ax = axes[1]
    for m in res.metrics:
        v = subjects[m].to_numpy(dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            ax.hist(np.log10(v), bins=30, alpha=0.5, label=m)
    ax.set(xlabel="log10 metric", ylabel="subjects", title="metrics")
    ax.legend(fontsize=8)
    for ax, k in zip(axes[2:], top):
        if pd.api.types.is_numeric_dtype(subjects[k]):
            ax.scatter(subjects[k], subjects[first], s=4, alpha=0.5)
            title = f"Spearman |rho| = {rho[k]:.2f}"
        else:
            cats = sorted(subjects[k].astype(str).unique())
            ax.boxplot([subjects.loc[subjects[k].astype(str) == c, first].to_numpy(dtype=float) for c in cats])
            ax.set_xticks(range(1, len(cats) + 1), cats, fontsize=8)
            title = f"eta (ranks) = {rho[k]:.2f}"
        ax.set(xlabel=k, ylabel=first, yscale="log", title=title)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=110, format=suffix.lstrip(".").lower())
    plt.close(fig)


def plot_sensitivity(df, path, suffix: str) -> None:
    """Horizontal bars of the indices per metric (Sobol: S1 and ST with CIs; Morris: mu* with
    its CI; local: elasticities)."""
    plt = _pyplot()
    metrics = list(dict.fromkeys(df.metric))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 0.5 * df.parameter.nunique() + 2),
                             squeeze=False)
    for ax, m in zip(axes[0], metrics):
        d = df[df.metric == m]
        y = np.arange(len(d))
        if "ST" in d:
            ax.barh(y + 0.2, d.ST, 0.4, xerr=d.ST_conf, label="total (ST)")
            ax.barh(y - 0.2, d.S1, 0.4, xerr=d.S1_conf, label="first order (S1)")
            ax.legend(fontsize=8)
        elif "mu_star" in d:
            ax.barh(y, d.mu_star, 0.6, xerr=d.mu_star_conf)
            ax.set_xlabel("mu* (Morris)")
        else:
            ax.barh(y, d.elasticity, 0.6)
            ax.set_xlabel("elasticity d ln(metric) / d ln(factor)")
        ax.set_yticks(y, d.parameter, fontsize=8)
        ax.set_title(m)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=110, format=suffix.lstrip(".").lower())
    plt.close(fig)


__all__ = ["plot_population", "plot_sensitivity", "influence"]
