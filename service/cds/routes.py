"""The CDS Hooks HTTP surface: discovery, the three services, feedback, and the cited passages.

Every call to ``/cds-services...`` carries the EHR's JWT (:mod:`service.cds.auth`). Errors are
``{"error": code, "detail": reason}`` with a 4xx status; nothing from the request body is logged.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from datetime import date
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.cds.auth import JwtVerifier
from service.cds.discovery import SERVICES, CdsService, discovery
from service.cds.errors import CdsError
from service.cds.fhir import gather, patient_resources
from service.cds.hooks import order_cards, patient_view_cards
from service.cds.knowledge import Knowledge, load_knowledge
from service.cds.settings import CdsSettings
from service.shared_state import ReplayStore

__all__ = ["AS_OF_EXTENSION", "CdsState", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["cds-hooks"])
AS_OF_EXTENSION = "org.clinical-reasoning-agent.as-of"
_OUTCOMES = ("accepted", "overridden")
INLINE_MAX_RESOURCES = 400  # gathered resources up to which cards are built on the event loop


class CdsState:
    """Per-app state: settings, the token verifier, and the knowledge read from the index (lazily)."""

    def __init__(self, settings: CdsSettings | None = None, replay: ReplayStore | None = None) -> None:
        """``replay``: where token ids are remembered (the replicas' shared store; in memory when ``None``)."""
        self.settings = settings or CdsSettings()
        self.verifier = JwtVerifier(self.settings, replay=replay)
        self._knowledge: Knowledge | None = None
        self._lock = threading.Lock()

        if self.settings.auth_disabled:
            log.warning("CDS Hooks JWT verification is disabled (CRA_CDS_AUTH_DISABLED); development only")

    def knowledge(self, request: Request) -> Knowledge:
        with self._lock:
            if self._knowledge is None:
                self._knowledge = load_knowledge(request.app.state.deps, self.settings)
            return self._knowledge

    @property
    def loaded(self) -> Knowledge | None:
        """The knowledge once it has been read (no lock: a reference read is atomic)."""
        return self._knowledge


def _state(request: Request) -> CdsState:
    state = getattr(request.app.state, "cds", None)
    if state is None:
        shared = getattr(request.app.state, "shared", None)
        state = request.app.state.cds = CdsState(replay=shared.replay if shared is not None else None)
    return state


def _base(request: Request, state: CdsState) -> str:
    return state.settings.base_url or str(request.base_url).rstrip("/")


def _authorize(request: Request, state: CdsState, *paths: str) -> dict[str, Any]:
    if state.settings.auth_disabled:
        return {}
    base = _base(request, state)
    return state.verifier.verify(request.headers.get("authorization"), [f"{base}{p}" for p in paths])


def _error(exc: CdsError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
    return JSONResponse({"error": exc.code, "detail": exc.reason}, status_code=exc.status, headers=headers)


async def _json_body(request: Request) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "application/fhir+json"):
        raise CdsError(415, "unsupported_media_type", "send the request as Content-Type: application/json")
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CdsError(400, "malformed_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise CdsError(400, "invalid_request", "the body must be a JSON object")
    return body


def _check_request(service: CdsService, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("hook") != service.hook:
        raise CdsError(400, "wrong_hook", f"service {service.id} answers the {service.hook} hook")
    if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
        raise CdsError(400, "invalid_request", "hookInstance (a UUID string) is required")
    context = body.get("context")
    if not isinstance(context, dict):
        raise CdsError(400, "invalid_context", "context (an object) is required")
    missing = [f for f in service.context_fields if context.get(f) in (None, "")]
    if missing:
        raise CdsError(400, "invalid_context", f"context is missing required field(s): {', '.join(missing)}")
    if not isinstance(context["patientId"], str):
        raise CdsError(400, "invalid_context", "context.patientId must be a string")
    return context


def _as_of(body: dict[str, Any]) -> date:
    ext = body.get("extension")
    value = ext.get(AS_OF_EXTENSION) if isinstance(ext, dict) else None
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise CdsError(400, "invalid_request", f"extension {AS_OF_EXTENSION} must be an ISO date") from exc


@router.get("/cds-services")
async def discover(request: Request) -> JSONResponse:
    """The discovery document, with each service's prefetch templates."""
    state = _state(request)
    try:
        _authorize(request, state, "/cds-services")
    except CdsError as exc:
        return _error(exc)
    return JSONResponse(discovery())


@router.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    """Run one CDS service and answer ``{"cards": [...]}``."""
    started = time.perf_counter()
    state = _state(request)
    service = SERVICES.get(service_id)
    try:
        if service is None:
            raise CdsError(404, "unknown_service", f"no CDS service {service_id!r}; see GET /cds-services")
        claims = _authorize(request, state, f"/cds-services/{service.id}")
        body = await _json_body(request)
        context = _check_request(service, body)
        as_of, patient_id = _as_of(body), context["patientId"]
        groups = await gather(service, body, state.settings)
        resources = patient_resources(groups, patient_id)
        knowledge = state.loaded
        if knowledge is None:  # the first call reads the index (seconds): never on the event loop
            knowledge = await anyio.to_thread.run_sync(state.knowledge, request)
        base = _base(request, state)
        if service.hook == "patient-view":
            work = functools.partial(patient_view_cards, resources, patient_id, as_of, knowledge, base)
        else:
            work = functools.partial(
                order_cards, context, service.hook, resources, patient_id, as_of, knowledge, base
            )
        # Cards from a prefetch of the templates' size take 1-3 ms of pure Python: handing that to a
        # worker thread cost as much again in queueing and GIL hand-offs. A record sent whole (a
        # client that ignores the templates' filters) goes to a thread so the event loop keeps moving.
        if len(resources) <= INLINE_MAX_RESOURCES:
            cards = work()
        else:
            cards = await anyio.to_thread.run_sync(work)
    except CdsError as exc:
        log.info(
            "CDS call refused", extra={"service": service_id[:64], "status": exc.status, "code": exc.code}
        )
        return _error(exc)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    _audit(request, {
        "kind": "cds",
        "service": service.id,
        "hook": service.hook,
        "hook_instance": body["hookInstance"],
        "issuer": claims.get("iss", ""),
        "patient_id": patient_id,
        "cards": [trace for _, trace in cards],
        "ms": elapsed_ms,
    })  # fmt: skip
    log.info("CDS cards", extra={"service": service.id, "cards": len(cards), "ms": elapsed_ms})
    return JSONResponse({"cards": [card for card, _ in cards]})


def _audit(request: Request, record: dict[str, Any]) -> None:
    audit = getattr(request.app.state, "audit", None)
    if audit is not None:
        audit.append(record)


def _feedback_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise CdsError(400, "invalid_request", "feedback must be a non-empty array")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("card"), str) or not item["card"]:
            raise CdsError(400, "invalid_request", f"feedback[{i}].card (the card uuid) is required")
        if item.get("outcome") not in _OUTCOMES:
            raise CdsError(400, "invalid_request", f"feedback[{i}].outcome must be accepted or overridden")
        if not isinstance(item.get("outcomeTimestamp"), str):
            raise CdsError(400, "invalid_request", f"feedback[{i}].outcomeTimestamp is required")
        accepted = item.get("acceptedSuggestions")
        if item["outcome"] == "accepted" and (not isinstance(accepted, list) or not accepted):
            raise CdsError(
                400, "invalid_request", f"feedback[{i}].acceptedSuggestions is required when accepted"
            )
        out.append(item)
    return out


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request) -> JSONResponse:
    """Record card outcomes (accepted suggestions, overrides with their reasons)."""
    state = _state(request)
    try:
        if service_id not in SERVICES:
            raise CdsError(404, "unknown_service", f"no CDS service {service_id!r}; see GET /cds-services")
        claims = _authorize(
            request, state, f"/cds-services/{service_id}/feedback", f"/cds-services/{service_id}"
        )
        items = _feedback_items(await _json_body(request))
    except CdsError as exc:
        return _error(exc)
    store = getattr(request.app.state, "feedback", None)
    for item in items:
        record = {
            "service": service_id,
            "issuer": claims.get("iss", ""),
            "card": item["card"],
            "outcome": item["outcome"],
            "accepted_suggestions": [
                str(s.get("id", "")) for s in item.get("acceptedSuggestions") or [] if isinstance(s, dict)
            ],
            "override_reason": (item.get("overrideReason") or {}).get("reason"),
            "user_comment": (item.get("overrideReason") or {}).get("userComment"),
            "outcome_timestamp": item["outcomeTimestamp"],
        }
        if store is not None:
            store.add("cds", record)
        _audit(request, {k: v for k, v in record.items() if k != "user_comment"} | {"kind": "cds-feedback"})
    log.info("CDS feedback", extra={"service": service_id, "items": len(items)})
    return JSONResponse({"recorded": len(items)})


@router.get("/v1/evidence/{chunk_id}")
async def evidence(chunk_id: str, request: Request) -> JSONResponse:
    """One guideline passage by its chunk id, with its provenance (guideline text only, never patient data)."""
    try:
        chunk_id = str(uuid.UUID(chunk_id))
    except ValueError:
        return JSONResponse(
            {"error": "not_found", "detail": "no guideline passage with this id"}, status_code=404
        )
    deps = request.app.state.deps
    collection = deps.settings.guideline_collection
    hits = await anyio.to_thread.run_sync(lambda: deps.store.retrieve(collection, [chunk_id]))
    if not hits:
        return JSONResponse(
            {"error": "not_found", "detail": "no guideline passage with this id"}, status_code=404
        )
    p = hits[0].payload
    keys = (
        "doc_id",
        "title",
        "issuer",
        "version",
        "published",
        "section",
        "grade",
        "doi",
        "source",
        "locator",
        "text",
    )
    return JSONResponse(
        {"id": hits[0].id, "superseded": bool(p.get("superseded")), **{k: p.get(k, "") for k in keys}}
    )
