"""Study data (biodistribution measurements): reading CSV/XLSX, column checks, units and
conversion to cells, dosing records (EVID 1) -> scenario doses. The format and its rules are specified in docs/studydata.md.

>>> from mscpk.inputs.studydata import normalise_unit
>>> normalise_unit("cells/uL")
'cells/uL'
"""

from mscpk.inputs.studydata.columns import MAX_VALUE, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from mscpk.inputs.studydata.dosing import DOSING_COLUMNS, doses_from_records, scenario_with_doses
from mscpk.inputs.studydata.convert import DNA_PER_CELL_PG, dna_mass_ug, to_cells
from mscpk.inputs.studydata.read import read_study, study_from_frame
from mscpk.inputs.studydata.study import EXCLUDED_COLUMNS, MAX_PROBLEM_LINES, StudyData
from mscpk.inputs.studydata.units import (ALLOWED_UNITS, UnitOptions, normalise_unit, unit_ratio,
                                          ureg)

__all__ = ["ALLOWED_UNITS", "DNA_PER_CELL_PG", "DOSING_COLUMNS", "doses_from_records",
           "scenario_with_doses", "EXCLUDED_COLUMNS", "MAX_PROBLEM_LINES", "MAX_VALUE",
           "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "StudyData", "UnitOptions", "read_study",
           "study_from_frame", "to_cells", "dna_mass_ug", "normalise_unit", "unit_ratio", "ureg"]
