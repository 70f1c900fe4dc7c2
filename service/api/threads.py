"""Threads: create one for a patient, stream answers into it (SSE), read it back.

Every route reaches only the caller's own threads (:mod:`service.api.thread_access`): another
key's thread of the same id is 404, whatever its role, except for an admin that names the
owner with ``?owner=KEY_ID``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from service.api.answering import answer_stream
from service.api.depends import CurrentCaller, authorize_patient, note
from service.api.models import MessageRequest, ThreadCreate
from service.api.sse import sse_response
from service.api.thread_access import bound_patient, owner_key, thread_key, thread_state, turn

__all__ = ["router"]

router = APIRouter(tags=["threads"])
ThreadId = Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
Owner = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Admin keys only: the key id that owns the thread."
    ),
]


def _missing(thread_id: str) -> HTTPException:
    return HTTPException(404, f"no thread {thread_id} of this API key; create one with POST /v1/threads")


@router.post("/v1/threads", status_code=201)
async def create_thread(body: ThreadCreate, request: Request, caller: CurrentCaller) -> dict[str, Any]:
    """A new thread of this key; every message in it is about ``patient_id`` (or no patient)."""
    authorize_patient(request, caller, body.patient_id)
    thread_id = uuid.uuid4().hex
    note(request, thread_id=thread_id)
    graph = request.app.state.deps.agent.graph
    config = {"configurable": {"thread_id": thread_key(caller.id, thread_id)}}
    # Recorded as if a turn had finished: the next question starts a fresh run bound to this patient.
    await anyio.to_thread.run_sync(
        lambda: graph.update_state(config, {"patient_id": body.patient_id, "history": []}, as_node="finish")
    )
    return {"thread_id": thread_id, "patient_id": body.patient_id}


@router.post("/v1/threads/{thread_id}/messages")
async def post_message(
    body: MessageRequest, request: Request, caller: CurrentCaller, thread_id: str = ThreadId
) -> StreamingResponse:
    """Stream the answer: ``token`` events while the model writes, then one ``answer`` event."""
    note(request, thread_id=thread_id)
    key = thread_key(caller.id, thread_id)
    async with turn(request, key) as held:
        state = await thread_state(request, key)
        if not state:
            raise _missing(thread_id)
        patient = bound_patient(state, None)
        authorize_patient(request, caller, patient)
        events = await answer_stream(
            request, caller, body.question, held=held, shown_thread=thread_id,
            patient_id=patient, thread_id=key, as_of=body.as_of, patient_fixed=True,
        )  # fmt: skip
    return sse_response(events)


@router.get("/v1/threads/{thread_id}")
async def get_thread(
    request: Request, caller: CurrentCaller, thread_id: str = ThreadId, owner: Owner = None
) -> dict[str, Any]:
    """The thread's patient and its turns (question, answer, mode), oldest first."""
    note(request, thread_id=thread_id)
    state = await thread_state(request, owner_key(request, caller, thread_id, owner))
    if not state:
        raise _missing(thread_id)
    authorize_patient(request, caller, state.get("patient_id"))
    turns = [
        {"question": t.get("question", ""), "answer": t.get("answer", ""), "mode": t.get("mode", "")}
        for t in state.get("history", [])
    ]
    return {"thread_id": thread_id, "patient_id": state.get("patient_id"), "messages": turns}
