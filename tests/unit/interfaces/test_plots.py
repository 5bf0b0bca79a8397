"""Figures (issue 14, presentation): titles inside the figure, heat-map cells below the colour
range drawn in a labelled colour (not the blank of missing data), one colour per assay in
every detection figure."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

import mscpk
from mscpk.inputs.load import scenario_from_dict
from mscpk.interfaces.plots import detection as detection_plots
from mscpk.interfaces.plots.result import BELOW_COLOUR, PERCENT_RANGE, result_figure

LONG_NAME = ("Alofisel (darvadstrocel; EU, JP): allogeneic adipose MSC injected into a perianal fistula, "
             "a long scenario name that does not fit on one axis")


def scenario(name="plots", label="luciferase", end=672.0):
    return scenario_from_dict({"name": name, "subject": {"species": "mouse", "immune": "immunocompetent"},
                               "product": {"origin": "syngeneic", "label": label},
                               "dose": [{"route": "iv", "cells": 5e5}], "run": {"end_h": end}})


@pytest.fixture(scope="module")
def figure():
    import matplotlib.pyplot as plt

    fig = result_figure(mscpk.simulate(scenario(name=LONG_NAME)))
    fig.canvas.draw()
    yield fig
    plt.close(fig)


def test_heat_map_draws_values_below_the_range_in_a_labelled_colour(figure):
    mesh = next(c for ax in figure.axes for c in ax.collections if hasattr(c, "get_array") and c.get_array() is not None
                and np.ndim(c.get_array()) == 2)
    values = np.ma.masked_invalid(mesh.get_array())
    # after the dose (every column but none before it here: dosed at 0 h) nothing is left blank
    assert not np.ma.getmaskarray(values).any()
    assert (values < PERCENT_RANGE[0]).any()  # the run reaches cells below the range...
    below = mesh.cmap(mesh.norm(float(values.min())))
    assert below == to_rgba(BELOW_COLOUR)  # ...drawn in the "below" colour,
    assert below != to_rgba("white") and below != mesh.cmap(0.0)  # unlike missing data or the range
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any(t.startswith("below") and "1e-4 %" in t for t in texts)


def test_result_figure_titles_fit_in_the_figure(figure):
    box = figure.bbox
    renderer = figure.canvas.get_renderer()
    titles = [t for t in [figure._suptitle] + [ax.title for ax in figure.axes] if t is not None and t.get_text()]
    assert any(LONG_NAME.split(":")[0] in t.get_text() for t in titles)
    for t in titles:
        e = t.get_window_extent(renderer)
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1 and e.y1 <= box.y1 + 1, t.get_text()
        for other in titles:  # no title runs into its neighbour
            if other is not t:
                assert not e.overlaps(other.get_window_extent(renderer)), (t.get_text(), other.get_text())


def test_each_assay_keeps_its_colour_in_every_detection_figure(monkeypatch, tmp_path):
    figs = []
    monkeypatch.setattr(detection_plots, "_save", lambda fig, path: figs.append(fig))
    from mscpk.analysis.detection import detection_windows, observe

    sc = scenario(end=168.0)
    all_assays = detection_windows(sc)  # qpcr, ihc, bli
    bli_only = detection_windows(sc, assays=["bli"])
    detection_plots.plot_detection_windows(all_assays, tmp_path / "a.png")
    detection_plots.plot_detection_windows(bli_only, tmp_path / "b.png")
    detection_plots.plot_observation(observe(sc, "bli", times_h=[1, 24, 72]), tmp_path / "c.png")

    def bar_colours(fig, assay):
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        return {p.get_facecolor() for p in ax.patches if labels[round(p.get_y() + p.get_height() / 2)]
                .startswith(f"{assay}:")}

    bli_a, bli_b = bar_colours(figs[0], "bli"), bar_colours(figs[1], "bli")
    assert len(bli_a) == 1 and bli_a == bli_b
    expected_lines = {to_rgba(line.get_color()) for ax in figs[2].axes for line in ax.get_lines()
                      if line.get_label() == "bli expected"}
    assert expected_lines == bli_a
    assert bar_colours(figs[0], "qpcr") != bli_a
