"""Engine-neutral value types shared by the store, the encoders and the retrievers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AnyOf",
    "CollectionSpec",
    "Condition",
    "Equals",
    "Filter",
    "Hit",
    "IndexKind",
    "PointRecord",
    "Range",
    "SparseVec",
]

# No "bool": qdrant-edge-py 0.9.0 turns MatchValue(True) into the integer 1, so boolean
# conditions never match there. Filterable flags are stored as keywords instead.
IndexKind = Literal["keyword", "integer", "float"]


@dataclass(frozen=True)
class SparseVec:
    """A sparse vector: parallel lists of term ids and weights."""

    indices: list[int]
    values: list[float]


@dataclass
class PointRecord:
    """One point to store: a stable id, both vectors and the payload."""

    id: str
    dense: list[float]
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class Equals:
    """The payload field equals a keyword or integer value."""

    key: str
    value: str | int


@dataclass(frozen=True)
class AnyOf:
    """The payload field equals one of the values."""

    key: str
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class Range:
    """Numeric range on a payload field; bounds are inclusive and optional."""

    key: str
    gte: float | None = None
    lte: float | None = None


Condition = Equals | AnyOf | Range


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold, and conditions that must all fail."""

    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def and_(self, other: Filter | None) -> Filter:
        """Both filters at once."""
        if other is None:
            return self
        return Filter(must=self.must + other.must, must_not=self.must_not + other.must_not)

    @property
    def empty(self) -> bool:
        return not self.must and not self.must_not


@dataclass(frozen=True)
class CollectionSpec:
    """Layout of a collection: dense size, and the payload fields that get an index."""

    name: str
    dense_dim: int
    indexes: dict[str, IndexKind] = field(default_factory=dict)
    dense_name: str = "dense"
    sparse_name: str = "sparse"
    # Multitenant layout: every query filters on this keyword field (one tenant = one patient), so
    # no global HNSW graph is built; searches scan the tenant's own points via the payload index.
    tenant_key: str | None = None
