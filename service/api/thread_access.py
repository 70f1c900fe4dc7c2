"""Who may use a conversation thread, which patient it is about, and one turn at a time.

A thread belongs to the API key that created it: the checkpoint it lives in is named by that
key's id and the client's thread id together (:func:`thread_key`), so another key naming the same
id reaches a thread of its own, never this one, and a client-chosen id such as ``ward5-handover``
cannot be claimed first by anyone else. Another caller gets 404 whatever its role; an admin key
reads someone else's thread only by naming its owner (``?owner=KEY_ID``), which is audited.

The patient is decided once per turn, inside the turn's lease: the thread's bound patient is
read, checked against the key's scope, and that same value goes into the run, which refuses a
thread bound otherwise. Leases live in the shared state (``CRA_STATE_URL``), so turns of one
thread are serialized across workers and replicas too: a second question waits for the first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import HTTPException, Request

from service.api.depends import Caller, note

__all__ = ["Turn", "bound_patient", "owner_key", "thread_key", "thread_state", "turn"]

# A lease outlives the longest answer (LLM timeout and repair included); one left by a process
# that died mid-turn frees itself after this long.
LEASE_S = 600.0
_POLL_S = 0.05


def thread_key(owner: str, thread_id: str) -> str:
    """The checkpoint name of ``owner``'s thread ``thread_id`` (owners cannot reach each other's)."""
    return f"key:{owner}:{thread_id}"


def owner_key(request: Request, caller: Caller, thread_id: str, owner: str | None) -> str:
    """The thread ``caller`` means: its own, or, for an admin naming ``owner``, that key's.

    Raises:
        HTTPException: 403 when a key that is not an admin names another owner.
    """
    if owner is None or owner == caller.id:
        return thread_key(caller.id, thread_id)
    if caller.key.role != "admin":
        raise HTTPException(403, "only an admin key may name a thread's owner (?owner=)")
    note(request, admin_thread_owner=owner)
    return thread_key(owner, thread_id)


async def thread_state(request: Request, key: str) -> dict[str, Any]:
    """The checkpointed values of the thread stored as ``key`` (``{}`` for one never created)."""
    graph = request.app.state.deps.agent.graph
    snapshot = await anyio.to_thread.run_sync(graph.get_state, {"configurable": {"thread_id": key}})
    return dict(snapshot.values)


def bound_patient(state: dict[str, Any], requested: str | None) -> str | None:
    """The patient a turn is about: the thread's own, or ``requested`` for a thread not yet used.

    Raises:
        HTTPException: 409 when ``requested`` names another patient than the thread's.
    """
    if not state:
        return requested
    known = state.get("patient_id") or None
    if requested is not None and requested != known:
        detail = "this thread is about another patient" if known else "this thread is not about a patient"
        raise HTTPException(409, f"{detail}; start a new thread for this patient")
    return str(known) if known else None


@dataclass
class Turn:
    """A held lease on one thread; :meth:`release` gives it back (once, from any thread).

    ``handed_off`` is set by a streamed answer, whose worker releases the lease when the answer
    has been written, after the route has returned.
    """

    store: Any
    key: str
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    released: bool = False
    handed_off: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.store.release(self.key, self.holder)


async def acquire_turn(request: Request, key: str) -> Turn:
    """Wait for the thread's previous turn to end, then hold the thread.

    Raises:
        HTTPException: 409 when the previous turn is still running after ``api_thread_turn_wait_s``.
    """
    store = request.app.state.shared.leases
    wait = request.app.state.serve_settings.api_thread_turn_wait_s
    held = Turn(store, f"thread-turn:{key}")
    deadline = time.monotonic() + wait
    while True:
        now = time.time()
        taken = await anyio.to_thread.run_sync(store.acquire, held.key, held.holder, now + LEASE_S, now)
        if taken:
            return held
        if time.monotonic() >= deadline:
            raise HTTPException(
                409, "another question in this thread is still being answered; retry when it has finished"
            )
        await anyio.sleep(_POLL_S)


@asynccontextmanager
async def turn(request: Request, key: str) -> AsyncIterator[Turn]:
    """:func:`acquire_turn` for a block; the lease is released when the block ends, unless the
    block handed it off to a stream that has started (which releases it when it ends)."""
    held = await acquire_turn(request, key)
    try:
        yield held
    finally:
        if not held.handed_off:
            held.release()
