"""Running the computable assessments for one patient: the single path the agent and the CDS cards share.

:func:`run_assessments` calls :func:`assessments.assess` on the patient's timeline events and
turns each :class:`assessments.model.Assessment` into a plain, JSON-ready record (it lives in the
checkpointed graph state): ``json`` is ``Assessment.to_json()`` (what the answer JSON and
``cra patient assess`` show) and ``passage_query`` is the text that finds the guideline passage the
rule implements. :func:`input_events` gives the record entries the assessments read, so they can be
cited as ``[P#]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

__all__ = ["AssessmentRecord", "dose_checks", "extra_types", "input_events", "run_assessments"]

log = logging.getLogger(__name__)

AssessmentRecord = dict[str, Any]
_EVENT_FIELDS = ("patient_id", "resource_type", "resource_id", "date", "text", "display", "code")


def _record(assessment: Any) -> AssessmentRecord:
    source = assessment.source
    return {
        "json": assessment.to_json(),
        "passage_query": str(getattr(source, "passage_query", "") or source.title),
        "event_ids": list(assessment.event_ids),
        "sufficient": bool(assessment.sufficient),
    }


def run_assessments(
    events: Sequence[Mapping[str, Any]],
    wanted: Sequence[str],
    *,
    as_of: date | None = None,
    summary: Mapping[str, Any] | None = None,
) -> list[AssessmentRecord]:
    """The ``wanted`` assessments of one patient, in the order asked (an empty list asks for none).

    Args:
        events: All timeline events of one patient (already confined to that patient).
        wanted: Assessment ids (see :func:`agent.planner.assessments_for`).
        as_of: The day judged; later data is ignored.
        summary: The ``build_summary`` output for the same events and day, when already built.

    Returns:
        One record per computed assessment; none when the ``assessments`` package is missing.
    """
    if not wanted or not events:
        return []
    try:
        from assessments import assess
    except ImportError:
        log.warning("the assessments package is not installed; no assessments computed")
        return []
    found = assess(
        [dict(e) for e in events], as_of=as_of, summary=dict(summary) if summary else None, only=list(wanted)
    )
    order = {aid: n for n, aid in enumerate(wanted)}
    found = sorted(found, key=lambda a: order.get(a.id, len(order)))
    return [_record(a) for a in found]


def extra_types(wanted: Sequence[str], base: Sequence[str]) -> tuple[str, ...]:
    """The record types the ``wanted`` assessments read beyond ``base`` (a revascularization
    Procedure makes clinical ASCVD); none when nothing is wanted or the package is absent."""
    if not wanted:
        return ()
    try:
        from assessments import ASSESSMENT_TYPES
    except ImportError:
        return ()
    return tuple(t for t in ASSESSMENT_TYPES if t not in base)


def dose_checks(
    question: str,
    events: Sequence[Mapping[str, Any]] = (),
    *,
    as_of: date | None = None,
    records: Sequence[AssessmentRecord] = (),
) -> list[AssessmentRecord]:
    """Dose checks for the drugs the question names with a dose (label maximum, renal bands at the
    computed eGFR), as records; with or without a patient.

    Args:
        question: The question, e.g. "Confirm atorvastatin 800 mg as high-intensity".
        events: The patient's timeline events (empty without a patient).
        as_of: The day judged.
        records: Assessments computed already; a computed eGFR among them is reused.
    """
    try:
        from assessments.doses import dose_assessments
    except ImportError:
        return []
    egfr = next((r["json"].get("value") for r in records if r["json"]["id"] == "egfr_ckd_epi_2021"), None)
    found = dose_assessments(question, [dict(e) for e in events], egfr=egfr, as_of=as_of)
    return [_record(a) for a in found]


def input_events(
    events: Sequence[Mapping[str, Any]], records: Sequence[AssessmentRecord]
) -> dict[str, dict[str, Any]]:
    """Event id -> the fields a ``[P#]`` item needs, for every entry the assessments read."""
    needed = {eid for r in records for eid in r["event_ids"]}
    return {
        str(e["event_id"]): {k: e.get(k, "") for k in _EVENT_FIELDS}
        for e in events
        if str(e.get("event_id")) in needed
    }
