"""Guideline retrieval for the agent: hybrid search per planned query, fused, with a cosine relevance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.text import content_words
from retrieval.guidelines import GuidelineSearch, parse_filters
from retrieval.types import Hit

__all__ = ["MIN_GUIDELINE_RELEVANCE", "covers", "distinctive_terms", "guideline_item", "search_guidelines"]

# Dense cosine (all-MiniLM-L6-v2) at which a passage is taken as covering the question; below it
# by less than _NEAR_MARGIN a passage still covers when it names a specific term of the question.
MIN_GUIDELINE_RELEVANCE = 0.45

_FUSION_K = 60
_NEAR_MARGIN = 0.1
# Six-letter stems (see agent.text.content_words) too general to show that a passage is on topic.
_GENERIC = frozenset(
    {
        "treatm",
        "therap",
        "manage",
        "recomm",
        "guidel",
        "should",
        "patien",
        "clinic",
        "approp",
        "indica",
        "initia",
        "consid",
        "result",
        "option",
        "first-",
        "second",
        "betwee",
        "better",
        "change",
        "differ",
    }
)


def guideline_item(hit: Hit, relevance: float) -> dict[str, Any]:
    """A guideline chunk as an evidence item (provenance copied from its payload)."""
    p = hit.payload
    return {
        "text": str(p.get("text", "")),
        "relevance": relevance,
        "chunk_id": hit.id,
        "doc_id": p.get("doc_id", ""),
        "title": p.get("title", ""),
        "section_path": list(p.get("section_path", [])),
        "source": p.get("source", ""),
        "issuer": p.get("issuer", ""),
        "published": p.get("published", ""),
        "grade": p.get("grade", ""),
        "version": p.get("version", ""),
        "superseded": bool(p.get("superseded", False)),
    }


def search_guidelines(
    search: GuidelineSearch,
    queries: Sequence[str],
    vectors: Sequence[Sequence[float]],
    *,
    filters: Sequence[str],
    k: int,
    threshold: float = MIN_GUIDELINE_RELEVANCE,
) -> list[dict[str, Any]]:
    """The top ``k`` guideline chunks over all planned queries, most relevant first.

    Ranking: each query's hybrid (dense + BM25, RRF in Qdrant) ranks, fused again across queries
    with reciprocal ranks. ``relevance`` is the best dense cosine of the chunk to any query (from a
    dense search with the same filter); a chunk outside the dense top list gets the lowest cosine
    seen there, an upper bound. The answer step uses it to decide whether the evidence covers
    the question at all.
    """
    where = parse_filters(filters)
    if not search.store.has_collection(search.collection):
        return []
    fused: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    cosine: dict[str, float] = {}
    floor = 1.0
    for query, vector in zip(queries, vectors, strict=True):
        ranked = search.search_encoded(query, vector, k=k * 2, where=where, mode="hybrid")
        for rank, hit in enumerate(ranked):
            fused[hit.id] = fused.get(hit.id, 0.0) + 1.0 / (_FUSION_K + rank + 1)
            hits.setdefault(hit.id, hit)
        dense = search.store.search_dense(search.collection, vector, limit=k * 4, where=where)
        for hit in dense:
            cosine[hit.id] = max(cosine.get(hit.id, -1.0), hit.score)
        floor = min([floor, *(h.score for h in dense)])
    order = sorted(fused, key=lambda i: -fused[i])[:k]
    terms = distinctive_terms(queries[0]) if queries else set()
    items = [guideline_item(hits[i], round(cosine.get(i, floor), 4)) for i in order]
    for item in items:
        item["covers"] = covers(item, terms, threshold)
    return items


def distinctive_terms(question: str) -> set[str]:
    """Long, specific words of the question (drug and disease names, not 'treatment' or 'patient')."""
    return {w for w in content_words(question) if len(w) >= 6 and w not in _GENERIC}


def covers(item: dict[str, Any], terms: set[str], threshold: float) -> bool:
    """Whether a passage answers to the question: close enough in meaning, or nearly so and naming
    one of the question's specific terms (MiniLM's cosine is noisy for short questions: "How is
    evolocumab dosed?" scores 0.44 against the passage that doses evolocumab)."""
    relevance = float(item.get("relevance", 0.0))
    if relevance >= threshold:
        return True
    return relevance >= threshold - _NEAR_MARGIN and bool(terms & content_words(str(item.get("text", ""))))
