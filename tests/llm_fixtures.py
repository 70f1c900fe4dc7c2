"""The ``vllm_server`` fixture: a real vLLM OpenAI-compatible server with the small model, once per session.

Use it from any test module (``tests/integration/conftest.py`` imports it for that folder)::

    def test_answer(vllm_server: LLMEndpoint) -> None:
        settings = AgentSettings(llm_base_url=vllm_server.base_url, llm_model=vllm_server.model)

It skips, with the reason, where vLLM is not installed (``make llm-install`` builds ``.venv-llm``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.settings import AgentSettings
from service.llm_server import LLMServerError, VllmServer, find_vllm, free_port, resolve_model

__all__ = ["LLMEndpoint", "vllm_server"]


@dataclass(frozen=True)
class LLMEndpoint:
    """Where the test server answers: ``base_url`` ends in ``/v1``; ``model`` is the served name."""

    base_url: str
    model: str
    log_path: Path
    start_seconds: float


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMEndpoint]:
    """Start ``vllm serve`` on a free loopback port (about 40 s on CPU), stop it after the session.

    The converted model is cached in the data dir (``$CRA_DATA_DIR`` or ``.cra``), so only the first
    session pays the ~30 s conversion.
    """
    settings = AgentSettings(llm_host="127.0.0.1", llm_port=free_port(), llm_api_key="")
    try:
        install = find_vllm(settings.llm_venv)
    except LLMServerError as exc:
        pytest.skip(f"no vLLM to serve with: {exc}")
    model_dir = resolve_model(settings, install)
    log_path = tmp_path_factory.mktemp("vllm") / "vllm.log"
    server = VllmServer(settings, install, model_dir, log_path)
    server.start()
    assert server.start_seconds is not None
    try:
        yield LLMEndpoint(server.base_url, server.model, log_path, server.start_seconds)
    finally:
        server.stop()
