"""The server's garbage-collector tuning (service.runtime.tune_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service.runtime import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_gc_freezes_what_is_loaded_and_raises_the_young_threshold(restore_gc: None) -> None:
    kept = [{"n": i} for i in range(1000)]  # stands for the models a server loads at start
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # fewer young passes than CPython's default
    assert gc.get_freeze_count() >= len(kept)
    # cycles made after start-up are still found and freed
    a: dict[str, object] = {}
    a["self"] = a
    del a
    assert gc.collect() >= 1
