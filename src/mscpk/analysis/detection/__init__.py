"""Detection layer: what each assay or imaging method would report, and study planning.

Every way of tracking MSCs sees something different (review section 2.2, Table 2;
SCIENCE.md 1.4): qPCR counts donor DNA of live and dead cells; direct labels (radionuclides,
SPIO, membrane dyes) leak, dilute with division, decay and end up in macrophages after the
cell dies; reporter genes report live cells only; optical signals fade with depth; every
method has a detection limit and samples only part of an organ.

* :func:`label_kinetics` - label states solved alongside the engine's cells (same solver);
* :func:`observe` - simulated readout of one assay (INTERFACE "Detection" columns);
* :func:`detection_windows` - first and last detectable time per assay and site;
* :func:`design_study` / :func:`simulate_study` - methods, sampling times and group sizes
  for the NMPA guidance items, and a virtual destructive-sampling dataset (Study data format);
* :func:`knowledge_table` - the review's Table 1 (products) and Table 2 (methods) as data;
* :func:`detection_parameter_rows` / :func:`apply_detection_overrides` - label and method
  parameters by name (``"qPCR detection limit [cells]"``), overridable from a scenario.

Specification: docs/detection.md.

>>> sorted(knowledge_table("methods")["assay"])[:3]
['bli', 'flow', 'fluorescence']
"""

from __future__ import annotations

from mscpk.analysis.detection.labels import (LabelKinetics, build_label_network, label_kinetics, label_per_cell,
                                            label_positive_fraction)
from mscpk.analysis.detection.observation import expected_signals, observe
from mscpk.analysis.detection.study import GUIDANCE_ITEMS, animals_per_time, design_study, simulate_study
from mscpk.analysis.detection.windows import detection_windows, format_intervals, intervals
from mscpk.inputs.catalogue import (ASSAY_UNITS, ASSAYS, KNOWLEDGE_TABLES, LabelInfo, MethodInfo, knowledge_table,
                                    label_info, label_names, method_info, supported_assays)
from mscpk.inputs.detection import (DetectionSettings, apply_detection_overrides, detection_parameter_names,
                                    detection_parameter_rows, is_detection_parameter)

__all__ = ["observe", "expected_signals", "detection_windows", "intervals", "format_intervals", "design_study",
           "simulate_study", "knowledge_table", "label_kinetics", "LabelKinetics", "build_label_network",
           "label_per_cell", "label_positive_fraction", "animals_per_time", "GUIDANCE_ITEMS", "ASSAYS",
           "ASSAY_UNITS", "KNOWLEDGE_TABLES", "LabelInfo", "MethodInfo", "label_info", "label_names", "method_info",
           "supported_assays", "DetectionSettings", "apply_detection_overrides", "detection_parameter_rows",
           "detection_parameter_names", "is_detection_parameter"]
