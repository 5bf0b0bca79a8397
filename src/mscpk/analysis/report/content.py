"""What a report holds, as data: sections of texts, tables and figure specifications (the
interfaces layer renders them; docs/report.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Significant digits of the numbers in report tables.
DIGITS = 4


def fmt(value: Any, digits: int = DIGITS) -> str:
    """A table cell: numbers to ``digits`` significant digits, NaN and None as "-".

    >>> fmt(0.123456), fmt(float("nan")), fmt(np.True_), fmt(np.int64(3)), fmt("lung")
    ('0.1235', '-', 'yes', '3', 'lung')
    """
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "-" if math.isnan(v) else f"{v:.{digits}g}"
    return str(value)


@dataclass(frozen=True)
class Table:
    """A table of a section: ``columns`` (headers with units) and ``rows`` of formatted cells."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    @classmethod
    def from_frame(cls, frame, caption: str, columns: Sequence[str] | None = None,
                   headers: Sequence[str] | None = None, note: str = "") -> "Table":
        """The table of ``frame``'s ``columns`` (default all), headed ``headers`` (default the
        column names)."""
        cols = list(frame.columns if columns is None else columns)
        rows = tuple(tuple(fmt(v) for v in rec) for rec in frame[cols].itertuples(index=False, name=None))
        return cls(caption, tuple(headers or cols), rows, note)


@dataclass(frozen=True)
class Figure:
    """A figure to draw: ``kind`` names the plot (``result``: time courses, heat map and body
    maps of a Result; ``detection_windows``: a detection-window table; ``fit``: the
    diagnostics of a FitResult), ``data`` what it is drawn from."""

    kind: str
    caption: str
    data: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class Section:
    """One section: paragraphs, then bullet points (under ``bullets_title``), figures, tables
    and preformatted texts (``(caption, text)``, e.g. the scenario file)."""

    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    bullets_title: str = ""
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    texts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """The whole report: ``title``, ``warnings`` (MscpkWarnings raised while assembling it,
    shown on top) and the ``sections`` in order."""

    title: str
    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The section keys, in order."""
        return tuple(s.key for s in self.sections)

    def section(self, key: str) -> Section:
        """The section named ``key`` (KeyError listing the keys when absent)."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; sections: {', '.join(self.keys)}")


__all__ = ["Table", "Figure", "Section", "ReportContent", "fmt", "DIGITS"]
