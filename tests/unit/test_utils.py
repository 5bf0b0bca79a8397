"""Atomic writes (mscpk.utils): normal file permissions, no temp files or partial targets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mscpk.utils import atomic_path, write_all_or_nothing, write_table, write_text_atomic


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_written_file_has_normal_mode(tmp_path, umask):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "hello\n")
    assert target.read_text() == "hello\n"
    assert _mode(target) == 0o666 & ~_umask() == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_mode_under_the_current_umask(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("x")
    assert _mode(target) == 0o666 & ~_umask()


def test_overwritten_0600_file_gets_normal_mode(tmp_path, umask):
    target = tmp_path / "out.csv"
    target.write_text("old")
    os.chmod(target, 0o600)
    import pandas as pd

    write_table(pd.DataFrame({"a": [1, 2]}), target)
    assert target.read_text().splitlines() == ["a", "1", "2"]
    assert _mode(target) == 0o666 & ~umask


def test_failure_leaves_no_temp_and_no_target(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_leaves_existing_target_untouched(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_write_all_or_nothing_writes_all(tmp_path, umask):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    write_all_or_nothing([(a, lambda p: p.write_text("A")), (b, lambda p: p.write_text("B"))])
    assert (a.read_text(), b.read_text()) == ("A", "B")
    assert _mode(a) == _mode(b) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_write_all_or_nothing_failure_touches_nothing(tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_text("old A")

    def broken(p: Path) -> None:
        p.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_all_or_nothing([(a, lambda p: p.write_text("new A")), (b, broken),
                              (c, lambda p: p.write_text("C"))])
    assert a.read_text() == "old A"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_missing_folder_is_an_oserror_and_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "nope" / "out.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_detection_figure_keeps_its_format_and_mode(tmp_path, umask):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mscpk.interfaces.plots.detection import _save

    for name, magic in (("f.png", b"\x89PNG"), ("f.pdf", b"%PDF"), ("f.svg", b"<?xml")):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        _save(fig, tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(magic), name
        assert _mode(tmp_path / name) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "f.svg"]
