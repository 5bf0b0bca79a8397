"""``mscpk population`` and ``mscpk sensitivity``: files, tables, user errors (exit 2, no file)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "population_iv_mouse.toml"
runner = CliRunner()


def test_population_writes_subjects_bands_responders_and_figure(tmp_path):
    out, bands, resp, fig = (tmp_path / n for n in ("pop.parquet", "bands.csv", "resp.csv", "pop.png"))
    r = runner.invoke(app, ["population", str(EXAMPLE), "-o", str(out), "-n", "40", "--bands", str(bands),
                            "--responders", str(resp), "--plot", str(fig), "--metric", "lung:cell_days",
                            "--metric", "lung:peak_occlusion", "--by", "Cardiac output [L/h]"])
    assert r.exit_code == 0, r.output
    t = pd.read_parquet(out)
    assert list(t.columns) == ["subject", "Lung arrested cell death half-life [h]", "Cardiac output [L/h]",
                               "lung:cell_days", "lung:peak_occlusion"]
    assert len(t) == 40 and (t["lung:peak_occlusion"] > 0).all()
    b = pd.read_csv(bands)
    assert list(b.columns) == ["time_h", "site", "quantity", "p05", "p50", "p95"]
    assert (b.p05 <= b.p50).all() and (b.p50 <= b.p95).all()
    rt = pd.read_csv(resp)
    assert rt.stratum.iloc[0] == "all" and len(rt) == 5  # all + 4 quartiles
    assert fig.stat().st_size > 1000
    assert "responders (all):" in r.output


def test_sensitivity_morris_table(tmp_path):
    out = tmp_path / "s.csv"
    r = runner.invoke(app, ["sensitivity", str(EXAMPLE), "--metric", "lung:cell_days", "--method", "morris",
                            "-n", "4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["parameter", "metric", "mu_star", "mu_star_conf", "sigma"]
    assert df.sort_values("mu_star").parameter.iloc[-1] == "Lung arrested cell death half-life [h]"


def test_user_errors_exit_2_and_write_nothing(tmp_path):
    out = tmp_path / "pop.csv"
    for args, text in ((["--metric", "lung:oops"], "'oops' in 'lung:oops' is not a metric kind"),
                       (["-n", "0"], "population"),
                       (["--responders", str(tmp_path / "r.csv"), "--bands", str(tmp_path / "b.txt")], "unsupported file type")):
        r = runner.invoke(app, ["population", str(EXAMPLE), "-o", str(out), *args])
        assert r.exit_code == 2, r.output
        assert text in r.output and "Traceback" not in r.output
        assert not list(tmp_path.iterdir())
    r = runner.invoke(app, ["sensitivity", str(EXAMPLE), "--metric", "lung:cell_days", "--method", "fast",
                            "-o", str(out)])
    assert r.exit_code == 2 and "method: 'fast' is not allowed" in r.output
