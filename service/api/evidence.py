"""``GET /v1/evidence/{chunk_id}``: one cited guideline passage with its provenance, for a caller with a key.

CDS cards and answers link here. The passage's ``source`` is shown relative to its corpus
(``open-medicine/cardiology/statins.md``), never as a path on this server.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path, PurePath
from typing import Any

import anyio
from fastapi import APIRouter, HTTPException, Request

from guidelines_index.corpora import CORPORA, corpus_path
from guidelines_index.errors import GuidelineIndexError
from service.api.depends import AgentDeps, CurrentCaller, note
from service.deps import Deps

__all__ = ["display_source", "guideline_passage", "router"]

router = APIRouter(tags=["evidence"])
_FIELDS = ("doc_id", "title", "issuer", "version", "published", "section", "grade", "doi", "locator", "text")
_NOT_FOUND = "no guideline passage with this id"


@functools.cache  # installed corpora do not move while the process runs; answers call this per citation
def _corpus_roots() -> list[tuple[str, Path]]:
    roots = []
    for name in CORPORA:
        try:
            roots.append((name, corpus_path(name).resolve()))
        except GuidelineIndexError:  # that corpus is not installed here
            continue
    return roots


def display_source(source: str, roots: list[tuple[str, Path]] | None = None) -> str:
    """Where a passage came from, without the server's folders.

    A file of a named corpus becomes ``<corpus>/<path inside it>``; another absolute path becomes
    its path below the working directory when it lies there, else its file name; a relative path
    (as it was given to ``cra index guidelines``) stays, without any leading ``..``.
    """
    if not source:
        return ""
    path = PurePath(source)
    if not path.is_absolute():
        return PurePath(*[p for p in path.parts if p not in ("..", ".")] or [path.name]).as_posix()
    for name, root in _corpus_roots() if roots is None else roots:
        if path.is_relative_to(root):
            return f"{name}/{path.relative_to(root).as_posix()}"
    cwd = Path.cwd().resolve()
    if (
        cwd != Path(cwd.anchor) and path.is_relative_to(cwd) and path != cwd
    ):  # a service run from / shows no tree
        return path.relative_to(cwd).as_posix()
    return path.name


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
