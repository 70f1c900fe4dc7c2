"""Which USPSTF recommendations apply to a patient, and which are care gaps: moved to ``assessments``.

The eligibility rules live in :mod:`assessments.preventive_eligibility` (age, sex, population text:
what the CDS Hooks cards list) and the *due* decision (population confirmed by the record, last
service against its interval) in :mod:`assessments.preventive`. This module re-exports the
eligibility names so existing imports keep working.
"""

from assessments.preventive_eligibility import (
    GAP_GRADES,
    RISK_FACTORS,
    CareGap,
    GapStatus,
    Recommendation,
    applies_to,
    care_gaps,
    eligible_recommendations,
    recommendations_from_json,
    recommendations_from_payloads,
    risk_factors_from_summary,
)

__all__ = [
    "GAP_GRADES",
    "RISK_FACTORS",
    "CareGap",
    "GapStatus",
    "Recommendation",
    "applies_to",
    "care_gaps",
    "eligible_recommendations",
    "recommendations_from_json",
    "recommendations_from_payloads",
    "risk_factors_from_summary",
]
