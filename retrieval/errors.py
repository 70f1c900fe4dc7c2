"""Errors raised by the retrieval layer; the CLI and HTTP edges turn them into messages."""

from __future__ import annotations

__all__ = [
    "EmbeddingModelError",
    "FilterError",
    "RetrievalError",
    "StoreSchemaError",
    "StoreUnavailableError",
]


class RetrievalError(Exception):
    """Base of every error in ``retrieval``; ``hint`` tells the user what to do next."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class StoreUnavailableError(RetrievalError):
    """The vector store could not be reached or opened."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(
            f"Cannot reach Qdrant at {target}: {reason}.",
            hint="Check CRA_QDRANT_URL and that the server is running, or unset it to use the embedded engine.",
        )
        self.target = target
        self.reason = reason


class StoreSchemaError(RetrievalError):
    """A collection exists with a layout this code cannot use (for example another embedding size)."""


class FilterError(RetrievalError):
    """A search filter names an unknown field or has a value of the wrong type."""


class EmbeddingModelError(RetrievalError):
    """The embedding model could not be loaded."""
