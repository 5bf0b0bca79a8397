"""mscpk: physiologically based pharmacokinetics of living cell drugs (MSCs).

Flat, verb-named API; heavy modules are imported lazily.

>>> import mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")   # doctest: +SKIP
>>> res = mscpk.simulate(sc)                              # doctest: +SKIP
>>> df = res.to_frame()                                   # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_scenario": ("mscpk.scenario", "load_scenario"),
    "scenario_from_dict": ("mscpk.scenario", "scenario_from_dict"),
    "Scenario": ("mscpk.scenario", "Scenario"),
    "simulate": ("mscpk.simulation", "simulate"),
    "Result": ("mscpk.result", "Result"),
    "build_network": ("mscpk.model.build", "build_network"),
    "load_parameter_set": ("mscpk.parameters", "load_parameter_set"),
    "parameters_in_force": ("mscpk.params_table", "parameters_in_force"),
    "load_species": ("mscpk.physiology", "load_species"),
    "available_species": ("mscpk.physiology", "available_species"),
    "export_sbml": ("mscpk.sbml", "export_sbml"),
    "summarize": ("mscpk.summary", "summarize"),
    "simulate_batch": ("mscpk.batch", "simulate_batch"),
    "scan": ("mscpk.scans", "scan"),
    "read_study": ("mscpk.studydata", "read_study"),
    "nca": ("mscpk.noncompartmental", "nca"),
    "fit": ("mscpk.fitting", "fit"),
    "observe": ("mscpk.detection", "observe"),
    "detection_windows": ("mscpk.detection", "detection_windows"),
    "design_study": ("mscpk.detection", "design_study"),
    "simulate_study": ("mscpk.detection", "simulate_study"),
    "knowledge_table": ("mscpk.detection", "knowledge_table"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, attr = _LAZY[name]
        value = getattr(import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mscpk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
