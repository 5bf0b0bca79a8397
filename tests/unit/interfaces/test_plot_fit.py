"""The fit figure (issue 14, class 7): one colour per kind of mark in every panel (the fitted
curve changed colour from panel to panel), and summary data drawn with their SD bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import mscpk
import pandas as pd

from mscpk.analysis.fitting import fit
from mscpk.inputs.studydata import study_from_frame
from mscpk.interfaces.plots.fit import COLOURS, fit_figure

SCENARIO = Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml"
TIMES = [1.0, 6.0, 24.0, 48.0]


def result():
    res = mscpk.simulate(mscpk.load_scenario(SCENARIO), times_h=TIMES)
    lung, liver = res.quantity("lung", "live_cells"), res.quantity("liver", "live_cells")
    rows = [{"ID": f"s{i}", "TIME": t, "SITE": "lung", "DV": v, "N": 3, "SD": 0.3 * v, "CENS": 0}
            for i, (t, v) in enumerate(zip(TIMES, lung))]
    rows += [{"ID": f"m{i}", "TIME": t, "SITE": "liver", "DV": v, "N": 1, "SD": None, "CENS": 0}
             for i, (t, v) in enumerate(zip(TIMES[:-1], liver))]
    rows.append({"ID": "m9", "TIME": 48.0, "SITE": "liver", "DV": 1e6, "N": 1, "SD": None,
                 "CENS": 1})  # BLQ (DV holds the LLOQ)
    return fit(SCENARIO, study_from_frame(pd.DataFrame(rows)),
               ["Lung arrested cell death half-life [h]"], n_starts=1, profile=False)


def test_same_colours_in_every_panel_and_sd_bars():
    fig = fit_figure(result())
    panels = [ax for ax in fig.axes[2:] if ax.get_visible()]
    assert len(panels) == 2
    for ax in panels:
        colour = {ln.get_label(): mcolors.to_hex(ln.get_color()) for ln in ax.get_lines()
                  if not ln.get_label().startswith("_")}
        assert colour["fit"] == mcolors.to_hex(COLOURS["fit"])
        for label in ("observed", "BLQ"):
            if label in colour:
                assert colour[label] == mcolors.to_hex(COLOURS["observed" if label == "observed"
                                                               else "blq"])
    lung = next(ax for ax in panels if ax.get_title() == "lung")
    liver = next(ax for ax in panels if ax.get_title() == "liver")
    bars = [c for c in lung.containers if c.get_label() == "mean +/- SD"]
    assert len(bars) == 1 and len(bars[0].lines[0].get_xdata()) == len(TIMES)
    assert not liver.containers  # individual data: no bars
    assert "BLQ" in {ln.get_label() for ln in liver.get_lines()}
