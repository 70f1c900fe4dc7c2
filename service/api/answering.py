"""Running the (synchronous) agent off the event loop, and recording each answer once."""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import contextmanager
from typing import Any

import anyio
from fastapi import HTTPException, Request

from agent.errors import AgentError, InputError, ThreadConflictError, ThreadError
from retrieval.errors import RetrievalError
from service.api.depends import Caller, note
from service.api.thread_access import Turn
from service.audit import sha256_text

__all__ = ["answer_once", "answer_stream", "record_answer"]

log = logging.getLogger(__name__)
_END = object()


@contextmanager
def agent_errors() -> Any:
    """The agent's and the store's errors as HTTP errors with a reason and what to do next."""
    try:
        yield
    except (InputError, ThreadError) as exc:
        code = 409 if isinstance(exc, ThreadConflictError) else 422 if isinstance(exc, InputError) else 400
        raise HTTPException(code, f"{exc}; {exc.hint}" if exc.hint else str(exc)) from exc
    except (AgentError, RetrievalError) as exc:
        log.warning("agent unavailable", extra={"error": type(exc).__name__})
        raise HTTPException(503, "the agent cannot answer right now; see /readyz") from exc


def record_answer(
    request: Request, caller: Caller, question: str, answer: dict[str, Any], shown_thread: str | None = None
) -> str:
    """Metrics, the audit fields and the remembered answer for feedback; returns the answer id.

    The answer id is the server's own (a client's ``X-Request-ID`` could name another key's
    answer); the request id stays beside it as ``correlation_id``. ``shown_thread`` is the
    thread id as the client knows it, in place of the stored thread's name.
    """
    state = request.app.state
    answer_id = uuid.uuid4().hex
    if shown_thread is not None and answer.get("thread_id"):
        answer["thread_id"] = shown_thread
    state.metrics.observe_answer(answer)
    guard = answer.get("guard", {})
    note(
        request,
        answer_id=answer_id,
        patient_id=answer.get("patient_id"),
        thread_id=answer.get("thread_id"),
        question_sha256=sha256_text(question),
        answer_sha256=sha256_text(answer.get("answer", "")),
        evidence=[{k: e.get(k) for k in ("id", "kind", "ref", "version")} for e in answer.get("evidence", [])],
        model=answer.get("model"),
        mode=answer.get("mode"),
        guard={"passed": guard.get("passed"), "failed": [c["name"] for c in guard.get("checks", []) if not c["passed"]]},
    )  # fmt: skip
    if answer.get("mode") != "refused":
        state.feedback.remember_answer(answer_id, question, answer, key_id=caller.id)
    answer["answer_id"] = answer_id
    answer["correlation_id"] = request.state.request_id
    return answer_id


def _run(request: Request, job: Callable[[], Any]) -> Any:
    with request.app.state.answer_slots:  # bounds agent runs at once; the rest wait here
        return job()


async def answer_once(
    request: Request, caller: Caller, question: str, shown_thread: str | None = None, **kw: Any
) -> dict[str, Any]:
    """The agent's answer JSON (``answer_id`` added), computed in a worker thread."""
    agent = request.app.state.deps.agent
    with agent_errors():
        result: dict[str, Any] = await anyio.to_thread.run_sync(
            _run, request, lambda: agent.ask(question, **kw)
        )
    record_answer(request, caller, question, result, shown_thread)
    return result


async def answer_stream(
    request: Request,
    caller: Caller,
    question: str,
    held: Turn | None = None,
    shown_thread: str | None = None,
    **kw: Any,
) -> AsyncIterator[dict[str, Any]]:
    """The agent's events: tokens, then the recorded answer (or one ``error`` event).

    The graph runs start to finish in one thread of its own (LangGraph's sync stream keeps
    context variables across steps, so it must not hop between pool threads); events cross over
    through a queue. Errors before the first event (a bad thread) raise here, before any byte is
    sent; later ones become an ``error`` event. A client that hangs up does not stop the answer,
    and it is still recorded. ``held``, the thread's turn, is released when the answer is done.
    """
    agent = request.app.state.deps.agent
    box: queue.Queue[Any] = queue.Queue()

    def pump() -> None:
        try:
            with request.app.state.answer_slots:
                for event in agent.stream(question, **kw):
                    if event["type"] == "answer":
                        record_answer(request, caller, question, event["answer"], shown_thread)
                    box.put(event)
        except Exception as exc:
            log.warning("answer stream failed", extra={"error": type(exc).__name__})
            box.put(exc)
        finally:
            if held is not None:
                held.release()
            box.put(_END)

    if held is not None:
        held.handed_off = True
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(pump,), daemon=True, name="answer-stream").start()
    first = await anyio.to_thread.run_sync(box.get)
    if isinstance(first, Exception):
        with agent_errors():
            raise first
        raise HTTPException(500, "the agent failed while answering; try again") from first
    return _drain(first, box)


async def _drain(first: Any, box: queue.Queue[Any]) -> AsyncIterator[dict[str, Any]]:
    event = first
    while event is not _END:
        if isinstance(event, Exception):
            yield {"type": "error", "detail": "the agent failed while answering; try again"}
        else:
            yield event
        event = await anyio.to_thread.run_sync(box.get)
