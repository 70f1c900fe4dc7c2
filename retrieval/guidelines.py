"""The guideline collection: its layout, search over it, and the filters users may apply."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from retrieval.clinical_terms import expansion_terms
from retrieval.errors import FilterError
from retrieval.section_rerank import rerank_by_section
from retrieval.store import RRF_K, VectorStore
from retrieval.types import AnyOf, CollectionSpec, Condition, Equals, Filter, Hit, IndexKind, Range, SparseVec

if TYPE_CHECKING:  # types only: the encoders pull in numpy, which cra --help and info never need
    from retrieval.embedders import DenseEncoder, SparseEncoder

__all__ = [
    "GUIDELINE_INDEXES",
    "GuidelineSearch",
    "SearchMode",
    "fuse_rrf",
    "guideline_spec",
    "hit_json",
    "parse_filters",
]

SearchMode = Literal["hybrid", "dense", "sparse"]
_TERM_CACHE_SIZE = 50_000  # heading texts whose terms are kept (a heading path repeats across its chunks)

GUIDELINE_INDEXES: dict[str, IndexKind] = {
    "doc_id": "keyword",
    "version": "keyword",
    "status": "keyword",
    "issuer": "keyword",
    "grade": "keyword",
    "source": "keyword",
    "source_key": "keyword",
    "kind": "keyword",
    "sex": "keyword",
    "age_min": "float",
    "age_max": "float",
    "published_year": "integer",
    "content_hash": "keyword",
}

_KEYWORD_FILTERS = ("doc_id", "version", "issuer", "grade", "source", "kind", "content_hash")
_FILTER_HELP = (
    "Use KEY=VALUE with KEY one of: "
    + ", ".join(_KEYWORD_FILTERS)
    + ", superseded (true|false), year (e.g. 2018), age (years; keeps guidance whose population includes it), "
    "sex (female|male). Several values: KEY=A,B."
)


def guideline_spec(dense_dim: int, name: str = "guidelines") -> CollectionSpec:
    """Layout of the guideline collection for a dense model of ``dense_dim`` dimensions."""
    return CollectionSpec(name=name, dense_dim=dense_dim, indexes=dict(GUIDELINE_INDEXES))


def _bool(key: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise FilterError(f"Filter {key}={value!r}: expected true or false.")


def _number(key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise FilterError(f"Filter {key}={value!r}: expected a number.") from exc
    if not math.isfinite(number):
        raise FilterError(f"Filter {key}={value!r}: expected a finite number.")
    return number


def _year(key: str, value: str) -> int:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != int(number) or not 1900 <= number <= 2100:
        raise FilterError(f"Filter {key}={value!r}: expected a four-digit year such as 2018.")
    return int(number)


def parse_filters(items: Sequence[str]) -> Filter | None:
    """Turn ``KEY=VALUE`` strings from the command line into a store filter."""
    must: list[Condition] = []
    must_not: list[Condition] = []
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise FilterError(f"Filter {item!r} is not KEY=VALUE.", hint=_FILTER_HELP)
        values = tuple(v.strip() for v in value.split(",") if v.strip())
        if not values:
            raise FilterError(f"Filter {item!r} has no value.", hint=_FILTER_HELP)
        if key in _KEYWORD_FILTERS:
            must.append(Equals(key, values[0]) if len(values) == 1 else AnyOf(key, values))
        elif key == "superseded":
            # Stored flags are filtered through the keyword "status" (see retrieval.types.IndexKind).
            must.append(Equals("status", "superseded" if _bool(key, value) else "current"))
        elif key in ("year", "published_year"):
            years = tuple(_year(key, v) for v in values)
            must.append(
                Equals("published_year", years[0]) if len(years) == 1 else AnyOf("published_year", years)
            )
        elif key == "age":
            age = _number(key, value)
            must_not.extend([Range("age_min", gte=age + 1e-6), Range("age_max", lte=age - 1e-6)])
        elif key == "sex":
            if value.lower() not in ("female", "male"):
                raise FilterError(f"Filter sex={value!r}: expected female or male.")
            must_not.append(Equals("sex", "male" if value.lower() == "female" else "female"))
        else:
            raise FilterError(f"Unknown filter field {key!r}.", hint=_FILTER_HELP)
    if not must and not must_not:
        return None
    return Filter(must=tuple(must), must_not=tuple(must_not))


def hit_json(hit: Hit) -> dict[str, Any]:
    """The public JSON shape of a guideline hit (plus a few provenance extras)."""
    p = hit.payload
    return {
        "id": hit.id,
        "score": round(hit.score, 6),
        "text": p.get("text", ""),
        "doc_id": p.get("doc_id", ""),
        "title": p.get("title", ""),
        "section_path": list(p.get("section_path", [])),
        "source": p.get("source", ""),
        "issuer": p.get("issuer", ""),
        "published": p.get("published", ""),
        "grade": p.get("grade", ""),
        "superseded": bool(p.get("superseded", False)),
        "version": p.get("version", ""),
        "doi": p.get("doi", ""),
        "locator": p.get("locator", ""),
    }


def fuse_rrf(
    dense: Sequence[Hit],
    sparse: Sequence[Hit],
    rrf_k: int,
    *,
    tie_break: Literal["dense", "sparse"] = "dense",
) -> list[Hit]:
    """Reciprocal rank fusion of two ranked lists, as Qdrant computes it (``1 / (k + rank)``, rank
    from 0), with ties broken by the better rank in the ``tie_break`` list, then by id.

    Qdrant's own fusion leaves the order of equal scores to chance, and with a small ``k`` ties
    are common: ranks (0, 2) and (2, 0) score alike. Fusing here makes every search repeatable.
    """
    ranks: dict[str, list[int]] = {}
    hits: dict[str, Hit] = {}
    miss = len(dense) + len(sparse) + 1
    for which, ranked in enumerate((dense, sparse)):
        for rank, hit in enumerate(ranked):
            ranks.setdefault(hit.id, [miss, miss])[which] = rank
            hits.setdefault(hit.id, hit)
    first = 0 if tie_break == "dense" else 1

    def score(pid: str) -> float:
        return sum(1.0 / (rrf_k + r) for r in ranks[pid] if r != miss)

    order = sorted(ranks, key=lambda pid: (-score(pid), ranks[pid][first], ranks[pid][1 - first], pid))
    return [Hit(pid, score(pid), hits[pid].payload) for pid in order]


def _merge(query: SparseVec, extra: SparseVec, weight: float) -> SparseVec:
    """The query's own terms at full weight, plus ``extra``'s terms it lacks at ``weight``."""
    own = dict(zip(query.indices, query.values, strict=True))
    for i, v in zip(extra.indices, extra.values, strict=True):
        own.setdefault(i, v * weight)
    return SparseVec(indices=list(own), values=list(own.values()))


@dataclass
class GuidelineSearch:
    """Search the guideline collection with dense, sparse or hybrid (RRF) retrieval.

    Query processing on the lexical side: clinical shorthand in the question ("eGFR", "AFib",
    "eliquis") also matches the written-out words guidelines use (``expansion_weight`` of a
    question word; 0 turns it off). Sparse and hybrid results are reranked by section: the
    chunk's heading path and the strength of its section file among the candidates are fused
    into the rank (``heading_weight``, ``section_weight``; both 0 turn it off), over the best
    ``candidates`` hits.
    """

    store: VectorStore
    dense: DenseEncoder
    sparse: SparseEncoder
    collection: str = "guidelines"
    prefetch: int = 100
    rrf_k: int = RRF_K
    expansion_weight: float = 0.5
    heading_weight: float = 0.2
    section_weight: float = 0.2
    candidates: int = 50
    tie_break: Literal["dense", "sparse"] = "sparse"
    _term_cache: dict[str, frozenset[int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def sparse_query(self, query: str) -> SparseVec:
        """The BM25 query: the question's terms, and at a lower weight those of its expanded shorthand."""
        vec = self.sparse.encode_query(query)
        extra = expansion_terms(query) if self.expansion_weight > 0 else []
        if not extra:
            return vec
        return _merge(vec, self.sparse.encode_query(" ".join(extra)), self.expansion_weight)

    def _terms(self, text: str) -> set[int]:
        cached = self._term_cache.get(text)
        if cached is None:
            if len(self._term_cache) >= _TERM_CACHE_SIZE:
                self._term_cache.clear()
            cached = self._term_cache[text] = frozenset(self.sparse.encode_query(text).indices)
        return set(cached)

    def _reranked(self, query: SparseVec, hits: list[Hit], k: int) -> list[Hit]:
        if self.heading_weight <= 0 and self.section_weight <= 0:
            return hits[:k]
        ranked = rerank_by_section(
            set(query.indices),
            hits,
            self._terms,
            heading_weight=self.heading_weight,
            section_weight=self.section_weight,
        )
        return ranked[:k]

    def search(
        self, query: str, *, k: int = 10, where: Filter | None = None, mode: SearchMode = "hybrid"
    ) -> list[Hit]:
        """Top ``k`` chunks for ``query``."""
        return self.search_encoded(
            query, self.dense.encode_query(query) if mode != "sparse" else [], k=k, where=where, mode=mode
        )

    def search_many(
        self, queries: Sequence[str], *, k: int = 10, where: Filter | None = None, mode: SearchMode = "hybrid"
    ) -> list[list[Hit]]:
        """Search many queries, encoding them in one batch."""
        vectors: Any = self.dense.encode(list(queries)) if mode != "sparse" else [[] for _ in queries]
        return [
            self.search_encoded(q, [float(x) for x in v], k=k, where=where, mode=mode)
            for q, v in zip(queries, vectors, strict=True)
        ]

    def search_encoded(
        self,
        query: str,
        dense: Sequence[float],
        *,
        k: int,
        where: Filter | None,
        mode: SearchMode,
        rrf_k: int | None = None,
    ) -> list[Hit]:
        """Search with a dense query vector computed already (the sparse one is cheap to make here)."""
        if not query.strip():
            return []
        if mode == "dense":
            return self.store.search_dense(self.collection, dense, limit=k, where=where)
        sparse = self.sparse_query(query)
        if not sparse.indices:  # only stop words: there is nothing lexical to match
            if mode == "sparse":
                return []
            return self.store.search_dense(self.collection, dense, limit=k, where=where)
        limit = max(k, self.candidates)
        if mode == "sparse":
            hits = self.store.search_sparse(self.collection, sparse, limit=limit, where=where)
        else:
            # The two top lists carry ids and ranks only (reading payloads of 200 points costs
            # milliseconds); the fused candidates are read once, whole, for reranking.
            depth = max(self.prefetch, limit)
            fused = fuse_rrf(
                self.store.search_dense(self.collection, dense, limit=depth, where=where, fields=()),
                self.store.search_sparse(self.collection, sparse, limit=depth, where=where, fields=()),
                rrf_k or self.rrf_k,
                tie_break=self.tie_break,
            )[:limit]
            hits = self._with_payloads(fused)
        return self._reranked(self.sparse.encode_query(query), hits, k)

    def _with_payloads(self, hits: list[Hit]) -> list[Hit]:
        full = {h.id: h.payload for h in self.store.retrieve(self.collection, [h.id for h in hits])}
        return [Hit(h.id, h.score, full[h.id]) for h in hits if h.id in full]
