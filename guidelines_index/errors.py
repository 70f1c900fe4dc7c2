"""Errors of the guideline indexer."""

from __future__ import annotations

__all__ = ["GuidelineIndexError", "SkipFile"]


class GuidelineIndexError(Exception):
    """Base error of ``guidelines_index``."""


class SkipFile(GuidelineIndexError):
    """This file cannot be indexed; ``reason`` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
