"""Running the graph: one question, a stream of tokens, threads that carry a patient."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from agent.context import AgentContext
from agent.errors import ThreadError
from agent.graph import build_graph

__all__ = ["Agent"]

_THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
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
        self, question: str, patient_id: str | None, thread_id: str | None, as_of: str | None
    ) -> tuple[str, dict[str, Any]]:
        if thread_id is not None and not _THREAD_ID.match(thread_id):
            raise ThreadError(
                f"thread id {thread_id!r} is malformed", hint="use letters, digits, '-', '_', '.' or ':'"
            )
        tid = thread_id or uuid.uuid4().hex
        previous = self.graph.get_state(self._config(tid)).values if self._persistent and thread_id else {}
        known = previous.get("patient_id")
        if patient_id and known and patient_id != known:
            raise ThreadError(
                "this thread is about another patient", hint="start a new thread for a different patient"
            )
        inputs = {"question": question, "patient_id": patient_id or known, "as_of": as_of}
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
    ) -> dict[str, Any]:
        """The answer JSON for one question (see the README for its fields)."""
        started = time.perf_counter()
        tid, inputs = self._start(question, patient_id, thread_id, as_of)
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
    ) -> Iterator[dict[str, Any]]:
        """Events: ``{"type": "token", "text"}`` while the LLM writes, then ``{"type": "answer", "answer"}``."""
        started = time.perf_counter()
        tid, inputs = self._start(question, patient_id, thread_id, as_of)
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
