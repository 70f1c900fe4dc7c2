"""``GET /v1/patients``: the indexed patients this key may see (for choosing one in the chat page)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter

from retrieval.types import Equals, Filter
from service.api.depends import AgentDeps, CurrentCaller
from service.deps import Deps

__all__ = ["router"]

router = APIRouter(tags=["patients"])
_FIELDS = ["patient_id", "gender", "birth_date", "deceased_date"]


def _patients(deps: Deps) -> list[dict[str, Any]]:
    collection = deps.settings.patient_collection
    if not deps.store.has_collection(collection):
        return []
    where = Filter(must=(Equals("resource_type", "Patient"),))
    return [p for _, p in deps.store.scroll(collection, where, fields=_FIELDS)]


@router.get("/v1/patients")
async def list_patients(deps: AgentDeps, caller: CurrentCaller) -> dict[str, Any]:
    """Id, sex and birth date of each patient in the key's scope (no names are stored)."""
    rows = await anyio.to_thread.run_sync(_patients, deps)
    visible = [r for r in rows if caller.key.allows(str(r.get("patient_id")))]
    return {"patients": sorted(visible, key=lambda r: str(r.get("patient_id")))}
