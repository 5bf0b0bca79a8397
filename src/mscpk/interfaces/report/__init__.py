"""``mscpk.report``: the druggability report of a scenario as one self-contained HTML page
(and a PDF through headless Chromium). Content: :mod:`mscpk.analysis.report`; specification:
docs/report.md.

>>> import mscpk
>>> rep = mscpk.report("examples/iv_mouse.toml")
>>> rep.keys[:2], '<section id="homing"' in rep.html()
(('design', 'biodistribution'), True)
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mscpk.analysis.report import ReportContent, assemble_report
from mscpk.interfaces.report.pdf import html_to_pdf
from mscpk.interfaces.report.render import render_html
from mscpk.utils import atomic_path, write_text_atomic


class Report:
    """A report: its ``content`` (sections as data) and, rendered once on demand, its HTML."""

    def __init__(self, content: ReportContent, generated: str) -> None:
        self.content = content
        self.generated = generated
        self._html: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The section keys, in order (``id`` of each ``<section>`` of the page)."""
        return self.content.keys

    def html(self) -> str:
        """The page: one HTML file with its CSS and figures inside."""
        if self._html is None:
            self._html = render_html(self.content, self.generated)
        return self._html

    def save(self, path: str | Path) -> Path:
        """Write the HTML to ``path`` atomically."""
        return write_text_atomic(path, self.html())

    def save_pdf(self, path: str | Path) -> Path:
        """Print the page to the PDF ``path`` with headless Chromium (atomically)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            html_to_pdf(self.html(), tmp)
        return path


def report(scenario: Any, data: Any = None, fit: Any = None, *, qualification: Any = None) -> Report:
    """The report of ``scenario`` (TOML path or Scenario), with NCA of ``data`` (study data
    file or StudyData) and the fit ``fit`` (fit output JSON or FitResult) when given;
    ``qualification``: a fresh :func:`mscpk.analysis.qualification.qualify` run (default: the
    packaged baseline)."""
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(assemble_report(scenario, data, fit, qualification=qualification, generated=generated), generated)


__all__ = ["report", "Report"]
