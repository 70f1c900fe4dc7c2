"""Per-request bookkeeping: a request id, the access log line, metrics, the audit record, and the
browser security headers every reply carries."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import request_id_var

__all__ = ["RequestContext", "SecurityHeaders"]

log = logging.getLogger("service.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
AUDITED_PREFIX = "/v1/"
# CDS Hooks routes write their own record per call; any reply they did not (a 413 from the body
# limit, a 405, a crash) is audited here.
CDS_PREFIX = "/cds-services"
# The chat page loads its script and style from /static only; nothing may frame it (clickjacking)
# and no URL (thread ids, patient ids) leaves in a Referer.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages load Swagger UI or ReDoc from a CDN with an inline script.
DOCS_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")


def _route(scope: Scope) -> str:
    """The matched route's template (``/v1/threads/{thread_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContext:
    """ASGI middleware around every request.

    Args:
        app: the wrapped application.
        state: the app's state (``metrics`` and ``audit`` are read from it per request).
    """

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        metrics = self.state.metrics
        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = _route(scope)
            metrics.requests.labels(scope["method"], route, str(status)).inc()
            metrics.latency.labels(route).observe(seconds)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "ms": round(seconds * 1000, 1),
                    "caller": state.get("caller_id", "-"),
                },
            )
            path = scope["path"]
            if path.startswith(AUDITED_PREFIX) or (
                path.startswith(CDS_PREFIX) and not state.get("cds_audited")
            ):
                self._audit(scope, state, route, status, request_id)
            request_id_var.reset(token)

    def _audit(self, scope: Scope, state: dict[str, Any], route: str, status: int, request_id: str) -> None:
        record = {
            "event": "api_request",
            "request_id": request_id,
            "method": scope["method"],
            "route": route,
            "status": status,
            **state.get("audit", {}),
        }
        try:
            self.state.audit.append(record)
        except Exception as exc:  # losing an audit record must be loud, but must not lose the reply
            log.error("audit append failed", extra={"error": type(exc).__name__})


class SecurityHeaders:
    """ASGI middleware adding CSP, framing, referrer and sniffing rules to every reply.

    A header the route set itself is kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)
        added = [
            (b"content-security-policy", (DOCS_CSP if docs else CSP).encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [(k, v) for k, v in added if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
