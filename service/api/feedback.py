"""``POST /v1/feedback``: a clinician's rating, correction and outcome for one answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from service.api.depends import CurrentCaller, authorize_patient, note
from service.api.models import FeedbackRequest
from service.audit import sha256_text

__all__ = ["router"]

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", status_code=201)
async def give_feedback(body: FeedbackRequest, request: Request, caller: CurrentCaller) -> dict[str, Any]:
    """Store the feedback; ``cra feedback export`` turns it into a de-identified data set."""
    store = request.app.state.feedback
    answer = store.answer(body.answer_id)
    note(request, answer_id=body.answer_id, rating=body.rating, outcome=body.outcome)
    if answer is None:
        raise HTTPException(
            404, f"no answer {body.answer_id}; use the answer_id of an answer from this service"
        )
    authorize_patient(request, caller, answer["patient_id"])
    if body.correction:
        note(request, correction_sha256=sha256_text(body.correction))
    store.add("answer", {**body.model_dump(), "key_id": caller.id})
    return {"stored": True, "answer_id": body.answer_id}
