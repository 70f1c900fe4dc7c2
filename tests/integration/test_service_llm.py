"""The service with an LLM behind it (a scripted OpenAI-compatible server): streamed tokens, readiness, shutdown."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.agent_world import World
from tests.scripted_llm import scripted_llm
from tests.service_server import live_server, world_deps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Q = "Which statin and dose counts as high-intensity therapy?"
GOOD = json.dumps(
    {
        "answer": "High-intensity statin therapy is atorvastatin 40--80 mg or rosuvastatin 20--40 mg daily [G1].",
        "claims": [{"text": "atorvastatin 40--80 mg", "citations": ["G1"]}],
        "uncertainty": "",
        "abstain": False,
        "abstain_reason": "",
    }
)


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    frames = [dict(line.split(": ", 1) for line in f.splitlines()) for f in text.strip().split("\n\n")]
    return [(f["event"], json.loads(f["data"])) for f in frames]


def test_tokens_stream_before_the_checked_answer(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with scripted_llm([("json", GOOD)]) as llm:
        deps = world_deps(world, tmp_path_factory.mktemp("llm"), llm_base_url=llm.base_url, llm_retries=0)
        with live_server(deps) as server:
            key = {"Authorization": f"Bearer {server.key()}"}
            ready = httpx.get(f"{server.url}/readyz")
            tid = httpx.post(f"{server.url}/v1/threads", json={}, headers=key).json()["thread_id"]
            reply = httpx.post(
                f"{server.url}/v1/threads/{tid}/messages", json={"question": Q}, headers=key, timeout=60
            )
            metrics = httpx.get(f"{server.url}/metrics").text
    # The scripted server has no /models: readiness must say the LLM is not serving.
    assert ready.status_code == 503 and "LLM server answered" in ready.json()["checks"]["llm"]["detail"]
    events = _events(reply.text)
    tokens = [e for name, e in events if name == "token"]
    assert len(tokens) > 3 and events[-1][0] == "answer"
    answer = events[-1][1]
    assert answer["mode"] == "llm" and answer["guard"]["passed"]
    assert "".join(t["text"] for t in tokens) == answer["answer"]
    assert "cra_llm_seconds_count 1.0" in metrics and 'cra_answers_total{mode="llm"} 1.0' in metrics


def test_shutdown_lets_the_request_in_flight_finish(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The LLM answers after 2 s (then badly: the agent falls back to evidence); the server is told to stop meanwhile.
    with scripted_llm([("sleep", 2)]) as llm:
        deps = world_deps(world, tmp_path_factory.mktemp("stop"), llm_base_url=llm.base_url, llm_retries=0,
                          llm_timeout_s=10)  # fmt: skip
        with live_server(deps) as server:
            key = {"Authorization": f"Bearer {server.key()}"}
            result: dict[str, Any] = {}

            def ask() -> None:
                result["reply"] = httpx.post(
                    f"{server.url}/v1/ask", json={"question": Q}, headers=key, timeout=60
                )

            client = threading.Thread(target=ask)
            client.start()
            while not llm.requests:
                time.sleep(0.05)
            server.server.should_exit = True  # what SIGTERM does
            client.join(timeout=60)
            server.thread.join(timeout=30)
            assert not server.thread.is_alive()
    assert result["reply"].status_code == 200 and result["reply"].json()["mode"] == "evidence"
