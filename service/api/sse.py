"""Server-sent events: one ``event:`` name and one JSON ``data:`` line per event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

__all__ = ["sse_response"]

# Proxies (nginx) buffer responses unless told not to; a stream that arrives at once is no stream.
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(event: str, data: Any) -> str:
    """One SSE frame."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def _frames(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async for event in events:
        kind = event["type"]
        if kind == "token":
            yield frame("token", {"text": event["text"]})
        elif kind == "answer":
            yield frame("answer", event["answer"])
        else:
            yield frame("error", {"error": "agent_failed", "detail": event.get("detail", "")})


def sse_response(events: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    """The agent's events as ``token`` frames, then one ``answer`` frame (or an ``error`` frame)."""
    return StreamingResponse(_frames(events), media_type="text/event-stream", headers=_HEADERS)
