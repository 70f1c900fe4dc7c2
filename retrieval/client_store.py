"""Qdrant through ``qdrant-client``: a server or cluster by URL, or the client's local mode for tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from retrieval.errors import StoreSchemaError, StoreUnavailableError
from retrieval.store import RRF_K
from retrieval.types import (
    AnyOf,
    CollectionSpec,
    Condition,
    Equals,
    Filter,
    Hit,
    PointRecord,
    Range,
    SparseVec,
)

__all__ = ["ClientStore"]

_INDEX = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
}
_BATCH = 256


def _condition(cond: Condition) -> models.FieldCondition:
    if isinstance(cond, Equals):
        return models.FieldCondition(key=cond.key, match=models.MatchValue(value=cond.value))
    if isinstance(cond, AnyOf):
        return models.FieldCondition(key=cond.key, match=models.MatchAny(any=list(cond.values)))  # type: ignore[arg-type]
    if isinstance(cond, Range):
        return models.FieldCondition(key=cond.key, range=models.Range(gte=cond.gte, lte=cond.lte))
    raise TypeError(f"unsupported condition {cond!r}")


def _required(where: Filter) -> Any:
    flt = _filter(where)
    if flt is None:
        raise ValueError("refusing a bulk change with an empty filter")
    return flt


def _filter(where: Filter | None) -> models.Filter | None:
    if where is None or where.empty:
        return None
    return models.Filter(
        must=[_condition(c) for c in where.must] or None,
        must_not=[_condition(c) for c in where.must_not] or None,
    )


def _payload_selector(fields: Sequence[str] | None) -> Any:
    """``True`` for the whole payload, ``False`` for none (``fields=()``), else the keys named."""
    return True if fields is None else list(fields) if fields else False


def _hit(point: Any) -> Hit:
    return Hit(
        id=str(point.id), score=float(getattr(point, "score", 0.0) or 0.0), payload=dict(point.payload or {})
    )


class ClientStore:
    """A :class:`retrieval.store.VectorStore` over a ``QdrantClient``."""

    def __init__(self, client: QdrantClient, target: str) -> None:
        self.client = client
        self.target = target
        self._names: dict[str, tuple[str, str]] = {}

    @classmethod
    def connect(cls, url: str, *, api_key: str | None = None, timeout: float = 10.0) -> ClientStore:
        """Connect to a server and check that it answers, so a wrong URL fails once and clearly."""
        try:
            client = QdrantClient(url=url, api_key=api_key, timeout=int(max(1, timeout)))
            client.get_collections()
        except Exception as exc:  # httpx, grpc and qdrant errors all mean the same to the user
            raise StoreUnavailableError(url, type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc
        return cls(client, url)

    @classmethod
    def local(cls, location: str = ":memory:") -> ClientStore:
        """qdrant-client's pure-Python local mode (``:memory:`` or a folder); for tests, not for scale."""
        if location == ":memory:":
            return cls(QdrantClient(location=":memory:"), "qdrant-client :memory:")
        return cls(QdrantClient(path=location), f"qdrant-client local {location}")

    def has_collection(self, name: str) -> bool:
        return bool(self.client.collection_exists(name))

    def ensure_collection(self, spec: CollectionSpec) -> None:
        if self.client.collection_exists(spec.name):
            info = self.client.get_collection(spec.name)
            vectors = info.config.params.vectors
            size = (
                vectors[spec.dense_name].size
                if isinstance(vectors, dict) and spec.dense_name in vectors
                else None
            )
            if size != spec.dense_dim:
                raise StoreSchemaError(
                    f"Collection {spec.name!r} on {self.target} has dense vector {spec.dense_name!r} of size "
                    f"{size}, expected {spec.dense_dim}.",
                    hint="Use the embedding model the collection was built with, or another collection name.",
                )
            existing = set((info.payload_schema or {}).keys())
        else:
            self.client.create_collection(
                spec.name,
                vectors_config={
                    spec.dense_name: models.VectorParams(size=spec.dense_dim, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    spec.sparse_name: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                hnsw_config=models.HnswConfigDiff(m=0, payload_m=16) if spec.tenant_key else None,
            )
            existing = set()
        for key, kind in spec.indexes.items():
            if key not in existing:
                schema: Any = (
                    models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
                    if key == spec.tenant_key
                    else _INDEX[kind]
                )
                self.client.create_payload_index(spec.name, field_name=key, field_schema=schema)
        self._names[spec.name] = (spec.dense_name, spec.sparse_name)

    def _vec_names(self, collection: str) -> tuple[str, str]:
        return self._names.get(collection, ("dense", "sparse"))

    def drop_collection(self, name: str) -> None:
        if self.client.collection_exists(name):
            self.client.delete_collection(name)

    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        dense_name, sparse_name = self._vec_names(collection)
        for start in range(0, len(points), _BATCH):
            batch = [
                models.PointStruct(
                    id=p.id,
                    vector={
                        dense_name: list(p.dense),
                        sparse_name: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                    },
                    payload=p.payload,
                )
                for p in points[start : start + _BATCH]
            ]
            self.client.upsert(collection, points=batch, wait=True)

    def delete_ids(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def delete_where(self, collection: str, where: Filter) -> int:
        if where.empty:
            raise ValueError("refusing to delete with an empty filter")
        n = self.count(collection, where)
        if n:
            self.client.delete(
                collection, points_selector=models.FilterSelector(filter=_required(where)), wait=True
            )
        return n

    def set_payload_where(self, collection: str, where: Filter, payload: dict[str, Any]) -> None:
        self.client.set_payload(collection, payload=payload, points=_required(where), wait=True)

    def optimize(self, collection: str) -> None:
        """The server schedules its own optimizers; nothing to force here."""

    def count(self, collection: str, where: Filter | None = None) -> int:
        return int(self.client.count(collection, count_filter=_filter(where), exact=True).count)

    def scroll(
        self, collection: str, where: Filter | None = None, *, fields: Sequence[str] | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = None
        with_payload: Any = list(fields) if fields is not None else True
        while True:
            records, offset = self.client.scroll(
                collection, scroll_filter=_filter(where), limit=1000, offset=offset, with_payload=with_payload
            )
            for rec in records:
                yield str(rec.id), dict(rec.payload or {})
            if offset is None:
                return

    def retrieve(self, collection: str, ids: Sequence[str]) -> list[Hit]:
        if not ids:
            return []
        return [_hit(r) for r in self.client.retrieve(collection, ids=list(ids), with_payload=True)]

    def search_dense(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int,
        where: Filter | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        dense_name, _ = self._vec_names(collection)
        res = self.client.query_points(
            collection,
            query=list(vector),
            using=dense_name,
            limit=limit,
            query_filter=_filter(where),
            with_payload=_payload_selector(fields),
        )
        return [_hit(p) for p in res.points]

    def search_sparse(
        self,
        collection: str,
        vector: SparseVec,
        *,
        limit: int,
        where: Filter | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        _, sparse_name = self._vec_names(collection)
        res = self.client.query_points(
            collection,
            query=models.SparseVector(indices=vector.indices, values=vector.values),
            using=sparse_name,
            limit=limit,
            query_filter=_filter(where),
            with_payload=_payload_selector(fields),
        )
        return [_hit(p) for p in res.points]

    def search_hybrid(
        self,
        collection: str,
        dense: Sequence[float],
        sparse: SparseVec,
        *,
        limit: int,
        where: Filter | None = None,
        prefetch: int = 100,
        rrf_k: int = RRF_K,
    ) -> list[Hit]:
        dense_name, sparse_name = self._vec_names(collection)
        flt = _filter(where)
        res = self.client.query_points(
            collection,
            prefetch=[
                models.Prefetch(query=list(dense), using=dense_name, limit=prefetch, filter=flt),
                models.Prefetch(
                    query=models.SparseVector(indices=sparse.indices, values=sparse.values),
                    using=sparse_name,
                    limit=prefetch,
                    filter=flt,
                ),
            ],
            query=models.RrfQuery(rrf=models.Rrf(k=rrf_k)),
            limit=limit,
            with_payload=True,
        )
        return [_hit(p) for p in res.points]

    def close(self) -> None:
        self.client.close()
