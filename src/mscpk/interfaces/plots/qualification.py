"""The qualification report: one self-contained HTML page (figures embedded as SVG)."""

from __future__ import annotations

import html
import io
import math

import numpy as np


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _scatter(table) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 6.0))
    data = table[table.finding.eq("") & table.fold_error.notna()]
    lo = max(min(data.observed.min(), data.predicted.min()) / 3, 1e-6) if len(data) else 1e-3
    hi = max(data.observed.max(), data.predicted.max()) * 3 if len(data) else 1e3
    line = np.array([lo, hi])
    ax.plot(line, line, "k-", lw=1)
    for f, style in ((2, "--"), (3, ":")):
        ax.plot(line, line * f, "k" + style, lw=0.8)
        ax.plot(line, line / f, "k" + style, lw=0.8, label=f"{f}-fold")
    for use, marker in (("calibration", "o"), ("validation", "s")):
        d = data[data.used_for == use]
        ax.scatter(d.observed, d.predicted, marker=marker, s=22, alpha=0.75, label=f"{use} ({len(d)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("observed (study's unit)")
    ax.set_ylabel("predicted (default model, study's assay)")
    ax.set_title("Predicted vs observed")
    ax.legend(fontsize=8)
    return _svg(fig)


def _panel(rows, predictor_curve) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for site, g in rows.groupby("site"):
        t, v = predictor_curve(site, g.unit.iloc[0])
        line, = ax.plot(np.where(t > 0, t, np.nan), v, lw=1.2, label=site)
        ax.scatter(g.time_h.where(g.time_h > 0, np.nan), g.observed, color=line.get_color(), s=18, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time [h]")
    ax.set_ylabel(rows.unit.iloc[0])
    ax.legend(fontsize=7)
    return _svg(fig)


def qualification_html(q, curves) -> str:
    """The report of a :class:`~mscpk.analysis.qualification.Qualification`; ``curves(study,
    site, unit) -> (times, values)`` gives each panel's predicted time course."""
    table = q.table
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>mscpk qualification</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}.no{color:#b00}.yes{color:#070}"
             ".panel{display:inline-block;vertical-align:top;margin:6px}</style></head><body>",
             "<h1>Model qualification</h1><p>Every study of the library through the default model and the "
             "study's own assay (expected readout, no noise). Fold error = predicted / observed.</p>",
             "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in q.lines()) + "</ul>",
             _scatter(table), "<h2>Studies</h2>"]
    for sid, g in table.groupby("study", sort=True):
        parts.append(f"<h3>{html.escape(sid)} ({html.escape(g.used_for.iloc[0])}; {html.escape(g.species.iloc[0])}, "
                     f"{html.escape(g.route.iloc[0])}, {html.escape(g.assay.iloc[0])})</h3>")
        cont = g[g.finding.eq("") & g.fold_error.notna()]
        if len(cont):
            for unit, gu in cont.groupby("unit"):
                parts.append(f"<div class='panel'>{_panel(gu, lambda s, u, sid=sid: curves(sid, s, u))}</div>")
        rows = []
        for r in g.itertuples():
            verdict = "" if r.holds is None or (isinstance(r.holds, float) and math.isnan(r.holds)) else (
                "<span class='yes'>holds</span>" if r.holds else "<span class='no'>does not hold</span>")
            fold = "" if not np.isfinite(r.fold_error) else f"{r.fold_error:.3g}"
            obs = "" if not np.isfinite(r.observed) else f"{r.observed:.3g}"
            rows.append(f"<tr><td>{html.escape(r.site)}</td><td>{r.time_h:g}</td><td>{obs}</td>"
                        f"<td>{r.predicted:.3g}</td><td>{html.escape(r.unit)}</td><td>{fold}</td><td>{verdict}</td>"
                        f"<td>{html.escape(r.finding)}</td><td>{html.escape(r.where)}</td></tr>")
        parts.append("<table><tr><th>site</th><th>time [h]</th><th>observed</th><th>predicted</th><th>unit</th>"
                     "<th>fold</th><th>verdict</th><th>finding</th><th>where</th></tr>" + "".join(rows) + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["qualification_html"]
