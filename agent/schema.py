"""What the LLM must return (a JSON schema enforced by vLLM's guided decoding) and how it is read."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.errors import LLMOutputError

__all__ = ["MARKER", "Claim", "LLMAnswer", "answer_schema", "markers_in", "parse_llm_answer"]

# A citation marker in answer text: [G1], [P12], [A1]; several may share brackets: [G1, P2].
MARKER = re.compile(r"\[((?:[GPA]\d{1,3})(?:\s*[,;]\s*[GPA]\d{1,3})*)\]")


class Claim(BaseModel):
    """One clinical statement of the answer and the evidence ids that support it."""

    text: str = Field(max_length=600)
    citations: list[str] = Field(default_factory=list, max_length=8)


class LLMAnswer(BaseModel):
    """The structured answer; ``answer`` comes first so that it streams first."""

    answer: str = Field(max_length=4000, description="Markdown answer with [A#]/[G#]/[P#] markers.")
    claims: list[Claim] = Field(default_factory=list, max_length=12)
    uncertainty: str = Field(default="", max_length=400, description="What is uncertain or missing.")
    abstain: bool = False
    abstain_reason: str = Field(default="", max_length=400)


def answer_schema() -> dict[str, Any]:
    """The JSON schema sent to the server with the request."""
    return LLMAnswer.model_json_schema()


def markers_in(text: str) -> list[str]:
    """Every evidence id cited in ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for group in MARKER.findall(text):
        for part in re.split(r"[,;]", group):
            seen.setdefault(part.strip(), None)
    return list(seen)


def parse_llm_answer(raw: str) -> LLMAnswer:
    """Read the server's reply; anything that is not the schema's JSON raises ``LLMOutputError``."""
    text = raw.strip()
    if text.startswith("```"):  # some servers wrap JSON in a fence when guided decoding is off
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMOutputError(f"the model's reply is not JSON ({exc.msg} at {exc.pos})", raw=raw) from exc
    try:
        return LLMAnswer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise LLMOutputError(
            f"the model's JSON does not match the schema at {where}: {first['msg']}", raw=raw
        ) from exc
