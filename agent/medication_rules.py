"""Medication rules read from indexed guideline passages: moved to :mod:`assessments.medication_rules`.

Re-exported here so the CDS order checks and older imports keep working.
"""

from assessments.medication_rules import (
    Cite,
    DoseRange,
    Interaction,
    MedicationRules,
    RenalLimit,
    extract_rules,
    name_key,
)

__all__ = ["Cite", "DoseRange", "Interaction", "MedicationRules", "RenalLimit", "extract_rules", "name_key"]
