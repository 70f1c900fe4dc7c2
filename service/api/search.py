"""``POST /v1/search``: guideline search, the JSON of ``cra search --json`` (the CLI hands it here).

A ``cra search`` on a machine where ``cra serve`` already holds the data dir sends the query
here instead of loading a model and opening the store itself (see ``service.delegate``).
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from retrieval.errors import RetrievalError
from retrieval.guidelines import hit_json, parse_filters
from service.api.depends import AgentDeps, CurrentCaller
from service.deps import Deps

__all__ = ["SearchRequest", "router"]

router = APIRouter(tags=["search"])


class SearchRequest(BaseModel):
    """One guideline query, with ``cra search``'s options."""

    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=10, ge=1, le=1000)
    filters: list[str] = Field(default_factory=list, max_length=32, description="KEY=VALUE, as --filter.")
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"


def _search(deps: Deps, body: SearchRequest) -> dict[str, Any]:
    where = parse_filters(body.filters)
    if not deps.store.has_collection(deps.settings.guideline_collection):
        raise HTTPException(
            409, "the guideline index is empty; run: cra index guidelines --corpus open-medicine (or PATH...)"
        )
    hits = deps.guideline_search.search(body.query, k=body.k, where=where, mode=body.mode)
    return {"query": body.query, "hits": [hit_json(h) for h in hits]}


@router.post("/v1/search")
async def search(body: SearchRequest, deps: AgentDeps, caller: CurrentCaller) -> dict[str, Any]:
    """The top ``k`` guideline chunks for ``query`` (hybrid dense + BM25 by default); any live key may search."""
    try:
        return await anyio.to_thread.run_sync(_search, deps, body)
    except RetrievalError as exc:
        raise HTTPException(400, exc.message) from exc  # the words cra search prints in process
