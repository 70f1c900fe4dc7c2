"""``POST /v1/chat/completions``: the agent behind OpenAI's chat API, streamed or not.

The question is the last user message. The patient comes from the ``X-Patient-ID`` header or
``metadata.patient_id``; a thread from ``X-Thread-ID`` or ``metadata.thread_id`` (without one,
each request stands alone). Citations are listed at the end of the message text and returned
in full in the extra ``citations`` field; ``cra`` carries the whole answer JSON.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import StreamingResponse

from service.api.answering import answer_once, answer_stream
from service.api.depends import CurrentCaller, authorize_patient, note
from service.api.models import PATIENT_ID, THREAD_ID, ChatRequest
from service.api.thread_access import bound_patient, thread_key, thread_state, turn

__all__ = ["router"]

router = APIRouter(tags=["openai"])
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _question(body: ChatRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, list):  # content parts: keep the text ones
                content = " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
            if content and content.strip():
                return content
    raise HTTPException(422, "messages hold no user message with text; the last user message is the question")


def _sources(answer: dict[str, Any]) -> str:
    lines = []
    for c in answer.get("citations", []):
        if c["kind"] == "guideline":
            lines.append(f"[{c['id']}] {c.get('title', '')} ({c.get('issuer', '')} {c.get('published', '')})")
        else:
            lines.append(f"[{c['id']}] {c.get('resource_type', '')} {c.get('date', '')}".rstrip())
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def _completion(answer: dict[str, Any], model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{answer['answer_id']}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer["answer"] + _sources(answer)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": answer["citations"],
        "cra": answer,
    }


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


async def _chunks(events: AsyncIterator[dict[str, Any]], cid: str, model: str) -> AsyncIterator[str]:
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    streamed = ""
    async for event in events:
        if event["type"] == "token":
            streamed += event["text"]
            yield _chunk(cid, model, {"content": event["text"]})
        elif event["type"] == "answer":
            answer = event["answer"]
            # The checked answer may differ from the draft that streamed (a repair or the evidence
            # fallback): then the final text follows a separator, so the client ends with it.
            text = (
                answer["answer"]
                if not streamed
                else ("" if streamed == answer["answer"] else "\n\n---\n" + answer["answer"])
            )
            yield _chunk(cid, model, {"content": text + _sources(answer)})
            yield _chunk(cid, model, {}, "stop", citations=answer["citations"], cra=answer)
        else:
            yield _chunk(cid, model, {"content": "\n\n[error] " + event.get("detail", "")}, "stop")
    yield "data: [DONE]\n\n"


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatRequest,
    request: Request,
    caller: CurrentCaller,
    x_patient_id: Annotated[str | None, Header(pattern=PATIENT_ID)] = None,
    x_thread_id: Annotated[str | None, Header(pattern=THREAD_ID)] = None,
) -> dict[str, Any] | StreamingResponse:
    """OpenAI-compatible chat completion over the agent."""
    meta = body.metadata or {}
    patient_id = x_patient_id or meta.get("patient_id") or None
    thread_id = x_thread_id or meta.get("thread_id") or None
    if patient_id is not None and not _valid_patient(patient_id):
        raise HTTPException(422, "metadata.patient_id is not a FHIR id")
    if thread_id is not None and not re.match(THREAD_ID, thread_id):
        raise HTTPException(422, "metadata.thread_id: use 1-128 letters, digits, '-', '_', '.' or ':'")
    note(request, thread_id=thread_id)
    question = _question(body)
    fresh = thread_id is None  # the request stands alone: a thread of its own that nothing continues
    thread_id = thread_id or uuid.uuid4().hex
    key = thread_key(caller.id, thread_id)
    async with turn(request, key) as held:
        state = {} if fresh else await thread_state(request, key)
        patient = bound_patient(state, patient_id)
        authorize_patient(request, caller, patient)
        kw: dict[str, Any] = {
            "patient_id": patient,
            "thread_id": key,
            "patient_fixed": True,
            "shown_thread": thread_id,
        }
        if not body.stream:
            return _completion(await answer_once(request, caller, question, **kw), body.model)
        events = await answer_stream(request, caller, question, held=held, **kw)
    cid = f"chatcmpl-{request.state.request_id}"
    return StreamingResponse(
        _chunks(events, cid, body.model), media_type="text/event-stream", headers=_HEADERS
    )


def _valid_patient(value: str) -> bool:
    return re.match(PATIENT_ID, value) is not None
