"""PEtab (v1) export of the joint calibration problem: one SBML model holding every study's
model side by side (ids prefixed with the study id, the estimated parameters shared), one
condition per study, one observable per exported term; the terms PEtab v1 cannot express are
listed with the reason. Layout and limits: docs/fitting.md ("PEtab export of the joint
calibration").

>>> cp = calibration_petab(["toma2009"], "Systemic arrested cell death half-life [h]")
>>> cp.problem.conditions["conditionName"].tolist(), len(cp.exported), len(cp.left_out)
(['toma2009'], 1, 1)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libsbml
import numpy as np
import pandas as pd

from mscpk.analysis.calibration.data import CalibrationTerm, calibration_terms
from mscpk.analysis.calibration.run import calibration_problem
from mscpk.analysis.detection.labels import resolve_label
from mscpk.analysis.fitting.forward import ForwardModel
from mscpk.analysis.petab import PetabProblem, add_estimated, readout_formula
from mscpk.analysis.sbml import SBML_LEVEL, SBML_VERSION, build_sbml_document
from mscpk.engine.simulate import simulate
from mscpk.errors import FitError
from mscpk.inputs.resolve import resolve
from mscpk.inputs.studies import Study

__all__ = ["CalibrationPetab", "calibration_petab", "export_calibration_petab", "README"]

#: the file written beside the PEtab tables: what is in, what is left out and why
README = "README.txt"
#: study assay -> the readout of :func:`mscpk.analysis.petab.readout_formula` ("" = live cells)
_READOUT = {"histology": "", "culture": "", "qpcr": "qpcr", "flow": "flow", "ihc": "ihc"}
#: units that are a fixed multiple of the readout (percent of dose, cells)
_UNITS = ("percent_dose", "cells")
_ID = re.compile(r"(?<![0-9.])[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class CalibrationPetab:
    """The PEtab problem (:class:`~mscpk.analysis.petab.PetabProblem`); ``exported`` and
    ``left_out``: one dict per calibration term (study, site, time_h, unit, kind; the
    observable id, or ``why`` PEtab v1 cannot express it)."""

    problem: PetabProblem
    exported: list[dict[str, Any]]
    left_out: list[dict[str, Any]]

    def readme(self) -> str:
        """DIR/README.txt: how many terms are in, and every term left out with why."""
        n = len(self.exported) + len(self.left_out)
        lines = [f"PEtab v1 export of the mscpk joint calibration: {len(self.exported)} of {n} terms "
                 f"are measurements; {len(self.left_out)} are left out (PEtab v1 cannot express them).",
                 "One SBML model holds every study's model side by side (ids prefixed with the "
                 "study id); every condition runs all blocks, a study's observables read its own "
                 "block only. Noise: log-normal with the log-scale SD of the joint fit "
                 "(noiseParameters), nothing estimated but the model parameters.", "", "In:"]
        lines += [f"  {t['observable']}: {t['study']} {t['site']} at {t['time_h']:g} h ({t['unit']})"
                  for t in self.exported]
        lines += ["", "Left out:"]
        lines += [f"  {t['study']} {t['site']} at {t['time_h']:g} h ({t['unit']}, {t['kind']}): {t['why']}"
                  for t in self.left_out]
        return "\n".join(lines) + "\n"

    def write(self, directory: str | os.PathLike) -> list[Path]:
        """The PEtab files and :data:`README` into ``directory``, all or none."""
        return self.problem.write(directory, extra={README: self.readme()})


def _why_not(study: Study, term: CalibrationTerm) -> str | None:
    """Why PEtab v1 cannot express ``term`` of ``study`` (None: it can)."""
    o = study.observations[term.index]
    if term.kind != "value":
        return f"a reported {term.kind} bound (a censored term); PEtab v1 has no censored measurements"
    if term.unit == "percent_of_initial":
        ref = o.reference_h if o.reference_h is not None else min(
            x.time_h for x in study.observations if x.site == o.site)
        return (f"a percentage of the model's own value at {ref:g} h; a PEtab v1 observable is a "
                "function of the state at the measurement time only")
    if o.relative_to is not None:
        return f"a share of the model's {o.relative_to} readout, not a fixed multiple of the state"
    if study.method not in _READOUT:
        return (f"assay {study.method!r} reads label kinetics or optics that the SBML model does "
                "not contain")
    if term.unit not in _UNITS:
        return f"unit {term.unit!r} (exported: {', '.join(_UNITS)})"
    return None


def _prefixed(doc: libsbml.SBMLDocument, prefix: str, keep: set[str]) -> None:
    """Rename every SId of ``doc`` but ``keep`` (and units) to ``prefix + id``, references too."""
    m = doc.getModel()
    elements = m.getListOfAllElements()
    ids = {e.getId() for e in elements if e.isSetId() and not isinstance(e, libsbml.UnitDefinition)}
    ids -= keep | {""}
    ids.discard(m.getId())
    for e in elements:
        if e.isSetId() and e.getId() in ids:
            e.setId(prefix + e.getId())
            if e.isSetName():
                e.setName(f"{prefix}{e.getName()}")
        for old in ids:
            e.renameSIdRefs(old, prefix + old)


def _merged(blocks: list[tuple[str, libsbml.SBMLDocument]], shared: list[str]) -> libsbml.SBMLDocument:
    """One document with every block's species, parameters, reactions, rules and events; the
    units, compartment and ``shared`` parameters of the first block once."""
    first = blocks[0][1].getModel()
    doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
    m = doc.createModel()
    m.setId("mscpk_joint_calibration")
    m.setName("mscpk joint calibration: " + ", ".join(sid for sid, _ in blocks))
    for attr in ("TimeUnits", "SubstanceUnits", "ExtentUnits", "VolumeUnits"):
        getattr(m, f"set{attr}")(getattr(first, f"get{attr}")())
    for u in first.getListOfUnitDefinitions():
        m.addUnitDefinition(u)
    for c in first.getListOfCompartments():
        m.addCompartment(c)
    for _, bdoc in blocks:
        b = bdoc.getModel()
        for s in b.getListOfSpecies():
            m.addSpecies(s)
        for p in b.getListOfParameters():
            if m.getParameter(p.getId()) is None:
                m.addParameter(p)
        for r in b.getListOfRules():
            m.addRule(r)
        for r in b.getListOfReactions():
            m.addReaction(r)
        for e in b.getListOfEvents():
            m.addEvent(e)
    missing = [p for p in shared if m.getParameter(p) is None]
    if missing:  # pragma: no cover - guard
        raise RuntimeError(f"merged SBML: estimated parameters missing: {missing}")
    return doc


def _rename(formula: str, prefix: str, ids: set[str]) -> str:
    """``formula`` with every one of ``ids`` prefixed (numbers such as ``1e-05`` untouched)."""
    return _ID.sub(lambda mt: prefix + mt.group(0) if mt.group(0) in ids else mt.group(0), formula)


def calibration_petab(studies: Sequence[str | Study] | None = None,
                      estimate: Sequence[str] | str | None = None) -> CalibrationPetab:
    """The joint calibration of ``estimate`` over ``studies`` (as :func:`calibrate` chooses
    them) as one PEtab v1 problem: the estimated parameters (log10 scale, the fit's search
    bounds, nominal = default) act on the rate constants of every block exactly
    (:func:`~mscpk.analysis.petab.add_estimated`); each exported term is a measurement of its
    own observable, ``100 * readout / dose`` (percent_dose) or the readout (cells), log-normal
    with the fit's log-scale SD. Censored bounds and percentages of an earlier value are left
    out and listed. Raises :class:`~mscpk.errors.FitError`."""
    names, chosen, loglik = calibration_problem(studies, estimate)
    lower, upper = (np.array([float(f"{math.exp(x):.12g}") for x in b]) for b in loglik.bounds())
    nominal = np.clip([float(f"{math.exp(x):.12g}") for x in loglik.start()], lower, upper)

    blocks, obs_rows, meas_rows, exported, left_out = [], [], [], [], []
    ids: list[str] | None = None
    for study in chosen:
        fm = ForwardModel(study.scenario, names)
        doc = build_sbml_document(fm.scenario, saturation=None, params=fm.parameter_set(np.log(nominal)))
        got = add_estimated(doc, fm, names, nominal, lower, upper, allow_idle=True)
        if ids is not None and got != ids:  # pragma: no cover - guard
            raise RuntimeError(f"study {study.id!r}: estimated ids {got} differ from {ids}")
        ids = got
        keep = set(ids) | {c.getId() for c in doc.getModel().getListOfCompartments()}
        species = tuple(s.getId() for s in doc.getModel().getListOfSpecies())
        prefix = f"{study.id}_"
        terms = calibration_terms(study)
        times = sorted({0.0} | {t.time_h for t in terms})
        administered = simulate(fm.scenario, times_h=times).administered
        info = resolve_label(resolve(fm.scenario), fm.label_name)
        for t in terms:
            row = {"study": study.id, "site": t.site, "time_h": t.time_h, "unit": t.unit, "kind": t.kind}
            why = _why_not(study, t)
            if why is None and not administered[times.index(t.time_h)] > 0:
                why = "before the dose"
            if why is not None:
                left_out.append({**row, "why": why})
                continue
            readout = _rename(readout_formula(t.site, _READOUT[study.method], species, info), prefix, set(species))
            dose = float(administered[times.index(t.time_h)])
            oid = f"obs_{study.id}_{t.index}"
            obs_rows.append({
                "observableId": oid, "observableName": f"{study.id} {t.site} {t.unit}",
                "observableFormula": f"100 * ({readout}) / {dose!r}" if t.unit == "percent_dose" else readout,
                "observableTransformation": "log", "noiseFormula": f"noiseParameter1_{oid}",
                "noiseDistribution": "normal"})
            meas_rows.append({"observableId": oid, "simulationConditionId": f"c_{study.id}",
                              "measurement": t.value, "time": t.time_h, "noiseParameters": t.sdlog})
            exported.append({**row, "observable": oid})
        _prefixed(doc, prefix, keep)
        blocks.append((study.id, doc))
    if not exported:
        raise FitError("none of the studies' terms can be a PEtab v1 measurement: "
                       + "; ".join(f"{t['study']} {t['site']}: {t['why']}" for t in left_out))
    sbml = libsbml.writeSBMLToString(_merged(blocks, ids))
    cond = pd.DataFrame({"conditionId": [f"c_{sid}" for sid, _ in blocks],
                         "conditionName": [sid for sid, _ in blocks]})
    par = pd.DataFrame({"parameterId": ids, "parameterName": names, "parameterScale": "log10",
                        "lowerBound": lower, "upperBound": upper, "nominalValue": nominal, "estimate": 1})
    problem = PetabProblem(sbml, cond, pd.DataFrame(meas_rows), pd.DataFrame(obs_rows), par)
    return CalibrationPetab(problem, exported, left_out)


def export_calibration_petab(directory: str | os.PathLike, studies: Sequence[str | Study] | None = None,
                             estimate: Sequence[str] | str | None = None) -> CalibrationPetab:
    """:func:`calibration_petab` written into ``directory`` (PEtab files and README.txt)."""
    cp = calibration_petab(studies, estimate)
    cp.write(directory)
    return cp
