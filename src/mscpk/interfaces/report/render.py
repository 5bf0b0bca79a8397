"""HTML of a report: Jinja2 templates shipped with the package, figures from the plot functions
embedded as PNG data URIs, inline CSS; nothing is fetched from a network."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from mscpk._version import __version__
from mscpk.analysis.report import Figure, ReportContent
from mscpk.interfaces.plots.detection import plot_detection_windows
from mscpk.interfaces.plots.fit import fit_figure
from mscpk.interfaces.plots.result import figure_bytes, result_figure


def figure_png(figure: Figure) -> bytes:
    """The PNG of one figure specification (its ``kind`` names the plot function)."""
    if figure.kind == "result":
        return figure_bytes(result_figure(figure.data))
    if figure.kind == "fit":
        return figure_bytes(fit_figure(figure.data))
    if figure.kind == "detection_windows":
        with tempfile.TemporaryDirectory(prefix="mscpk-report-") as tmp:
            path = plot_detection_windows(figure.data, Path(tmp) / "windows.png", title="Detection windows")
            return path.read_bytes()
    raise ValueError(f"unknown figure kind {figure.kind!r}")


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``

    >>> data_uri(b"x")
    'data:image/png;base64,eA=='
    """
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(content: ReportContent, generated: str) -> str:
    """The report page (``generated``: the time stamp shown on its cover)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("mscpk.interfaces.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    uris = [[data_uri(figure_png(f)) for f in s.figures] for s in content.sections]
    return env.get_template("report.html.j2").render(content=content, figure_uris=uris, version=__version__,
                                                      generated=generated)


__all__ = ["render_html", "figure_png", "data_uri"]
