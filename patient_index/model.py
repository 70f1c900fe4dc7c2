"""The timeline event: one clinical fact of one patient, as stored in the patient collection.

Every FHIR resource becomes one or more events (an Observation with components becomes one
event per component; a clinical note becomes one event per chunk of its text). The payload
below is what Qdrant stores and what summaries, flags and citations are computed from.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["Event", "EventFields", "ReferenceRange"]


class ReferenceRange(TypedDict, total=False):
    low: float | None
    high: float | None
    unit: str
    text: str


class EventFields(TypedDict, total=False):
    """Payload of one timeline event: the documented schema (keys the summary relies on are always present)."""

    event_id: str  # the point id (UUID string); what a citation names
    patient_id: str  # the FHIR Patient id (not the Bundle fullUrl)
    resource_type: str  # Patient, Encounter, Condition, Observation, MedicationRequest, ...
    resource_id: str
    part: str  # "" for the resource itself, "component:<code>" or "chunk:<n>" for pieces of it
    version: str  # meta.versionId or meta.lastUpdated, "" when absent
    code_system: str  # e.g. "http://loinc.org", "http://snomed.info/sct", RxNorm, CVX
    code: str
    display: str
    category: str  # e.g. "vital-signs", "laboratory", "encounter-diagnosis", encounter class "AMB"
    value: float | str | None  # numeric values as float, normalised to the series' canonical unit
    unit: str
    original_value: float | None  # as recorded, when a unit conversion was applied
    original_unit: str
    unit_flag: str  # "" or why the unit could not be normalised (the value is then not comparable)
    reference_range: ReferenceRange | None
    interpretation: str  # e.g. "H", "L", "N", "abnormal", or a display text
    date: str  # clinical date, ISO 8601 as recorded (effective / onset / performed / authored ...)
    date_ts: float | None  # the same instant as seconds since the epoch (UTC), for range filters
    end_date: str | None  # abatement / period end / medication stop, when given
    status: str  # clinical status for Condition and AllergyIntolerance, resource status otherwise
    text: str  # readable one-line (or note chunk) rendering used for search and display
    # Patient events only
    gender: str
    birth_date: str
    deceased_date: str | None
    race: str  # US Core race OMB category display ("" when not recorded); the PCE are race-specific
    extra: dict[str, Any]


# Code handles events as plain dicts (they go to and come from Qdrant as JSON); EventFields
# above is the schema they follow.
Event = dict[str, Any]
