"""Running the graph: one question, a stream of tokens, threads that carry a patient."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal

from agent.context import AgentContext
from agent.errors import InputError, ThreadConflictError, ThreadError
from agent.graph import build_graph

__all__ = ["Agent"]

_THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A thread is saved once, when the run ends: follow-ups read only the final state, and saving every
# step wrote 9 checkpoints (about 230 KB) per question. A run cut short leaves the thread as it was.
_DURABILITY: Literal["exit"] = "exit"


class Agent:
    """The compiled graph with its context and checkpointer; safe to reuse across questions."""

    def __init__(self, context: AgentContext, checkpointer: Any = None) -> None:
        self.context = context
        self.graph = build_graph(checkpointer)
        self._persistent = checkpointer is not None
        self._durability = _DURABILITY if self._persistent else None  # LangGraph warns without a saver

    def _config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    def _start(
        self,
        question: str,
        patient_id: str | None,
        thread_id: str | None,
        as_of: str | None,
        patient_fixed: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        if thread_id is not None and not _THREAD_ID.match(thread_id):
            raise ThreadError(
                f"thread id {thread_id!r} is malformed", hint="use letters, digits, '-', '_', '.' or ':'"
            )
        _check_day(as_of)
        tid = thread_id or uuid.uuid4().hex
        previous = self.graph.get_state(self._config(tid)).values if self._persistent and thread_id else {}
        known = previous.get("patient_id")
        # patient_fixed: the caller decided (and authorized) the patient, None included; the run
        # must use that one, never one read again from the thread.
        if patient_fixed:
            conflict = bool(previous) and patient_id != known
        else:
            conflict = bool(patient_id and known and patient_id != known)
        if conflict:
            raise ThreadConflictError(
                "this thread is about another patient" if known else "this thread is not about a patient",
                hint="start a new thread for a different patient",
            )
        patient = patient_id if patient_fixed else patient_id or known
        inputs = {"question": question, "patient_id": patient, "as_of": as_of}
        return tid, inputs

    def _result(self, state: dict[str, Any], tid: str, started: float) -> dict[str, Any]:
        result = dict(state["result"])
        timings = {k: v for k, v in state.get("timings_ms", {}).items() if not k.startswith("_")}
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        result["timings_ms"] = timings
        result["thread_id"] = tid if self._persistent else None
        return result

    def ask(
        self,
        question: str,
        *,
        patient_id: str | None = None,
        thread_id: str | None = None,
        as_of: str | None = None,
        patient_fixed: bool = False,
    ) -> dict[str, Any]:
        """The answer JSON for one question (see the README for its fields).

        Args:
            question: The clinical question.
            patient_id: The patient it is about; with a thread, the thread's patient by default.
            thread_id: Continue (or start) this thread.
            as_of: Judge the record as of this day (``YYYY-MM-DD``).
            patient_fixed: ``patient_id`` (even ``None``) is the patient the caller authorized: a
                thread bound to another one raises instead of answering about it.

        Raises:
            InputError: ``as_of`` is not a calendar day.
            ThreadError: the thread id is malformed; :class:`ThreadConflictError` when the thread
                is about another patient.
        """
        started = time.perf_counter()
        tid, inputs = self._start(question, patient_id, thread_id, as_of, patient_fixed)
        state = self.graph.invoke(
            inputs, self._config(tid), context=self.context, durability=self._durability
        )
        return self._result(state, tid, started)

    def stream(
        self,
        question: str,
        *,
        patient_id: str | None = None,
        thread_id: str | None = None,
        as_of: str | None = None,
        patient_fixed: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Events: ``{"type": "token", "text"}`` while the LLM writes, then ``{"type": "answer", "answer"}``.

        The arguments and errors are :meth:`ask`'s.
        """
        started = time.perf_counter()
        tid, inputs = self._start(question, patient_id, thread_id, as_of, patient_fixed)
        config = self._config(tid)
        final: dict[str, Any] | None = None
        for mode, chunk in self.graph.stream(
            inputs,
            config,
            context=self.context,
            stream_mode=["custom", "values"],
            durability=self._durability,
        ):
            if mode == "custom" and "token" in chunk:
                yield {"type": "token", "text": chunk["token"]}
            elif mode == "values":
                final = chunk
        assert final is not None and "result" in final
        yield {"type": "answer", "answer": self._result(final, tid, started)}


def _check_day(as_of: str | None) -> None:
    if as_of is None:
        return
    try:
        if not _DAY.match(as_of):
            raise ValueError(as_of)
        date.fromisoformat(as_of)
    except ValueError:
        raise InputError(
            f"as_of {as_of!r} is not a calendar day", field="as_of", hint="write the day as YYYY-MM-DD"
        ) from None
