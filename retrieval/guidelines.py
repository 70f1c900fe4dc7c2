"""The guideline collection: its layout, search over it, and the filters users may apply."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from retrieval.errors import FilterError
from retrieval.store import RRF_K, VectorStore
from retrieval.types import AnyOf, CollectionSpec, Condition, Equals, Filter, Hit, IndexKind, Range

if TYPE_CHECKING:  # types only: the encoders pull in numpy, which cra --help and info never need
    from retrieval.embedders import DenseEncoder, SparseEncoder

__all__ = [
    "GUIDELINE_INDEXES",
    "GuidelineSearch",
    "SearchMode",
    "guideline_spec",
    "hit_json",
    "parse_filters",
]

SearchMode = Literal["hybrid", "dense", "sparse"]

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


@dataclass
class GuidelineSearch:
    """Search the guideline collection with dense, sparse or hybrid (RRF) retrieval."""

    store: VectorStore
    dense: DenseEncoder
    sparse: SparseEncoder
    collection: str = "guidelines"
    prefetch: int = 100
    rrf_k: int = RRF_K

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
        sparse = self.sparse.encode_query(query)
        if not sparse.indices:  # only stop words: there is nothing lexical to match
            if mode == "sparse":
                return []
            return self.store.search_dense(self.collection, dense, limit=k, where=where)
        if mode == "sparse":
            return self.store.search_sparse(self.collection, sparse, limit=k, where=where)
        return self.store.search_hybrid(
            self.collection,
            dense,
            sparse,
            limit=k,
            where=where,
            prefetch=max(self.prefetch, k),
            rrf_k=rrf_k or self.rrf_k,
        )
