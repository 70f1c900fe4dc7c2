"""Streaming the ``answer`` field out of a JSON reply while the model is still writing it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

__all__ = ["AnswerStream"]

_START = re.compile(r'"answer"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerStream:
    """Feed raw JSON deltas; the decoded characters of the ``answer`` string go to ``emit``.

    Only the top-level ``answer`` value is streamed (the schema puts it first); everything else
    is ignored until the final parse.
    """

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._buf = ""
        self._pos = -1  # index in _buf of the next undecoded answer character; -1: not started
        self._done = False

    def feed(self, delta: str) -> None:
        if self._done:
            return
        self._buf += delta
        if self._pos < 0:
            m = _START.search(self._buf)
            if m is None:
                return
            self._pos = m.end()
        out: list[str] = []
        i, buf = self._pos, self._buf
        while i < len(buf):
            ch = buf[i]
            if ch == '"':
                self._done = True
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(buf):
                break  # wait for the rest of the escape
            nxt = buf[i + 1]
            if nxt == "u":
                if i + 6 > len(buf):
                    break
                try:
                    out.append(json.loads(f'"{buf[i : i + 6]}"'))
                except json.JSONDecodeError:
                    out.append("\ufffd")
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        self._pos = i
        if out:
            self._emit("".join(out))
