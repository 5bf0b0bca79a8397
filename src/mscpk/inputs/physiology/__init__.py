"""Species physiology: organ volumes, blood flows and capillary geometry, loaded from TOML.

One field table (:data:`BODY_FIELDS`, :data:`ORGAN_FIELDS`), one validation
(:func:`check_species`) for species files, scaling and ``[parameters]`` overrides. The file
format is described in docs/physiology.md.
"""

from __future__ import annotations

from mscpk.inputs.physiology.parse import (apply_physiology, available_species, load_species,
                                           physiology_names, species_from_file)
from mscpk.inputs.physiology.species import (BODY_FIELDS, CARDIAC_OUTPUT_EXPONENT, ORGAN_FIELDS,
                                             REQUIRED_ORGANS, Capillary, Field, Organ, Rule,
                                             Species, check_species)

__all__ = ["Capillary", "Organ", "Species", "REQUIRED_ORGANS", "available_species", "load_species",
           "species_from_file", "apply_physiology", "physiology_names", "check_species", "Field",
           "Rule", "BODY_FIELDS", "ORGAN_FIELDS", "CARDIAC_OUTPUT_EXPONENT"]
