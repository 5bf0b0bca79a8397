"""The runnable Python blocks of docs/guide.md (fence info string ``python run``) run.

The blocks are executed in document order in one shared namespace (later blocks use names
defined earlier), with the working directory set to the repository root (the guide uses
paths such as ``examples/iv_mouse.toml``) and temporary files under pytest's tmp_path.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"

_FENCE = re.compile(r"^```python[ \t]+run[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def runnable_blocks(text: str) -> list[str]:
    """Code of every ```python run fenced block, in order."""
    return [m.group(1) for m in _FENCE.finditer(text)]


def test_guide_has_runnable_blocks():
    blocks = runnable_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 5


def test_guide_parameter_count_is_the_codes():
    """The number of parameters the guide prints (under the runnable block that computes
    ``n_params``) is what `mscpk params` lists, and no other figure of it is in the text."""
    import mscpk

    text = GUIDE.read_text(encoding="utf-8")
    n = len(mscpk.parameters_in_force(mscpk.load_scenario(ROOT / "examples" / "iv_mouse.toml")))
    shown = re.search(r"n_params = len\(mscpk\.parameters_in_force\(.*?```\n\n```text\n(\d+) parameters\n```",
                      text, re.DOTALL)
    assert shown and int(shown.group(1)) == n
    assert {int(x) for x in re.findall(r"(\d+) (?:model )?parameters (?:in force|are listed)", text)} <= {n}


@pytest.mark.filterwarnings("default::mscpk.errors.MscpkWarning")  # the guide shows some (a scan's embolic burden)
def test_guide_python_blocks_run(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    blocks = runnable_blocks(GUIDE.read_text(encoding="utf-8"))
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    has_roadrunner = importlib.util.find_spec("roadrunner") is not None
    namespace: dict = {"__name__": "__guide__"}
    skipped = []
    for i, code in enumerate(blocks, start=1):
        if "import roadrunner" in code and not has_roadrunner:
            skipped.append(i)
            continue
        try:
            exec(compile(code, f"{GUIDE.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block failed
            pytest.fail(f"docs/guide.md runnable block {i} failed: {type(exc).__name__}: {exc}\n---\n{code}")
    assert os.getcwd() == str(ROOT)
    if skipped:
        pytest.skip(f"blocks {skipped} need libroadrunner (not installed); the others ran")
