"""Request bodies of the /v1 API (responses are the agent's answer JSON, documented in the README)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "PATIENT_ID",
    "THREAD_ID",
    "AskRequest",
    "ChatMessage",
    "ChatRequest",
    "FeedbackRequest",
    "MessageRequest",
    "ThreadCreate",
]

PATIENT_ID = r"^[A-Za-z0-9\-.]{1,64}$"  # a FHIR resource id
THREAD_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
_DAY = r"^\d{4}-\d{2}-\d{2}$"
_STRICT = ConfigDict(extra="forbid")


def _calendar_day(value: str | None) -> str | None:
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "as_of must be a calendar day written YYYY-MM-DD (a real month and day)"
            ) from None
    return value


AsOf = Annotated[
    str | None,
    Field(default=None, pattern=_DAY, description="Judge the record as of this day (YYYY-MM-DD)."),
    AfterValidator(_calendar_day),
]


class AskRequest(BaseModel):
    """One question, optionally about one patient and inside a thread."""

    model_config = _STRICT
    question: str = Field(min_length=1, max_length=4000)
    patient_id: str | None = Field(default=None, pattern=PATIENT_ID)
    thread_id: str | None = Field(default=None, pattern=THREAD_ID)
    as_of: AsOf = None


class ThreadCreate(BaseModel):
    """A new conversation, bound to one patient (or to none) for its whole life."""

    model_config = _STRICT
    patient_id: str | None = Field(default=None, pattern=PATIENT_ID)


class MessageRequest(BaseModel):
    """The next question of a thread."""

    model_config = _STRICT
    question: str = Field(min_length=1, max_length=4000)
    as_of: AsOf = None


class FeedbackRequest(BaseModel):
    """A clinician's verdict on one answer (``answer_id`` from the answer JSON)."""

    model_config = _STRICT
    answer_id: str = Field(min_length=8, max_length=64)
    rating: Literal["up", "down"]
    correction: str = Field(default="", max_length=4000, description="What the answer should have said.")
    outcome: Literal["accepted", "modified", "rejected", "not_used"] | None = None


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat-completions request; unknown fields (temperature, tools...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = "cra"
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    metadata: dict[str, str] | None = Field(
        default=None,
        description="patient_id and thread_id may be given here (or as X-Patient-ID / X-Thread-ID).",
    )
