"""The embedded Qdrant engine (``qdrant-edge-py``): one shard folder per collection, in-process.

A shard is opened once per store, under a lock: the engine locks a shard's folder per open, so two
requests opening it at once in one process would see each other as "another process". The folders
hold patient records, so they are made 0700.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

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

__all__ = ["EdgeStore"]

_INDEX = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
}
_SPEC_FILE = "collection.json"
_BATCH = 512
_DIR_MODE = 0o700


def _private_dirs(path: Path) -> None:
    """``path`` and the folders above it that do not exist yet, made 0700; ``path`` narrowed if ours."""
    missing = []
    at = path
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for folder in reversed(missing):
        folder.mkdir(mode=_DIR_MODE, exist_ok=True)
        folder.chmod(_DIR_MODE)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o777 != _DIR_MODE:
        path.chmod(_DIR_MODE)


def _condition(cond: Condition) -> qe.FieldCondition:
    if isinstance(cond, Equals):
        return qe.FieldCondition(key=cond.key, match=qe.MatchValue(cond.value))
    if isinstance(cond, AnyOf):
        return qe.FieldCondition(key=cond.key, match=qe.MatchAny(list(cond.values)))  # type: ignore[arg-type]
    if isinstance(cond, Range):
        return qe.FieldCondition(key=cond.key, range=qe.RangeFloat(gte=cond.gte, lte=cond.lte))
    raise TypeError(f"unsupported condition {cond!r}")


def _required(where: Filter) -> Any:
    flt = _filter(where)
    if flt is None:
        raise ValueError("refusing a bulk change with an empty filter")
    return flt


def _filter(where: Filter | None) -> qe.Filter | None:
    if where is None or where.empty:
        return None
    return qe.Filter(
        must=[_condition(c) for c in where.must] or None,
        must_not=[_condition(c) for c in where.must_not] or None,
    )


def _payload_selector(fields: Sequence[str] | None) -> Any:
    """``True`` for the whole payload, ``False`` for none (``fields=()``), else the keys named."""
    return True if fields is None else list(fields) if fields else False


def _hit(point: Any) -> Hit:
    payload = point.payload  # converted from Rust on every access: read it once
    return Hit(id=str(point.id), score=float(getattr(point, "score", 0.0) or 0.0), payload=payload or {})


class EdgeStore:
    """Collections live under ``root/<name>/`` as Qdrant edge shards next to a small layout file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.target = f"embedded engine at {self.root}"
        try:
            _private_dirs(self.root)
        except OSError as exc:
            raise StoreUnavailableError(str(self.root), f"cannot create the data folder ({exc})") from exc
        self._shards: dict[str, qe.EdgeShard] = {}
        self._specs: dict[str, CollectionSpec] = {}
        self._open_lock = threading.RLock()  # opening, creating and dropping shards

    # -- collections -------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.root / name

    def has_collection(self, name: str) -> bool:
        return (self._dir(name) / _SPEC_FILE).exists()

    def ensure_collection(self, spec: CollectionSpec) -> None:
        with self._open_lock:
            self._ensure_collection(spec)

    def _ensure_collection(self, spec: CollectionSpec) -> None:
        folder = self._dir(spec.name)
        spec_path = folder / _SPEC_FILE
        if spec_path.exists():
            stored = json.loads(spec_path.read_text())
            if stored["dense_dim"] != spec.dense_dim:
                raise StoreSchemaError(
                    f"Collection {spec.name!r} holds {stored['dense_dim']}-d vectors but the embedding model "
                    f"makes {spec.dense_dim}-d vectors.",
                    hint="Use the model the collection was built with, or re-index into a fresh data dir.",
                )
            shard = self._shard(spec.name)
            missing = {k: v for k, v in spec.indexes.items() if k not in stored.get("indexes", {})}
        else:
            folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            config = qe.EdgeConfig(
                vectors={
                    spec.dense_name: qe.EdgeVectorParams(size=spec.dense_dim, distance=qe.Distance.Cosine)
                },
                sparse_vectors={spec.sparse_name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
                hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000)
                if spec.tenant_key
                else None,
            )
            shard_dir = folder / "shard"
            if shard_dir.exists():  # a creation interrupted before the layout file was written
                shutil.rmtree(shard_dir)
            shard = qe.EdgeShard.create(str(shard_dir), config)
            self._shards[spec.name] = shard
            missing = dict(spec.indexes)
            stored = {"dense_dim": spec.dense_dim, "indexes": {}}
        for key, kind in missing.items():
            schema: Any = qe.KeywordIndexParams(is_tenant=True) if key == spec.tenant_key else _INDEX[kind]
            shard.update(qe.UpdateOperation.create_field_index(key, schema))
        stored["indexes"] = {**stored.get("indexes", {}), **missing}
        stored.update(dense_name=spec.dense_name, sparse_name=spec.sparse_name)
        tmp = spec_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=2))
        tmp.replace(spec_path)
        self._specs[spec.name] = CollectionSpec(
            name=spec.name,
            dense_dim=spec.dense_dim,
            indexes=stored["indexes"],
            dense_name=spec.dense_name,
            sparse_name=spec.sparse_name,
        )

    def _spec(self, name: str) -> CollectionSpec:
        if name not in self._specs:
            path = self._dir(name) / _SPEC_FILE
            if not path.exists():
                raise StoreSchemaError(
                    f"There is no collection {name!r} in {self.root}.",
                    hint="Index something first (for guidelines: cra index guidelines PATH).",
                )
            stored = json.loads(path.read_text())
            self._specs[name] = CollectionSpec(
                name=name,
                dense_dim=stored["dense_dim"],
                indexes=stored.get("indexes", {}),
                dense_name=stored.get("dense_name", "dense"),
                sparse_name=stored.get("sparse_name", "sparse"),
            )
        return self._specs[name]

    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)  # the hot path takes no lock: a dict read is atomic
        if shard is not None:
            return shard
        with self._open_lock:
            return self._shards.get(name) or self._load(name)

    def _load(self, name: str) -> qe.EdgeShard:
        if name not in self._shards:
            self._spec(name)
            try:
                self._shards[name] = qe.EdgeShard.load(str(self._dir(name) / "shard"))
            except Exception as exc:  # the binding raises plain exceptions for locked or damaged shards
                if "WouldBlock" in str(exc):
                    raise StoreUnavailableError(
                        str(self._dir(name)),
                        "another process has this collection open (the embedded engine allows one process "
                        "at a time); wait for it to finish, or serve concurrent users from a Qdrant server "
                        "(CRA_QDRANT_URL)",
                    ) from exc
                raise StoreUnavailableError(str(self._dir(name)), f"cannot open the shard ({exc})") from exc
        return self._shards[name]

    def drop_collection(self, name: str) -> None:
        with self._open_lock:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            self._specs.pop(name, None)
            shutil.rmtree(self._dir(name), ignore_errors=True)

    # -- writes --------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        spec, shard = self._spec(collection), self._shard(collection)
        for start in range(0, len(points), _BATCH):
            batch = [
                qe.Point(
                    uuid.UUID(p.id),
                    {
                        spec.dense_name: p.dense,  # already a list: no copy per point
                        spec.sparse_name: qe.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                    },
                    p.payload,
                )
                for p in points[start : start + _BATCH]
            ]
            shard.update(qe.UpdateOperation.upsert_points(batch))
        shard.flush()

    def delete_ids(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        shard = self._shard(collection)
        shard.update(qe.UpdateOperation.delete_points([uuid.UUID(i) for i in ids]))
        shard.flush()

    def delete_where(self, collection: str, where: Filter) -> int:
        if where.empty:
            raise ValueError("refusing to delete with an empty filter")
        shard = self._shard(collection)
        n = self.count(collection, where)
        if n:
            shard.update(qe.UpdateOperation.delete_points_by_filter(_required(where)))
            shard.flush()
        return n

    def set_payload_where(self, collection: str, where: Filter, payload: dict[str, Any]) -> None:
        shard = self._shard(collection)
        shard.update(qe.UpdateOperation.set_payload_by_filter(_required(where), payload))
        shard.flush()

    def optimize(self, collection: str) -> None:
        self._shard(collection).optimize()

    # -- reads ---------------------------------------------------------------
    def count(self, collection: str, where: Filter | None = None) -> int:
        return int(self._shard(collection).count(qe.CountRequest(exact=True, filter=_filter(where))))

    def scroll(
        self, collection: str, where: Filter | None = None, *, fields: Sequence[str] | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        shard = self._shard(collection)
        offset = None
        with_payload: Any = list(fields) if fields is not None else True
        while True:
            records, offset = shard.scroll(
                qe.ScrollRequest(offset=offset, limit=5000, filter=_filter(where), with_payload=with_payload)
            )
            for rec in records:
                payload = rec.payload  # each property access converts from Rust again: read it once
                yield str(rec.id), payload if payload is not None else {}
            if offset is None:
                return

    def retrieve(self, collection: str, ids: Sequence[str]) -> list[Hit]:
        if not ids:
            return []
        records = self._shard(collection).retrieve([uuid.UUID(i) for i in ids], True, False)
        return [_hit(r) for r in records]

    def search_dense(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int,
        where: Filter | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        spec = self._spec(collection)
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(list(vector), using=spec.dense_name),
            filter=_filter(where),
            with_payload=_payload_selector(fields),
        )
        return [_hit(p) for p in self._shard(collection).query(request)]

    def search_sparse(
        self,
        collection: str,
        vector: SparseVec,
        *,
        limit: int,
        where: Filter | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        spec = self._spec(collection)
        sparse = qe.SparseVector(indices=vector.indices, values=vector.values)
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(sparse, using=spec.sparse_name),
            filter=_filter(where),
            with_payload=_payload_selector(fields),
        )
        return [_hit(p) for p in self._shard(collection).query(request)]

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
        spec = self._spec(collection)
        flt = _filter(where)
        sparse_q = qe.SparseVector(indices=sparse.indices, values=sparse.values)
        request = qe.QueryRequest(
            limit=limit,
            prefetches=[
                qe.Prefetch(
                    limit=prefetch, query=qe.Query.Nearest(list(dense), using=spec.dense_name), filter=flt
                ),
                qe.Prefetch(
                    limit=prefetch, query=qe.Query.Nearest(sparse_q, using=spec.sparse_name), filter=flt
                ),
            ],
            query=qe.Fusion.Rrf(k=rrf_k),  # type: ignore[arg-type]  # the stub omits the nested class
            with_payload=True,
        )
        return [_hit(p) for p in self._shard(collection).query(request)]

    def close(self) -> None:
        with self._open_lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
