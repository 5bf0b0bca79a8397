"""Output paths, times and signals: every bad case is refused before any work, with exit status
2, one line on stderr and no file left behind (issue 14, class 3)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscpk.interfaces.cli import app
from mscpk.interfaces.cli.common import handle_sigterm
from mscpk.utils import atomic_path

EXAMPLE = str(Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def _clean_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    for w in words:
        assert w in lines[0]


@pytest.mark.parametrize("cmd", [
    ["simulate", EXAMPLE, "-o", "{d}"],
    ["scan", EXAMPLE, "--vary", "dose[1].cells=1e5,1e6", "-o", "{d}"],
    ["export", "sbml", EXAMPLE, "-o", "{d}"],
    ["params", EXAMPLE, "-o", "{d}"],
])
def test_output_that_is_a_folder_is_refused(tmp_path, cmd):
    folder = tmp_path / "x.csv" if cmd[0] != "export" else tmp_path / "x.xml"
    folder.mkdir()
    res = run(*[c.replace("{d}", str(folder)) for c in cmd])
    _clean_error(res, "is a folder")


def test_plot_that_is_a_folder_leaves_no_table(tmp_path):
    (tmp_path / "fig.png").mkdir()
    res = run("simulate", EXAMPLE, "-o", str(tmp_path / "out.csv"), "--plot", str(tmp_path / "fig.png"))
    _clean_error(res, "plot", "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


def test_output_in_a_missing_folder_is_refused(tmp_path):
    res = run("simulate", EXAMPLE, "-o", str(tmp_path / "nowhere" / "out.csv"))
    _clean_error(res, "does not exist")


@pytest.mark.parametrize("times", ["nan", "1,inf", "1e300", "-1", ""])
def test_bad_summary_and_output_times_are_refused(tmp_path, times):
    res = run("simulate", EXAMPLE, "-o", str(tmp_path / "o.csv"), "--summary-times", times)
    _clean_error(res, "--summary-times")
    res = run("scan", EXAMPLE, "--vary", "dose[1].cells=1e5", "-o", str(tmp_path / "s.csv"), "--times", times)
    _clean_error(res, "--times")
    assert list(tmp_path.iterdir()) == []


def test_summary_times_after_the_end_are_refused_not_dropped(tmp_path):
    res = run("simulate", EXAMPLE, "-o", str(tmp_path / "o.csv"), "--summary-times", "1,1000")
    _clean_error(res, "--summary-times", "1000", "end_h")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["bogus", "ON"])
def test_saturation_mode_is_checked(tmp_path, value):
    res = run("simulate", EXAMPLE, "-o", str(tmp_path / "o.csv"), "--saturation", value)
    _clean_error(res, "--saturation", repr(value))


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    """The CLI turns SIGTERM into KeyboardInterrupt, so an atomic write in progress deletes
    its temporary file (a killed `mscpk scan` left a hidden .tmp file before)."""
    old = signal.getsignal(signal.SIGTERM)
    try:
        handle_sigterm()
        with pytest.raises(KeyboardInterrupt):
            with atomic_path(tmp_path / "out.csv") as tmp:
                tmp.write_text("partial")
                os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, words", [
    (["fit", EXAMPLE, "x.csv", "--estimate", "a", "--n-starts", "abc"], "--n-starts"),
    (["fit", EXAMPLE, "x.csv", "--estimate", "a", "--n-starts", "100000000"], "--n-starts"),
    (["simulate"], "Missing argument"),
    (["no-such-command"], "No such command"),
])
def test_click_usage_errors_are_one_line_with_exit_2(args, words):
    res = CliRunner().invoke(app, args)
    _clean_error(res, words)
