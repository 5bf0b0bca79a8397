"""Shared test setup: the helpers module on the path, and markers taken from the test's folder
(``tests/unit/<layer>/`` -> ``unit`` and the layer; ``tests/science/`` -> ``science``)."""

import sys
from pathlib import Path

import pytest
from hypothesis import settings

# the same examples on every run (CI must not fail on one machine and pass on the next)
settings.register_profile("mscpk", derandomize=True, deadline=None)
settings.load_profile("mscpk")

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

LAYER_MARKERS = ("inputs", "engine", "analysis", "store", "interfaces", "architecture")


def pytest_collection_modifyitems(items):
    for item in items:
        try:
            parts = Path(item.fspath).resolve().relative_to(HERE).parts
        except ValueError:  # doctests of the package
            item.add_marker(pytest.mark.doctest)
            continue
        if parts[0] == "science":
            item.add_marker(pytest.mark.science)
        elif parts[0] == "unit":
            item.add_marker(pytest.mark.unit)
            if len(parts) > 2 and parts[1] in LAYER_MARKERS:
                item.add_marker(getattr(pytest.mark, parts[1]))
