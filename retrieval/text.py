"""Small text utilities shared by the guideline and patient indexers."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["pack_by_words"]


def pack_by_words(pieces: Iterable[str], limit: int) -> list[str]:
    """Join consecutive pieces (sentences, paragraphs) into chunks of at most ``limit`` words.

    A single piece longer than ``limit`` becomes a chunk of its own; pieces are never cut.
    """
    out: list[str] = []
    cur: list[str] = []
    n = 0
    for piece in pieces:
        words = len(piece.split())
        if cur and n + words > limit:
            out.append(" ".join(cur))
            cur, n = [], 0
        cur.append(piece)
        n += words
    if cur:
        out.append(" ".join(cur))
    return out
