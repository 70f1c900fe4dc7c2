"""What routes depend on: the shared ``Deps``, the caller's API key, JSON bodies, patient scope."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from service.api.settings import ServeSettings
from service.deps import Deps
from service.keys import ALL_PATIENTS, ApiKey

__all__ = [
    "AgentDeps",
    "Caller",
    "CurrentCaller",
    "authorize_patient",
    "note",
    "require_caller",
    "require_json",
]

# With CRA_API_AUTH=off (loopback only), every request is this caller.
ANONYMOUS = ApiKey("anonymous", "anonymous (auth off)", "clinician", (ALL_PATIENTS,), 0.0)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the key's record (never its secret)."""

    key: ApiKey

    @property
    def id(self) -> str:
        return self.key.id


def note(request: Request, **fields: object) -> None:
    """Add ids and hashes to this request's audit record (written when the response ends)."""
    request.scope.setdefault("state", {}).setdefault("audit", {}).update(fields)


def get_deps(request: Request) -> Deps:
    deps = request.app.state.deps
    assert isinstance(deps, Deps)
    return deps


AgentDeps = Annotated[Deps, Depends(get_deps)]


def _presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def require_caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    """The caller behind ``Authorization: Bearer <key>`` (or ``X-API-Key``), within its rate limit.

    Raises:
        HTTPException: 401 without a valid live key, 429 over the key's rate.
    """
    settings: ServeSettings = request.app.state.serve_settings
    metrics = request.app.state.metrics
    if settings.api_auth == "off":
        key = ANONYMOUS
    else:
        secret = _presented_key(authorization, x_api_key)
        found = request.app.state.keys.verify(secret) if secret else None
        if found is None:
            reason = "missing" if not secret else "invalid"
            metrics.denied.labels(reason).inc()
            note(request, denied=f"api key {reason}")
            raise HTTPException(
                401,
                "an API key is required: send Authorization: Bearer <key> (cra keys create makes one)"
                if not secret
                else "the API key is unknown or revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = found
    note(request, who={"key_id": key.id, "role": key.role})
    request.scope.setdefault("state", {})["caller_id"] = key.id
    wait = request.app.state.rate_limiter.take(key.id)
    if wait > 0:
        metrics.denied.labels("rate").inc()
        note(request, denied="rate limit")
        raise HTTPException(
            429,
            f"rate limit of {settings.api_rate_per_minute}/min for this key reached; retry later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    return Caller(key)


CurrentCaller = Annotated[Caller, Depends(require_caller)]


def require_json(request: Request) -> None:
    """415 for a POST whose body is not declared as JSON."""
    if request.method != "POST":
        return
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, f"send the body as application/json (got {kind or 'no content type'})")


def authorize_patient(request: Request, caller: Caller, patient_id: str | None) -> None:
    """403, with nothing about the patient in the reply, when ``patient_id`` is outside the key's scope."""
    note(request, patient_id=patient_id)
    if not caller.key.allows(patient_id):
        request.app.state.metrics.denied.labels("scope").inc()
        note(request, denied="patient outside key scope")
        raise HTTPException(403, "this API key is not allowed to read that patient's record")
