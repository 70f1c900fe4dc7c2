"""``POST /v1/ask``: one question, the answer JSON of ``cra ask --json`` (plus ``answer_id``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.api.answering import answer_once
from service.api.depends import CurrentCaller, authorize_patient, note
from service.api.models import AskRequest
from service.api.threads import thread_patient

__all__ = ["router"]

router = APIRouter(tags=["answers"])


@router.post("/v1/ask")
async def ask(body: AskRequest, request: Request, caller: CurrentCaller) -> dict[str, Any]:
    """Answer one question from the guidelines and, when given, one patient's record."""
    note(request, thread_id=body.thread_id)
    if body.thread_id and body.patient_id is None:
        body.patient_id = await thread_patient(request, body.thread_id)
    authorize_patient(request, caller, body.patient_id)
    return await answer_once(
        request, caller, body.question, patient_id=body.patient_id, thread_id=body.thread_id, as_of=body.as_of
    )
