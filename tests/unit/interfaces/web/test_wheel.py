"""The bundled examples ship in the wheel (package data through the ``mscpk/examples`` link to
``examples/``), and the web app finds them in an installed, non-editable copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


def test_the_package_link_is_the_repositorys_examples_folder():
    from mscpk.interfaces.web.builder import example_names, examples_dir

    assert (ROOT / "src" / "mscpk" / "examples").is_symlink()
    assert examples_dir().resolve() == (ROOT / "examples").resolve()
    assert example_names() == sorted(p.stem for p in (ROOT / "examples").glob("*.toml"))


@pytest.mark.slow
def test_a_wheel_carries_the_examples_and_the_installed_app_finds_them(tmp_path):
    src = tmp_path / "src"  # a copy, so that the build leaves nothing in the checkout
    for name in ("src", "examples"):
        shutil.copytree(ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("mscpk-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    expected = sorted(p.name for p in (ROOT / "examples").glob("*.toml"))
    assert sorted(n.removeprefix("mscpk/examples/") for n in names if n.startswith("mscpk/examples/")) == expected
    assert zipfile.ZipFile(wheel).read("mscpk/examples/iv_mouse.toml") == (ROOT / "examples" / "iv_mouse.toml").read_bytes()
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    probe = ("import mscpk, pathlib; from mscpk.interfaces.web.builder import example_names, example_text; "
             "print(pathlib.Path(mscpk.__file__).parent); print(len(example_names())); "
             "print(example_text('iv_mouse') is not None)")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out == [str(site / "mscpk"), str(len(expected)), "True"]
