"""Noncompartmental analysis (NCA) of cell biodistribution data, per GROUP x SITE (x ASSAY),
with CDISC ``PPTESTCD`` codes and PKNCA conventions; specified in docs/nca.md.

>>> from mscpk.analysis.nca import AUC_METHODS
>>> AUC_METHODS
('linear', 'lin up/log down', 'log')
"""

from mscpk.analysis.nca.core import AUC_METHODS, NCAOptions, clean_blq
from mscpk.analysis.nca.driver import bailer_auc, nca
from mscpk.analysis.nca.table import OUTPUT_COLUMNS, PPTEST_NAMES

__all__ = ["NCAOptions", "nca", "clean_blq", "bailer_auc", "OUTPUT_COLUMNS", "PPTEST_NAMES",
           "AUC_METHODS"]
