"""The indexed guideline passage each assessment implements, found by its source's doc id and query.

An assessment's source is data (``doc_id`` and a ``passage_query``); the passage it names is looked
up once per store state (hybrid search inside that document, current versions only) and cached,
so a question pays the search only the first time a rule is cited.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from agent.assessing import AssessmentRecord
from agent.retrieve import guideline_item
from retrieval.embedders import DenseEncoder
from retrieval.guidelines import GuidelineSearch, parse_filters
from retrieval.types import Hit

__all__ = ["clear_cache", "find_passage", "source_passages"]

_CacheKey = tuple[int, str, int, str, str]
_cache: dict[_CacheKey, tuple[Hit, float] | None] = {}
_lock = threading.Lock()
_DENSE_LIMIT = 20


def clear_cache() -> None:
    """Forget every looked-up passage (tests that rebuild a store in place)."""
    with _lock:
        _cache.clear()


def _search(
    search: GuidelineSearch, doc_id: str, query: str, vector: Sequence[float]
) -> tuple[Hit, float] | None:
    where = parse_filters([f"doc_id={doc_id}", "superseded=false"])
    hits = search.search_encoded(query, vector, k=1, where=where, mode="hybrid")
    if not hits:
        return None
    dense = search.store.search_dense(search.collection, vector, limit=_DENSE_LIMIT, where=where)
    cosine = {h.id: h.score for h in dense}
    floor = min((h.score for h in dense), default=0.0)
    return hits[0], round(cosine.get(hits[0].id, floor), 4)


def find_passage(
    search: GuidelineSearch, encoder: DenseEncoder, doc_id: str, query: str
) -> tuple[Hit, float] | None:
    """The current chunk of ``doc_id`` that best matches ``query``, with its dense cosine (cached)."""
    if not doc_id or not query.strip() or not search.store.has_collection(search.collection):
        return None
    key = (id(search.store), search.collection, search.store.count(search.collection), doc_id, query)
    with _lock:
        if key in _cache:
            return _cache[key]
    vector = [float(x) for x in encoder.encode([query])[0]]
    found = _search(search, doc_id, query, vector)
    with _lock:
        _cache[key] = found
    return found


def source_passages(
    search: GuidelineSearch,
    encoder: DenseEncoder,
    records: Sequence[AssessmentRecord],
    retrieved: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Guideline items for the assessments' sources that ``retrieved`` does not hold yet.

    Every item (new or already retrieved) that is a source gets ``source_of``: the ids of the
    assessments implementing it, which is how an ``[A#]`` finds its ``[G#]``.
    """
    by_chunk = {str(i.get("chunk_id")): i for i in retrieved}
    added: list[dict[str, Any]] = []
    for record in records:
        source = record["json"]["source"]
        found = find_passage(search, encoder, str(source.get("doc_id", "")), record["passage_query"])
        if found is None:
            continue
        hit, cosine = found
        item = by_chunk.get(hit.id)
        if item is None:
            item = by_chunk[hit.id] = {**guideline_item(hit, cosine), "covers": False}
            added.append(item)
        item.setdefault("source_of", []).append(record["json"]["id"])
    return added
