"""Threads: create one for a patient, stream answers into it (SSE), read it back."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import StreamingResponse

from service.api.answering import answer_stream
from service.api.depends import CurrentCaller, authorize_patient, note
from service.api.models import MessageRequest, ThreadCreate
from service.api.sse import sse_response

__all__ = ["router", "thread_patient", "thread_state"]

router = APIRouter(tags=["threads"])
ThreadId = Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def thread_state(request: Request, thread_id: str) -> dict[str, Any]:
    """The checkpointed values of ``thread_id`` (``{}`` for a thread never created)."""
    graph = request.app.state.deps.agent.graph
    snapshot = await anyio.to_thread.run_sync(graph.get_state, _config(thread_id))
    return dict(snapshot.values)


async def thread_patient(request: Request, thread_id: str) -> str | None:
    """The patient a thread is bound to, if any (``None`` also for an unknown thread)."""
    patient = (await thread_state(request, thread_id)).get("patient_id")
    return str(patient) if patient else None


async def _existing(request: Request, caller: CurrentCaller, thread_id: str) -> dict[str, Any]:
    note(request, thread_id=thread_id)
    state = await thread_state(request, thread_id)
    if not state:
        raise HTTPException(404, f"no thread {thread_id}; create one with POST /v1/threads")
    authorize_patient(request, caller, state.get("patient_id"))
    return state


@router.post("/v1/threads", status_code=201)
async def create_thread(body: ThreadCreate, request: Request, caller: CurrentCaller) -> dict[str, Any]:
    """A new thread; every message in it is about ``patient_id`` (or no patient)."""
    authorize_patient(request, caller, body.patient_id)
    thread_id = uuid.uuid4().hex
    note(request, thread_id=thread_id)
    graph = request.app.state.deps.agent.graph
    # Recorded as if a turn had finished: the next question starts a fresh run bound to this patient.
    await anyio.to_thread.run_sync(
        lambda: graph.update_state(
            _config(thread_id), {"patient_id": body.patient_id, "history": []}, as_node="finish"
        )
    )
    return {"thread_id": thread_id, "patient_id": body.patient_id}


@router.post("/v1/threads/{thread_id}/messages")
async def post_message(
    body: MessageRequest, request: Request, caller: CurrentCaller, thread_id: str = ThreadId
) -> StreamingResponse:
    """Stream the answer: ``token`` events while the model writes, then one ``answer`` event."""
    state = await _existing(request, caller, thread_id)
    events = await answer_stream(
        request,
        caller,
        body.question,
        patient_id=state.get("patient_id"),
        thread_id=thread_id,
        as_of=body.as_of,
    )
    return sse_response(events)


@router.get("/v1/threads/{thread_id}")
async def get_thread(request: Request, caller: CurrentCaller, thread_id: str = ThreadId) -> dict[str, Any]:
    """The thread's patient and its turns (question, answer, mode), oldest first."""
    state = await _existing(request, caller, thread_id)
    turns = [
        {"question": t.get("question", ""), "answer": t.get("answer", ""), "mode": t.get("mode", "")}
        for t in state.get("history", [])
    ]
    return {"thread_id": thread_id, "patient_id": state.get("patient_id"), "messages": turns}
