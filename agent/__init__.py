"""The clinical reasoning agent: a LangGraph graph over guideline and patient evidence."""

from agent.context import AgentContext
from agent.runner import Agent

__all__ = ["Agent", "AgentContext"]
