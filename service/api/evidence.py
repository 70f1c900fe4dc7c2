"""``GET /v1/evidence/{chunk_id}``: one cited guideline passage with its provenance, for a caller with a key.

CDS cards and answers link here. The passage's ``source`` is shown relative to its corpus
(``open-medicine/cardiology/statins.md``), never as a path on this server.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request

from guidelines_index.corpora import display_source
from service.api.depends import AgentDeps, CurrentCaller, note
from service.deps import Deps

__all__ = ["display_source", "guideline_passage", "router"]

router = APIRouter(tags=["evidence"])
_FIELDS = ("doc_id", "title", "issuer", "version", "published", "section", "grade", "doi", "locator", "text")
_NOT_FOUND = "no guideline passage with this id"


def guideline_passage(deps: Deps, chunk_id: str) -> dict[str, Any] | None:
    """The passage ``chunk_id`` with its provenance, or ``None`` when there is none (guideline text only)."""
    try:
        chunk_id = str(uuid.UUID(chunk_id))
    except ValueError:
        return None
    hits = deps.store.retrieve(deps.settings.guideline_collection, [chunk_id])
    if not hits:
        return None
    p = hits[0].payload
    return {
        "id": hits[0].id,
        "superseded": bool(p.get("superseded")),
        **{k: p.get(k, "") for k in _FIELDS},
        "source": display_source(str(p.get("source", ""))),
    }


@router.get("/v1/evidence/{chunk_id}")
async def evidence(chunk_id: str, request: Request, caller: CurrentCaller, deps: AgentDeps) -> dict[str, Any]:
    """One guideline passage by its chunk id (never patient data); 404 when there is none."""
    note(request, chunk_id=chunk_id[:64])
    passage = await anyio.to_thread.run_sync(guideline_passage, deps, chunk_id)
    if passage is None:
        raise HTTPException(404, _NOT_FOUND)
    return passage
