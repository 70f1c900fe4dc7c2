"""Fixtures of the browser tests: the agent world (real store, model and patients)."""

from tests.agent_world import world

__all__ = ["world"]
