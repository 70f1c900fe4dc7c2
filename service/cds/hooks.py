"""The work of each hook, from gathered FHIR resources to cards (synchronous; run in a worker thread)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from agent.assessing import run_assessments
from agent.medication_checks import check_order, draft_from_resource
from assessments.preventive import preventive_status
from patient_index.events import TIMELINE_TYPES, event_id, resource_events
from patient_index.flags import EGFR_CODES, clinical_time
from patient_index.summary import build_summary
from service.cds.cards import (
    CARD_ASSESSMENTS,
    Card,
    assessment_cards,
    care_gap_cards,
    covered_flags,
    finding_cards,
    flag_cards,
)
from service.cds.errors import CdsError
from service.cds.knowledge import Knowledge

__all__ = ["order_cards", "patient_view_cards", "summarise", "timeline"]


def timeline(resources: Sequence[Mapping[str, Any]], patient_id: str) -> list[dict[str, Any]]:
    """The timeline events of the gathered resources (one patient's, already filtered)."""
    return [
        e
        for r in resources
        if r.get("resourceType") in TIMELINE_TYPES
        for e in resource_events(dict(r), patient_id)
    ]


def summarise(resources: Sequence[Mapping[str, Any]], patient_id: str, as_of: date) -> dict[str, Any]:
    """The record summary of the gathered resources (one patient's, already filtered)."""
    return build_summary(timeline(resources, patient_id), as_of=as_of)


def _deceased(resources: Sequence[Mapping[str, Any]], as_of: date) -> bool:
    for r in resources:
        if r.get("resourceType") == "Patient":
            if r.get("deceasedBoolean") is True:
                return True
            when = clinical_time(r.get("deceasedDateTime"))
            return when is not None and when[0] <= as_of
    return False


def patient_view_cards(
    resources: Sequence[Mapping[str, Any]], patient_id: str, as_of: date, knowledge: Knowledge, base: str
) -> list[Card]:
    """Assessment cards (statin, CKD stage and referral, BP, glycemic status: the assessments the agent
    cites too), early-warning flag cards no assessment card covers, and care-gap cards: the USPSTF
    services :func:`assessments.preventive.preventive_status` finds due (or due if a risk is present)."""
    if not any(r.get("resourceType") == "Patient" for r in resources):
        raise CdsError(412, "precondition_failed", "the Patient resource is needed (prefetch key 'patient')")
    events = timeline(resources, patient_id)
    summary = build_summary(events, as_of=as_of)
    patient_cite = [event_id(patient_id, "Patient", patient_id)]  # age and sex come from it
    cards: list[Card] = []
    if summary.get("age") is not None and not _deceased(resources, as_of):
        statuses = preventive_status(events, knowledge.recommendations, as_of=as_of, summary=summary)
        cards += care_gap_cards(
            [s for s in statuses if s.status in ("due", "conditional")], base, patient_cite
        )
    records = run_assessments(events, list(CARD_ASSESSMENTS), as_of=as_of, summary=summary)
    assessed = assessment_cards(
        records, {r["json"]["id"]: knowledge.passage_for_assessment(r) for r in records}, base
    )
    carded = [str(trace["kind"]).removeprefix("assessment:") for _, trace in assessed]
    flags = covered_flags(summary.get("flags") or [], carded)
    passages = {f["threshold_source"]: knowledge.passage_for(f["threshold_source"]) for f in flags}
    return assessed + flag_cards(flags, passages, base) + cards  # the patient's own values first


def _latest_egfr(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    values = [v for code, v in (summary.get("latest") or {}).items() if code in EGFR_CODES]
    return max(values, key=lambda v: str(v.get("date", "")), default=None)


def _drafts(context: Mapping[str, Any], hook: str) -> list[dict[str, Any]]:
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise CdsError(400, "invalid_context", "context.draftOrders must be a FHIR Bundle")
    orders = [e.get("resource") for e in bundle.get("entry") or [] if isinstance(e, dict)]
    meds = [r for r in orders if isinstance(r, dict) and r.get("resourceType") == "MedicationRequest"]
    if hook == "order-select":
        selections = context.get("selections")
        if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
            raise CdsError(400, "invalid_context", "context.selections must be a list of references")
        meds = [r for r in meds if f"MedicationRequest/{r.get('id', '')}" in selections]
    return meds


def order_cards(
    context: Mapping[str, Any],
    hook: str,
    resources: Sequence[Mapping[str, Any]],
    patient_id: str,
    as_of: date,
    knowledge: Knowledge,
    base: str,
) -> list[Card]:
    """Warning/critical cards for each draft MedicationRequest the guidelines have something to say about."""
    drafts = _drafts(context, hook)
    if not drafts:
        return []
    summary = summarise(resources, patient_id, as_of)
    egfr, active = _latest_egfr(summary), summary.get("medications") or []
    cards: list[Card] = []
    for resource in drafts:
        order = draft_from_resource(resource)
        cards += finding_cards(order, check_order(order, knowledge.rules, egfr=egfr, active=active), base)
    return cards
