"""Species physiology: organ volumes, blood flows and capillary geometry, loaded from TOML.

One field table (:mod:`~mscpk.inputs.physiology.fields`), one validation
(:func:`check_species`) for species files, scaling and ``[parameters]`` overrides. The file
format is described in docs/physiology.md.
"""

from __future__ import annotations

from mscpk.inputs.physiology.fields import BODY_FIELDS, ORGAN_FIELDS, REQUIRED_ORGANS, Field, Rule
from mscpk.inputs.physiology.overrides import apply_physiology, physiology_names
from mscpk.inputs.physiology.parse import available_species, load_species, species_from_file
from mscpk.inputs.physiology.species import (CARDIAC_OUTPUT_EXPONENT, Capillary, Organ, Species,
                                             check_species)

__all__ = ["Capillary", "Organ", "Species", "REQUIRED_ORGANS", "available_species", "load_species",
           "species_from_file", "apply_physiology", "physiology_names", "check_species", "Field",
           "Rule", "BODY_FIELDS", "ORGAN_FIELDS", "CARDIAC_OUTPUT_EXPONENT"]
