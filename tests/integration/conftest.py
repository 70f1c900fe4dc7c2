"""Fixtures shared by the integration tests."""

from tests.agent_world import world
from tests.llm_fixtures import vllm_server

__all__ = ["vllm_server", "world"]
