"""One error shape for every refusal: ``{"error": <code>, "detail": <what to do>}``, never echoing input."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["install_error_handlers"]

log = logging.getLogger(__name__)


def _code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "error"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"error": _code(exc.status_code), "detail": exc.detail},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        where = first.get("loc", ("body", "?"))[-1]
        return JSONResponse(
            {"error": "malformed_json", "detail": f"the body is not valid JSON (near position {where})"},
            status_code=400,
        )
    # Field paths and messages only: the rejected values may be clinical text.
    fields = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
        for e in errors
    ]
    summary = "; ".join(f"{f['field'] or 'body'}: {f['problem']}" for f in fields[:5])
    return JSONResponse({"error": "invalid_request", "detail": summary, "fields": fields}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", extra={"error": type(exc).__name__})
    return JSONResponse(
        {"error": "internal_error", "detail": "the service failed; the request id helps the operators"},
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
