"""Request limits: the largest body accepted, and a token-bucket rate per API key (shared by replicas)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.shared_state import MemoryRateStore, RateStore

__all__ = ["BodySizeLimit", "RateLimiter"]


class _TooLarge(Exception):
    pass


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": "payload_too_large", "detail": f"request body over {limit} bytes; send a shorter one"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """ASGI middleware: 413 for a declared or streamed body over the limit (before any parsing).

    ``max_bytes`` holds for every path except those starting with a prefix in ``path_limits``,
    which have their own (CDS Hooks calls carry the patient's prefetched record: megabytes, where
    a question is a few kilobytes).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    def limit_for(self, path: str) -> int:
        """The body limit of a request path."""
        return next((n for prefix, n in self.path_limits.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, limit)


class RateLimiter:
    """Token buckets: ``per_minute`` sustained, ``burst`` at once, one bucket per caller.

    The buckets live in ``store``: SQLite or Postgres (:mod:`service.shared_state`) so that every
    process and replica draws from the same bucket; the default keeps them in this process only.
    """

    def __init__(self, per_minute: int, burst: int, store: RateStore | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.store: RateStore = store or MemoryRateStore()

    def take(self, caller: str) -> float:
        """0 when the request may go; otherwise the seconds until it may (for ``Retry-After``)."""
        return self.store.take(caller, self.rate, self.burst)
