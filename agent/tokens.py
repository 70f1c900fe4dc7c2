"""Counting tokens with the served model's own tokenizer, so the evidence fits its context window."""

from __future__ import annotations

import logging
from pathlib import Path

from agent.evidence import TokenCounter, word_estimate

__all__ = ["token_counter"]

log = logging.getLogger(__name__)


def token_counter(tokenizer_dir: str | Path | None) -> TokenCounter:
    """A counter from ``tokenizer.json`` in ``tokenizer_dir``; the word estimate when there is none."""
    if not tokenizer_dir:
        return word_estimate
    path = Path(tokenizer_dir)
    path = path / "tokenizer.json" if path.is_dir() else path
    if not path.is_file():
        log.warning("no tokenizer at %s; estimating tokens from words", path)
        return word_estimate
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count
