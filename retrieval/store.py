"""The vector store interface and the factory that picks an engine from settings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.types import CollectionSpec, Filter, Hit, PointRecord, SparseVec

if TYPE_CHECKING:  # pydantic-settings loads with the settings a command builds, not with this interface
    from retrieval.settings import Settings

__all__ = ["RRF_K", "VectorStore", "open_store"]

# Reciprocal rank fusion constant used by both engines. A fused score is the sum of
# 1 / (k + rank - 1) over the dense and sparse lists; a small k lets the top of each list
# dominate. 2 is Qdrant's own default, and it beat 5, 10 and 60 (the original paper's value)
# on both retrieval suites (reports/eval/*/report.md). CRA_RRF_K overrides it.
RRF_K = 2


class VectorStore(Protocol):
    """What the rest of the system needs from Qdrant, whichever engine serves it.

    Point ids are strings holding UUIDs. Payload filters use :class:`retrieval.types.Filter`.
    """

    target: str

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection and its payload indexes if missing; check the layout if present."""

    def has_collection(self, name: str) -> bool: ...

    def drop_collection(self, name: str) -> None: ...

    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None: ...

    def delete_ids(self, collection: str, ids: Sequence[str]) -> None: ...

    def delete_where(self, collection: str, where: Filter) -> int:
        """Delete the points matching ``where``; returns how many there were."""

    def set_payload_where(self, collection: str, where: Filter, payload: dict[str, Any]) -> None: ...

    def count(self, collection: str, where: Filter | None = None) -> int: ...

    def scroll(
        self, collection: str, where: Filter | None = None, *, fields: Sequence[str] | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every matching point as ``(id, payload)``; ``fields`` limits the payload keys returned."""

    def retrieve(self, collection: str, ids: Sequence[str]) -> list[Hit]: ...

    def search_dense(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int,
        where: Filter | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Nearest points by the dense vector; ``fields`` limits the payload keys returned (``()``: none)."""

    def search_sparse(
        self,
        collection: str,
        vector: SparseVec,
        *,
        limit: int,
        where: Filter | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Best points by the sparse (BM25) vector; ``fields`` limits the payload keys returned (``()``: none)."""

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
        """Dense and sparse candidates fused by reciprocal rank fusion inside Qdrant."""

    def optimize(self, collection: str) -> None:
        """Build indexes now instead of at the engine's leisure (no-op where the engine decides)."""

    def close(self) -> None: ...


def open_store(settings: Settings) -> VectorStore:
    """Open the embedded engine when ``CRA_QDRANT_URL`` is empty, otherwise a Qdrant server."""
    if settings.qdrant_url:
        from retrieval.client_store import ClientStore

        return ClientStore.connect(
            settings.qdrant_url, api_key=settings.qdrant_api_key or None, timeout=settings.qdrant_timeout_s
        )
    from retrieval.edge_store import EdgeStore

    return EdgeStore(settings.qdrant_dir)
