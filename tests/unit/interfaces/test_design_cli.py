"""``mscpk optimize`` and ``mscpk translate``: files, contract JSON, user errors (exit 2, no file)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import mscpk
from mscpk.interfaces.cli import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "iv_mouse.toml"
runner = CliRunner()


def test_optimize_writes_the_contract_json_history_and_pareto(tmp_path):
    out, hist, fig = tmp_path / "best.json", tmp_path / "h.csv", tmp_path / "p.png"
    r = runner.invoke(app, ["optimize", str(EXAMPLE), "--maximize", "heart:cell_days", "--vary", "dose[1].cells=1e5..1e7",
                            "--constraint", "lung:peak_occlusion<=0.03", "-o", str(out), "--history", str(hist),
                            "--plot", str(fig)])
    assert r.exit_code == 0, r.output
    best = json.loads(out.read_text())
    assert set(best) >= {"best", "objective", "constraints", "feasible", "evaluations"}
    assert best["feasible"] and best["constraints"]["lung:peak_occlusion"] <= 0.03 * (1 + 1e-9)
    assert len(pd.read_csv(hist)) == best["evaluations"] and fig.stat().st_size > 1000


def test_translate_writes_a_loadable_scenario_and_the_rules_table(tmp_path):
    out, table = tmp_path / "human.toml", tmp_path / "rules.csv"
    r = runner.invoke(app, ["translate", str(EXAMPLE), "--to", "human", "-o", str(out), "--table", str(table)])
    assert r.exit_code == 0, r.output
    sc = mscpk.load_scenario(out)
    assert sc.subject.species == "human" and tomllib.loads(out.read_text())["subject"]["species"] == "human"
    t = pd.read_csv(table)
    assert list(t.columns) == ["parameter", "from_value", "to_value", "unit", "rule", "source"]
    assert "dose[1] cells" in set(t.parameter)


def test_design_user_errors_exit_2_and_write_nothing(tmp_path):
    out = tmp_path / "x.json"
    cases = [(["optimize", str(EXAMPLE), "--maximize", "heart:cell_days", "--vary", "dose[1].cells=9..1", "-o", str(out)],
              "need finite LOW < HIGH"),
             (["optimize", str(EXAMPLE), "--maximize", "heart:cell_days", "--vary", "dose[1].cells=1e5..1e6",
               "-o", str(tmp_path / "x.csv")], "unsupported file type"),
             (["translate", str(EXAMPLE), "--to", "cat", "-o", str(tmp_path / "x.toml")], "'cat' is not a species")]
    for args, text in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        assert text in r.output and "Traceback" not in r.output
        assert not list(tmp_path.iterdir())
