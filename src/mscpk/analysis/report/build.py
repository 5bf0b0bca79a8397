"""``assemble_report``: the inputs checked, the scenario simulated once, every section built
(docs/report.md)."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import Any

from mscpk.analysis.detection import design_study
from mscpk.analysis.params import parameters_in_force
from mscpk.analysis.report.content import ReportContent
from mscpk.analysis.report.inputs import check_inputs
from mscpk.analysis.report.sections import (Model, biodistribution_section, design_section, detection_section,
                                            embolic_section, guidance_sections)
from mscpk.analysis.report.studies import (fit_section, limitations_section, nca_section, parameters_section,
                                           qualification_section, reproducibility_section)
from mscpk.analysis.summary import summarize
from mscpk.engine.simulate import simulate
from mscpk.errors import MscpkWarning
from mscpk.inputs.resolve import resolve

#: Section keys in order; ``nca`` only with study data, ``fit`` only with a fit.
SECTION_KEYS = ("design", "biodistribution", "distribution", "migration", "homing", "persistence", "death",
                "detection", "embolic", "nca", "fit", "qualification", "parameters", "limitations",
                "reproducibility")


def _command(inputs) -> str:
    parts = ["mscpk report", inputs.scenario_source.path]
    if inputs.data_source is not None:
        parts += ["--data", inputs.data_source.path]
    if inputs.fit_source is not None:
        parts += ["--fit", inputs.fit_source.path]
    return " ".join(parts + ["-o", "REPORT.html"])


def assemble_report(scenario: Any, data: Any = None, fit: Any = None, *, qualification: Any = None,
                    generated: str | None = None) -> ReportContent:
    """Every section of the report of ``scenario`` (a TOML path or a Scenario), with ``data``
    (study data file or StudyData: NCA) and ``fit`` (fit output JSON or FitResult) when given.

    ``qualification``: a :class:`~mscpk.analysis.qualification.Qualification` run now; default
    the packaged baseline. ``generated``: the time stamp shown (default now, UTC). The
    MscpkWarnings raised on the way (an embolic burden) are listed on top of the report and
    issued again once each.

    >>> content = assemble_report("examples/iv_mouse.toml")
    >>> content.keys[:3], "nca" in content.keys
    (('design', 'biodistribution', 'distribution'), False)
    """
    inputs = check_inputs(scenario, data, fit)
    sc = inputs.scenario
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MscpkWarning)
        result = simulate(sc)
        model = Model(sc, resolve(sc), result, summarize(result), design_study(result, scenario=sc))
        in_force = parameters_in_force(sc)
        sections = [design_section(model), biodistribution_section(model), *guidance_sections(model),
                    detection_section(model), embolic_section(model)]
        if inputs.data is not None:
            sections.append(nca_section(inputs))
        if inputs.fit is not None:
            sections.append(fit_section(inputs, in_force))
        stamp = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        sections += [qualification_section(sc, qualification), parameters_section(sc, in_force),
                     limitations_section(sc, in_force, qualification),
                     reproducibility_section(inputs, _command(inputs), stamp)]
    for w in caught:
        if not issubclass(w.category, MscpkWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    found = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, MscpkWarning)))
    for text in found:
        warnings.warn(MscpkWarning(text), stacklevel=2)
    return ReportContent(f"Druggability report: {sc.name}", tuple(sections), found)


__all__ = ["assemble_report", "SECTION_KEYS"]
