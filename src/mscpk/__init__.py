"""mscpk: physiologically based pharmacokinetics of living cell drugs (MSCs).

Flat, verb-named API; heavy modules are imported lazily.

>>> import mscpk
>>> sc = mscpk.load_scenario("examples/iv_mouse.toml")
>>> res = mscpk.simulate(sc)
>>> res.mass_balance_error() < 1e-9
True
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from mscpk._version import __version__

_LAZY = {
    "load_scenario": ("mscpk.inputs.load", "load_scenario"),
    "scenario_from_dict": ("mscpk.inputs.load", "scenario_from_dict"),
    "Scenario": ("mscpk.inputs.scenario", "Scenario"),
    "simulate": ("mscpk.engine.simulate", "simulate"),
    "Result": ("mscpk.engine.result", "Result"),
    "build_network": ("mscpk.engine.model.build", "build_network"),
    "load_parameter_set": ("mscpk.inputs.parameters", "load_parameter_set"),
    "parameters_in_force": ("mscpk.analysis.params", "parameters_in_force"),
    "load_species": ("mscpk.inputs.physiology", "load_species"),
    "available_species": ("mscpk.inputs.physiology", "available_species"),
    "export_sbml": ("mscpk.analysis.sbml", "export_sbml"),
    "summarize": ("mscpk.analysis.summary", "summarize"),
    "simulate_batch": ("mscpk.engine.batch", "simulate_batch"),
    "scan": ("mscpk.analysis.scans", "scan"),
    "population": ("mscpk.analysis.population", "population"),
    "sensitivity": ("mscpk.analysis.sensitivity", "sensitivity"),
    "optimize": ("mscpk.analysis.design", "optimize"),
    "translate": ("mscpk.analysis.design", "translate"),
    "effect": ("mscpk.analysis.effect", "effect"),
    "read_study": ("mscpk.inputs.studydata", "read_study"),
    "nca": ("mscpk.analysis.nca", "nca"),
    "fit": ("mscpk.analysis.fitting", "fit"),
    "calibrate": ("mscpk.analysis.calibration", "calibrate"),
    "observe": ("mscpk.analysis.detection", "observe"),
    "detection_windows": ("mscpk.analysis.detection", "detection_windows"),
    "design_study": ("mscpk.analysis.detection", "design_study"),
    "simulate_study": ("mscpk.analysis.detection", "simulate_study"),
    "knowledge_table": ("mscpk.analysis.detection", "knowledge_table"),
    "report": ("mscpk.interfaces.report", "report"),
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
