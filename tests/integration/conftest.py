"""Fixtures shared by the integration tests."""

from tests.llm_fixtures import vllm_server

__all__ = ["vllm_server"]
