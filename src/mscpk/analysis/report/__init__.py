"""The druggability report as data (``mscpk report``; rendered by :mod:`mscpk.interfaces.report`):
the NMPA guidance items (distribution, migration, homing, persistence, death) answered from the
model, with the detection plan, embolic safety, NCA and fit, qualification, parameters,
limitations and inputs. Specification: docs/report.md.
"""

from mscpk.analysis.report.build import SECTION_KEYS, assemble_report
from mscpk.analysis.report.content import Figure, ReportContent, Section, Table, fmt
from mscpk.analysis.report.inputs import ReportError, ReportInputs, check_inputs, fit_from_dict

__all__ = ["assemble_report", "SECTION_KEYS", "ReportContent", "Section", "Table", "Figure", "fmt", "ReportError",
           "ReportInputs", "check_inputs", "fit_from_dict"]
