"""A scenario file saved with a UTF-8 byte-order mark (Windows editors) reads like one without
(issue 14, class 4): before, tomllib saw the BOM as 'Invalid statement (at line 1, column 1)'."""

from __future__ import annotations

from pathlib import Path

import mscpk

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iv_mouse.toml"


def test_scenario_with_bom_reads_like_without(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert mscpk.load_scenario(path) == mscpk.load_scenario(EXAMPLE)
