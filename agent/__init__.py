"""The clinical reasoning agent: a LangGraph graph over guideline and patient evidence.

``Agent`` and ``AgentContext`` are imported on first use: importing LangGraph costs about a
second, and ``agent.errors`` or ``agent.settings`` alone (the CLI's ``--help``) need none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.context import AgentContext
    from agent.runner import Agent

__all__ = ["Agent", "AgentContext"]


def __getattr__(name: str) -> Any:
    if name == "Agent":
        from agent.runner import Agent

        return Agent
    if name == "AgentContext":
        from agent.context import AgentContext

        return AgentContext
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
