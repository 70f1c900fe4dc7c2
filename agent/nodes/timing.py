"""Per-node wall time, recorded in the state's ``timings_ms``."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["timed"]

F = TypeVar("F", bound=Callable[..., dict[str, Any]])


def timed(name: str, *, first: bool = False) -> Callable[[F], F]:
    """Add the node's milliseconds to ``timings_ms``; ``first`` starts a new question's timings."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
            start = time.perf_counter()
            update = fn(*args, **kwargs)
            ms = round((time.perf_counter() - start) * 1000, 2)
            timings = {"_reset": 1.0} if first else {}
            timings[name] = ms + float(update.get("timings_ms", {}).get(name, 0.0))
            return {**update, "timings_ms": timings}

        return run  # type: ignore[return-value]

    return wrap
