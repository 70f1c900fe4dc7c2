"""``POST /v1/ask``: one question, the answer JSON of ``cra ask --json`` (plus ``answer_id``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request

from service.api.answering import answer_once
from service.api.depends import CurrentCaller, authorize_patient, note
from service.api.models import AskRequest
from service.api.thread_access import bound_patient, thread_key, thread_state, turn

__all__ = ["router"]

router = APIRouter(tags=["answers"])


@router.post("/v1/ask")
async def ask(body: AskRequest, request: Request, caller: CurrentCaller) -> dict[str, Any]:
    """Answer one question from the guidelines and, when given, one patient's record.

    With a ``thread_id`` the question continues the caller's own thread of that id (a new one
    when the caller has none): its patient is the thread's, decided and authorized inside the
    turn, and turns of one thread run one at a time. Without one, the answer starts a new
    thread whose id comes back in ``thread_id``.
    """
    thread_id = body.thread_id or uuid.uuid4().hex
    note(request, thread_id=thread_id)
    key = thread_key(caller.id, thread_id)
    async with turn(request, key):
        state = await thread_state(request, key) if body.thread_id else {}  # a fresh id has none
        patient = bound_patient(state, body.patient_id)
        authorize_patient(request, caller, patient)
        return await answer_once(
            request, caller, body.question, shown_thread=thread_id,
            patient_id=patient, thread_id=key, as_of=body.as_of, patient_fixed=True,
        )  # fmt: skip
