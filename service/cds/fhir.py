"""The FHIR data a service needs: from ``prefetch``, else from the EHR's FHIR server, else 412.

A prefetch key that is present counts as satisfied (``null`` means "no data"), unless its value
is an OperationOutcome, which the spec uses for a failed prefetch. Missing or failed keys are
fetched from ``fhirServer`` with the ``fhirAuthorization`` bearer token; a required key that
cannot be obtained either way is answered with 412 Precondition Failed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from patient_index.events import patient_ref
from service.cds.discovery import CdsService
from service.cds.errors import CdsError
from service.cds.settings import CdsSettings

__all__ = ["fill_template", "gather", "patient_resources"]

log = logging.getLogger(__name__)
_TOKEN = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


class _Unusable(Exception):
    """A prefetch value that does not hold the data (an OperationOutcome)."""


def fill_template(template: str, context: Mapping[str, Any]) -> str:
    """A prefetch template with its ``{{context.x}}`` tokens replaced from the hook context."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).removeprefix("context.")
        got = context.get(name)
        if not isinstance(got, str | int | float) or isinstance(got, bool) or "." in name:
            raise CdsError(400, "invalid_context", f"context.{name} is needed for the prefetch query")
        return str(got)

    return _TOKEN.sub(value, template)


def _resources(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, dict) or "resourceType" not in value:
        raise _Unusable("not a FHIR resource")
    if value["resourceType"] == "OperationOutcome":
        raise _Unusable("OperationOutcome")
    if value["resourceType"] != "Bundle":
        return [value]
    entries = [e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)]
    found: list[dict[str, Any]] = [r for r in entries if isinstance(r, dict)]
    if found and all(r.get("resourceType") == "OperationOutcome" for r in found):
        raise _Unusable("OperationOutcome")
    return [r for r in found if r.get("resourceType") != "OperationOutcome"]


async def _fetch(
    client: httpx.AsyncClient, base: str, query: str, token: str, pages: int
) -> list[dict[str, Any]]:
    url: str | None = f"{base.rstrip('/')}/{query}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    out: list[dict[str, Any]] = []
    for _ in range(pages):
        if url is None:
            break
        reply = await client.get(url, headers=headers)
        if reply.status_code == 404 and query.startswith("Patient/"):
            raise CdsError(412, "precondition_failed", "the FHIR server does not know this patient")
        if reply.status_code in (401, 403):
            raise CdsError(412, "precondition_failed", "the FHIR server refused the fhirAuthorization token")
        reply.raise_for_status()
        body = reply.json()
        out += _resources(body)
        url = next(
            (link.get("url") for link in body.get("link") or [] if link.get("relation") == "next"), None
        )
    return out


def _authorization(body: Mapping[str, Any]) -> tuple[str, str] | None:
    server, auth = body.get("fhirServer"), body.get("fhirAuthorization")
    if auth is None:
        return None
    if (
        not isinstance(auth, dict)
        or not isinstance(auth.get("access_token"), str)
        or not auth["access_token"]
    ):
        raise CdsError(400, "invalid_request", "fhirAuthorization needs an access_token")
    if str(auth.get("token_type", "")).lower() != "bearer":
        raise CdsError(400, "invalid_request", "fhirAuthorization.token_type must be Bearer")
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise CdsError(
            400, "invalid_request", "fhirServer (an http(s) URL) is required with fhirAuthorization"
        )
    return server, auth["access_token"]


async def gather(
    service: CdsService, body: Mapping[str, Any], settings: CdsSettings
) -> dict[str, list[dict[str, Any]]]:
    """The resources of every prefetch key of ``service``: from the request, else fetched.

    Raises:
        CdsError: 412 when a required key is neither prefetched nor obtainable from the FHIR server;
            400 for a malformed ``fhirAuthorization``.
    """
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise CdsError(400, "invalid_request", "prefetch must be an object")
    out: dict[str, list[dict[str, Any]]] = {}
    missing: list[str] = []
    for key in service.prefetch:
        if key not in prefetch:
            missing.append(key)
            continue
        try:
            out[key] = _resources(prefetch[key])
        except _Unusable:
            missing.append(key)
    if not missing:
        return out
    access = _authorization(body)
    if access is None:
        needed = [k for k in missing if k in service.required]
        if needed:
            raise CdsError(
                412, "precondition_failed",
                f"prefetch {', '.join(needed)} missing and no fhirServer with fhirAuthorization to fetch it",
            )  # fmt: skip
        return out
    context = body.get("context") or {}
    queries = {k: fill_template(service.prefetch[k], context) for k in missing}
    async with httpx.AsyncClient(timeout=settings.fhir_timeout_s) as client:
        results = await asyncio.gather(
            *(_fetch(client, access[0], q, access[1], settings.fhir_max_pages) for q in queries.values()),
            return_exceptions=True,
        )
    for key, result in zip(queries, results, strict=True):
        if isinstance(result, CdsError):
            raise result
        if isinstance(result, BaseException):
            log.warning("FHIR fetch failed", extra={"key": key, "error": type(result).__name__})
            if key in service.required:
                raise CdsError(412, "precondition_failed", f"could not fetch {key} from the FHIR server")
            continue
        out[key] = result
    return out


def patient_resources(groups: Mapping[str, list[dict[str, Any]]], patient_id: str) -> list[dict[str, Any]]:
    """Every gathered resource of this patient; anything about another patient is dropped."""
    out, dropped = [], 0
    for resources in groups.values():
        for r in resources:
            if r.get("resourceType") == "Patient":
                mine = str(r.get("id", "")) == patient_id
            else:
                mine = patient_ref(r.get("subject") or r.get("patient")) == patient_id
            if mine:
                out.append(r)
            else:
                dropped += 1
    if dropped:
        log.warning("resources of other patients dropped", extra={"count": dropped})
    return out
