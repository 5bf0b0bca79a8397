"""Percentile bands over subjects (``--bands``), mergeable across chunks and workers.

Each (time, site, quantity) keeps a histogram of the subjects' cell numbers on a log scale
(:data:`PER_DECADE` bins per decade from :data:`LOWEST` to :data:`HIGHEST` cells, plus one bin
for fewer than :data:`LOWEST` cells, read as 0). Counts are integers, so chunks add exactly and
the bands do not depend on chunking or workers; memory is that of the histograms, whatever
the number of subjects. A percentile is interpolated geometrically inside its bin: at most
half a bin (``10**(0.5/PER_DECADE)``, 1.2 %) from the exact order statistic.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mscpk.engine.result import CELL_QUANTITIES

PER_DECADE = 100
LOWEST = 0.1
HIGHEST = 1e13
#: Percentiles of the bands file (shared/INTERFACE.md: p05, p50, p95).
PERCENTILES = (5, 50, 95)


class Bands:
    """Histogram counts (T, site, quantity, bins) of the subjects added so far."""

    def __init__(self, times: np.ndarray) -> None:
        self.times = np.asarray(times, dtype=float)
        self.n_bins = int(round(np.log10(HIGHEST / LOWEST) * PER_DECADE)) + 1
        self.sites: list[str] = []
        self.counts = np.zeros((len(self.times), 0, len(CELL_QUANTITIES), self.n_bins), dtype=np.int64)

    def _bin(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            b = np.floor(np.log10(np.maximum(x, 1e-300) / LOWEST) * PER_DECADE).astype(np.int64) + 1
        return np.clip(np.where(x < LOWEST, 0, b), 0, self.n_bins - 1)

    def _positions(self, sites: Sequence[str]) -> list[int]:
        """Indices of ``sites`` on the site axis, widening it (zero counts) for new ones."""
        new = [s for s in sites if s not in self.sites]
        if new:
            pad = np.zeros(self.counts.shape[:1] + (len(new),) + self.counts.shape[2:], dtype=np.int64)
            self.counts = np.concatenate([self.counts, pad], axis=1)
            self.sites += new
        return [self.sites.index(s) for s in sites]

    def add(self, sites: Sequence[str], cells: np.ndarray) -> None:
        """Add subjects' ``cells`` (N, T, len(sites), quantity)."""
        pos = self._positions(sites)
        b = self._bin(cells)  # (N, T, S, Q)
        t, s, q = np.meshgrid(np.arange(b.shape[1]), np.asarray(pos), np.arange(b.shape[3]), indexing="ij")
        flat = ((t[None] * self.counts.shape[1] + s[None]) * self.counts.shape[2] + q[None]) * self.n_bins + b
        self.counts += np.bincount(flat.ravel(), minlength=self.counts.size).reshape(self.counts.shape)

    def merge(self, other: "Bands") -> None:
        """Add the counts of ``other`` (same times)."""
        self.counts[:, self._positions(other.sites)] += other.counts

    def frame(self, percentiles: Sequence[float] = PERCENTILES):
        """``time_h, site, quantity, p05, p50, p95`` (pandas DataFrame)."""
        import pandas as pd

        c = np.cumsum(self.counts, axis=-1)
        total = c[..., -1:]
        cols = {}
        for pct in percentiles:
            rank = pct / 100.0 * total  # the rank of the percentile among the subjects
            k = np.argmax(c >= np.maximum(rank, 1e-12), axis=-1)[..., None]
            below = np.where(k > 0, np.take_along_axis(c, np.maximum(k - 1, 0), axis=-1), 0)
            inside = np.take_along_axis(self.counts, k, axis=-1)
            frac = np.clip((rank - below) / np.maximum(inside, 1), 0.0, 1.0)
            lo = LOWEST * 10 ** ((k - 1) / PER_DECADE)
            cols[f"p{pct:02d}"] = np.where(k == 0, 0.0, lo * 10 ** (frac / PER_DECADE))[..., 0]
        t, s, q = np.meshgrid(self.times, np.asarray(self.sites, dtype=object), np.asarray(CELL_QUANTITIES, dtype=object),
                              indexing="ij")
        df = pd.DataFrame({"time_h": t.ravel(), "site": s.ravel(), "quantity": q.ravel(),
                           **{k: v.ravel() for k, v in cols.items()}})
        return df.sort_values(["site", "quantity", "time_h"], kind="stable").reset_index(drop=True)


__all__ = ["Bands", "PER_DECADE", "LOWEST", "HIGHEST", "PERCENTILES"]
