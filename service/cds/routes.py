"""The CDS Hooks HTTP surface: discovery, the three services and feedback.

Every call to ``/cds-services...`` carries the EHR's JWT (:mod:`service.cds.auth`), and every call,
answered or refused, leaves one audit record (never the token). Errors are
``{"error": code, "detail": reason}`` with a 4xx status; nothing from the request body is logged.
The audience a token must name and the card links come from ``CRA_CDS_BASE_URL``, never from the
request's ``Host`` header: without it, only calls addressed to a loopback host are answered.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from datetime import date
from typing import Any

import anyio
import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.cds.auth import JwtVerifier
from service.cds.discovery import SERVICES, CdsService, discovery
from service.cds.errors import CdsError
from service.cds.fhir import gather, patient_resources
from service.cds.hooks import order_cards, patient_view_cards
from service.cds.knowledge import Knowledge, load_knowledge
from service.cds.settings import CdsSettings
from service.cds.validation import check_draft_orders
from service.net import is_loopback
from service.shared_state import ReplayStore

__all__ = ["AS_OF_EXTENSION", "CdsState", "router", "serialize_card"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["cds-hooks"])
AS_OF_EXTENSION = "org.clinical-reasoning-agent.as-of"
_OUTCOMES = ("accepted", "overridden")
INLINE_MAX_RESOURCES = 400  # gathered resources up to which cards are built on the event loop
# What a malformed resource the shape checks do not cover raises inside the hook's work: a 400
# for the caller (the request is wrong), logged by type so a real bug stays visible.
_MALFORMED = (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError)


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
    """The public URL tokens are issued for: ``CRA_CDS_BASE_URL``, else a loopback request's own URL.

    The ``Host`` header is the caller's to choose: trusting it off loopback would let a token for
    ``attacker.example`` pass and point the card links there.
    """
    if state.settings.base_url:
        return state.settings.base_url
    if not is_loopback(request.url.hostname or ""):
        raise CdsError(
            503,
            "base_url_required",
            "CRA_CDS_BASE_URL is not set, so only loopback calls are answered; set it to this "
            "service's public URL (e.g. https://cds.example.org)",
        )
    return str(request.base_url).rstrip("/")


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
    except RecursionError as exc:
        raise CdsError(400, "malformed_json", "the body is nested too deeply") from exc
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
    if "draftOrders" in service.context_fields:
        check_draft_orders(context)
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


def serialize_card(card: dict[str, Any]) -> dict[str, Any]:
    """A card as sent: without ``links`` when it has none (the spec forbids an empty list)."""
    if "links" in card and not card["links"]:
        return {k: v for k, v in card.items() if k != "links"}
    return card


def _claimed_issuer(request: Request) -> str:
    """The ``iss`` a refused token claims (unverified, clipped), for the audit record; never the token."""
    _, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        iss = jwt.decode(token.strip(), options={"verify_signature": False}).get("iss")
    except (jwt.PyJWTError, AttributeError, TypeError, ValueError):
        return ""
    return iss[:200] if isinstance(iss, str) else ""


def _refused(request: Request, exc: CdsError, event: str, service_id: str) -> JSONResponse:
    """Log and audit a refusal (status, code, reason, the claimed issuer), then answer it."""
    log.info("CDS call refused", extra={"service": service_id[:64], "status": exc.status, "code": exc.code})
    _audit(request, {
        "kind": event,
        "service": service_id[:64],
        "status": exc.status,
        "code": exc.code,
        "reason": exc.reason,
        "claimed_issuer": _claimed_issuer(request),
    })  # fmt: skip
    return _error(exc)


@router.get("/cds-services")
async def discover(request: Request) -> JSONResponse:
    """The discovery document, with each service's prefetch templates."""
    state = _state(request)
    try:
        claims = _authorize(request, state, "/cds-services")
    except CdsError as exc:
        return _refused(request, exc, "cds-discovery", "")
    _audit(request, {"kind": "cds-discovery", "status": 200, "issuer": claims.get("iss", "")})
    return JSONResponse(discovery())


def _malformed(service: CdsService, exc: Exception) -> CdsError:
    log.warning("CDS resource unusable", extra={"service": service.id, "error": type(exc).__name__})
    return CdsError(400, "invalid_resource", "a FHIR resource in the request or prefetch is malformed")


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
        try:
            groups = await gather(service, body, state.settings)
            resources = patient_resources(groups, patient_id)
        except _MALFORMED as exc:
            raise _malformed(service, exc) from exc
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
        try:
            if len(resources) <= INLINE_MAX_RESOURCES:
                cards = work()
            else:
                cards = await anyio.to_thread.run_sync(work)
        except _MALFORMED as exc:
            raise _malformed(service, exc) from exc
    except CdsError as exc:
        return _refused(request, exc, "cds", service_id)
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    _audit(request, {
        "kind": "cds",
        "status": 200,
        "service": service.id,
        "hook": service.hook,
        "hook_instance": body["hookInstance"],
        "issuer": claims.get("iss", ""),
        "patient_id": patient_id,
        "cards": [trace for _, trace in cards],
        "ms": elapsed_ms,
    })  # fmt: skip
    log.info("CDS cards", extra={"service": service.id, "cards": len(cards), "ms": elapsed_ms})
    return JSONResponse({"cards": [serialize_card(card) for card, _ in cards]})


def _audit(request: Request, record: dict[str, Any]) -> None:
    """One record per call; the request middleware then adds none of its own for this request."""
    state = request.scope.setdefault("state", {})
    state["cds_audited"] = True
    audit = getattr(request.app.state, "audit", None)
    if audit is not None:
        audit.append({"request_id": state.get("request_id", ""), **record})


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
        return _refused(request, exc, "cds-feedback", service_id)
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
