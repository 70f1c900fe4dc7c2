"""Memory under load on ``POST /v1/ask``: after warm-up, more answers must not mean more memory.

A real uvicorn in this process over the real store, embedding model and guards; concurrent clients
ask guideline and patient questions, each starting a new checkpointed thread. Measured after a
warm-up (the worker pool grown, the models and caches loaded): the Python heap (tracemalloc) and
the process's event loops, threads and open files.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.agent_world import World
from tests.service_server import LiveServer, live_server, world_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTIONS = (
    "Which statin and dose counts as high-intensity therapy?",
    "What blood pressure target applies to adults with diabetes?",
    "Is the latest blood pressure at target?",
    "How has kidney function changed over time?",
)
CLIENTS = 4
WARM_UP = 24
REQUESTS = 96
# Per answer, after warm-up: under 1 KB now; guardrails-ai's unclosed event loops held about 270 KB
# of Python heap and five file descriptors per Guard call, 2.5 loops an answer (measured).
MAX_HEAP_GROWTH_KB_PER_ANSWER = 10


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    deps = world_deps(world, tmp_path_factory.mktemp("service-memory"))
    with live_server(deps, api_rate_per_minute=1_000_000, api_rate_burst=10_000) as live:
        yield live


def _ask_many(server: LiveServer, key: str, patients: list[str], count: int) -> None:
    def ask(n: int) -> None:
        body: dict[str, str] = {"question": QUESTIONS[n % len(QUESTIONS)]}
        if n % 2:
            body["patient_id"] = patients[n % len(patients)]
        reply = http.post(f"{server.url}/v1/ask", json=body, timeout=120)
        assert reply.status_code == 200, reply.text

    limits = httpx.Limits(max_connections=CLIENTS)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(headers=headers, limits=limits) as http, ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(ask, range(count)))


def _resources() -> dict[str, int]:
    gc.collect()
    return {
        "event loops": sum(isinstance(o, asyncio.AbstractEventLoop) for o in gc.get_objects()),
        "threads": threading.active_count(),
        "files": len(os.listdir("/proc/self/fd")),
    }


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc (Linux)")
def test_ask_under_load_keeps_memory_flat_after_warm_up(server: LiveServer, world: World) -> None:
    key = server.key()
    # Traced from the start: the warm-up replaces what bounded state holds (each Guard's history of
    # ten calls) with traced objects, so the growth after it is what more answers add.
    tracemalloc.start()
    try:
        _ask_many(server, key, world.patient_ids, WARM_UP)
        before = _resources()
        heap = tracemalloc.get_traced_memory()[0]
        _ask_many(server, key, world.patient_ids, REQUESTS)
        after = _resources()
        per_answer_kb = (tracemalloc.get_traced_memory()[0] - heap) / 1024 / REQUESTS
    finally:
        tracemalloc.stop()
    assert after["event loops"] == before["event loops"], f"event loops left behind: {before} -> {after}"
    # The client's pool threads and connections come and go; a leak grows with the requests.
    assert after["threads"] <= before["threads"] + 2, f"threads left behind: {before} -> {after}"
    assert after["files"] <= before["files"] + 8, f"files left open: {before} -> {after}"
    assert per_answer_kb < MAX_HEAP_GROWTH_KB_PER_ANSWER, (
        f"Python heap grew {per_answer_kb:.1f} KB per answer"
    )
