"""Errors of the agent, with the fields a caller needs to decide what to do next."""

from __future__ import annotations

__all__ = [
    "AgentError",
    "InputError",
    "LLMError",
    "LLMOutputError",
    "LLMUnavailableError",
    "ThreadConflictError",
    "ThreadError",
]


class AgentError(Exception):
    """Base of the agent's errors; ``hint`` tells the user what to do about it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class InputError(AgentError):
    """An argument of the question is malformed (``field`` names it), e.g. an ``as_of`` that is no day."""

    def __init__(self, message: str, *, field: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.field = field


class LLMError(AgentError):
    """The LLM call failed; ``transient`` says whether retrying may help."""

    def __init__(self, message: str, *, transient: bool = False, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class LLMUnavailableError(LLMError):
    """The server cannot be reached or keeps timing out."""


class LLMOutputError(LLMError):
    """The server answered, but not with JSON that matches the answer schema."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class ThreadError(AgentError):
    """A thread id is malformed, or a thread is asked about a different patient."""


class ThreadConflictError(ThreadError):
    """The thread is bound to another patient (or to none) than the question names."""
