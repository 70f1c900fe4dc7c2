"""``/healthz`` (the process answers), ``/readyz`` (store and LLM reachable), ``/metrics`` (Prometheus).

``/metrics``, like the API description, asks for an API key when ``CRA_API_DOCS_AUTH`` says so
(by default off loopback): route names, counts and timings map the service for an attacker.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
import httpx
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.depends import require_caller
from service.api.settings import ServeSettings
from service.deps import Deps

__all__ = ["require_ops_key", "router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


def _store_check(deps: Deps) -> dict[str, Any]:
    s = deps.settings
    started = time.perf_counter()
    try:
        if not deps.store.has_collection(s.guideline_collection):
            return {"ok": False, "detail": "the guideline index is empty; run cra index guidelines"}
        chunks = deps.store.count(s.guideline_collection)
    except Exception as exc:  # any failure to reach the store means: not ready
        return {"ok": False, "detail": f"store unreachable ({type(exc).__name__})"}
    return {"ok": chunks > 0, "target": deps.store.target, "chunks": chunks,
            "ms": round((time.perf_counter() - started) * 1000, 1)}  # fmt: skip


async def _llm_check(deps: Deps) -> dict[str, Any]:
    s = deps.settings
    if not s.llm_base_url:
        return {"ok": True, "detail": "no LLM configured: answers in evidence mode"}
    headers = {"Authorization": f"Bearer {s.llm_api_key}"} if s.llm_api_key else {}
    try:
        async with httpx.AsyncClient(timeout=s.llm_connect_timeout_s) as client:
            reply = await client.get(f"{s.llm_base_url}/models", headers=headers)
    except httpx.HTTPError as exc:
        return {"ok": False, "detail": f"LLM server unreachable ({type(exc).__name__})"}
    if reply.status_code != 200:
        return {"ok": False, "detail": f"LLM server answered {reply.status_code}"}
    served = [m.get("id") for m in reply.json().get("data", [])]
    return {"ok": s.llm_model in served, "model": s.llm_model, "served": served}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the store holds guidelines and the configured LLM serves its model, else 503."""
    deps: Deps = request.app.state.deps
    store = await anyio.to_thread.run_sync(_store_check, deps)
    llm = await _llm_check(deps)
    ready = bool(store["ok"] and llm["ok"] and request.app.state.warm)
    body = {"ready": ready, "warm": request.app.state.warm, "checks": {"store": store, "llm": llm}}
    return JSONResponse(body, status_code=200 if ready else 503)


def require_ops_key(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """An API key for the operators' pages when the settings ask for one (401 without)."""
    settings: ServeSettings = request.app.state.serve_settings
    if settings.docs_need_key:
        require_caller(request, authorization, x_api_key)


@router.get("/metrics", dependencies=[Depends(require_ops_key)])
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
