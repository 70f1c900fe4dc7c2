"""The CDS services this server offers, with the prefetch templates each one asks the EHR for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assessments.preventive_services import SERVICES as PREVENTIVE_SERVICES
from patient_index.flags import BMI_CODES, DBP_CODES, EGFR_CODES, HBA1C_CODES, LDL_CODES, SBP_CODES

__all__ = ["PATIENT_VIEW_OBSERVATION_CODES", "SERVICES", "CdsService", "discovery"]

_PATIENT = "Patient/{{context.patientId}}"
_EGFR_CODES = ",".join(EGFR_CODES)
# Blood pressure usually arrives as a panel whose components carry the systolic and diastolic codes;
# a `code` search matches the panel's own code, so the panels are asked for by name.
_BP_PANELS = ("85354-9", "55284-4")
# The inputs of the assessment cards beyond the flags' series: creatinine (eGFR recomputed),
# total and HDL cholesterol (PCE), urine albumin-to-creatinine ratio, smoking status.
_ASSESSMENT_INPUTS = ("2160-0", "38483-4", "2093-3", "2085-9", "9318-7", "14959-1", "32294-1", "72166-2")
# patient-view reads only these series (the early-warning flags, the BMI risk factor and the
# assessments' inputs), so only these are asked for: the minimum necessary.
# Observations that record a USPSTF service being done (screening questionnaires, tests): a service
# inside its interval is not due (assessments.preventive_services).
_SERVICE_CODES = tuple(sorted({code for s in PREVENTIVE_SERVICES.values() for code in s.loinc}))
PATIENT_VIEW_OBSERVATION_CODES = tuple(dict.fromkeys((
    *EGFR_CODES, *HBA1C_CODES, *LDL_CODES, *SBP_CODES, *DBP_CODES, *_BP_PANELS, *BMI_CODES, *_ASSESSMENT_INPUTS,
    *_SERVICE_CODES,
)))  # fmt: skip


@dataclass(frozen=True)
class CdsService:
    """One entry of the discovery document, plus what the service needs and requires in context."""

    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str]
    required: tuple[str, ...]  # prefetch keys without which no advice can be given (412)
    context_fields: tuple[str, ...]  # required context fields (400 when absent)
    usage: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(self.prefetch),
        }
        if self.usage:
            out["usageRequirements"] = self.usage
        return out


_ORDER_PREFETCH = {
    "patient": _PATIENT,
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "egfr": "Observation?patient={{context.patientId}}&code=" + _EGFR_CODES,
}
_ORDER_USAGE = (
    "Checks MedicationRequest drafts against the indexed guidelines' dose tables, eGFR limits and named "
    "interactions, and the patient's active medications. Needs the prefetch or fhirServer access."
)

SERVICES: dict[str, CdsService] = {
    s.id: s
    for s in (
        CdsService(
            id="cra-care-gaps",
            hook="patient-view",
            title="Care gaps and early warnings",
            description=(
                "USPSTF grade A/B recommendations due for the patient (age, sex, the population the record "
                "confirms, no service within its interval), computed guideline assessments and early "
                "warnings from recent labs and vital signs, each citing its source."
            ),
            prefetch={
                "patient": _PATIENT,
                "conditions": "Condition?patient={{context.patientId}}",
                "observations": "Observation?patient={{context.patientId}}&code="
                + ",".join(PATIENT_VIEW_OBSERVATION_CODES),
                # optional: without them a service done in its interval is not seen, and is shown due
                "procedures": "Procedure?patient={{context.patientId}}",
                "immunizations": "Immunization?patient={{context.patientId}}",
            },
            required=("patient", "conditions", "observations"),
            context_fields=("userId", "patientId"),
        ),
        CdsService(
            id="cra-medication-check",
            hook="order-sign",
            title="Medication order check",
            description="Dose range, renal function, duplicate therapy and interactions for draft medication orders.",
            prefetch=dict(_ORDER_PREFETCH),
            required=("patient", "medications", "egfr"),
            context_fields=("userId", "patientId", "draftOrders"),
            usage=_ORDER_USAGE,
        ),
        CdsService(
            id="cra-medication-select",
            hook="order-select",
            title="Medication selection check",
            description="The same checks as cra-medication-check, on the newly selected medication orders.",
            prefetch=dict(_ORDER_PREFETCH),
            required=("patient", "medications", "egfr"),
            context_fields=("userId", "patientId", "selections", "draftOrders"),
            usage=_ORDER_USAGE,
        ),
    )
}


def discovery() -> dict[str, Any]:
    """The discovery document (``GET /cds-services``)."""
    return {"services": [s.as_json() for s in SERVICES.values()]}
