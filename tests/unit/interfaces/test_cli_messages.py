"""The CLI's one-line messages: errors (exit 2) and warnings (``warning:`` lines on stderr)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscpk.interfaces.cli import app
from mscpk.interfaces.cli.common import fail

runner = CliRunner()

JOINT_IV = """
name = "OA subject given IV cells"
[subject]
species = "mouse"
[[subject.injury]]
site = "joint"
[[dose]]
route = "iv"
cells = 1e5
[run]
end_h = 24.0
"""


def test_fail_joins_a_heading_and_its_items_without_a_stray_semicolon(capsys):
    fail("cannot run NCA on x.csv:\n  GROUP 'a' is in Ct\n  GROUP 'b' has several units")
    assert capsys.readouterr().err == "error: cannot run NCA on x.csv: GROUP 'a' is in Ct; GROUP 'b' has several units\n"


@pytest.mark.parametrize("rows", ["1,1,25,lung,Ct\n1,2,26,lung,Ct\n", "1,1,5,lung,cells\n1,2,5,lung,%ID\n"])
def test_nca_errors_with_a_heading_have_no_colon_semicolon(tmp_path, rows):
    """Data that NCA refuses with a heading and a list ("cannot run NCA on ...:", "cannot
    convert ... to cells:") gave "...csv:; GROUP ..."."""
    data = tmp_path / "d.csv"
    data.write_text("ID,TIME,DV,SITE,DVU\n" + rows)
    res = runner.invoke(app, ["nca", str(data), "-o", str(tmp_path / "pp.csv")])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1 and ":;" not in res.stderr


def test_a_warning_is_one_stderr_line_and_the_command_succeeds(tmp_path):
    sc = tmp_path / "oa.toml"
    sc.write_text(JOINT_IV)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["simulate", str(sc), "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("warning: ")]
    assert lines == ["warning: subject.injury[1].site: 'joint' has no effect: the model's joint is the "
                     "intra_articular depot (circulating cells do not home to it) and no dose is "
                     "intra_articular (routes: iv)"]
    assert out.exists()


def test_an_error_prints_only_the_error_line(tmp_path):
    sc = tmp_path / "oa.toml"
    sc.write_text(JOINT_IV)
    res = runner.invoke(app, ["simulate", str(sc), "-o", str(tmp_path / "out.csv"), "--summary-times", "100"])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == ["error: --summary-times: 100 h is after run.end_h = 24 h; "
                                       "give times within the run"]
    assert not Path(tmp_path / "out.csv").exists()


def test_simulate_title_reads_both_occlusions_on_the_same_dense_grid(tmp_path):
    """With a coarse run.times_h the title gave 4.91 % (lung, dense grid) and 4.80 % (worst bed
    lung, coarse grid) for the same bed."""
    sc = tmp_path / "coarse.toml"
    sc.write_text('[subject]\nspecies = "mouse"\n[[dose]]\nroute = "iv"\ncells = 1e5\n'
                  '[run]\nend_h = 24.0\ntimes_h = [0.25, 24]\n')
    res = runner.invoke(app, ["simulate", str(sc), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    import re

    lung, worst = re.search(r"peak occlusion ([\d.]+)% \(lung\), ([\d.]+)% \(worst bed: lung\)", res.stdout).groups()
    assert lung == worst
