"""A scripted model for the attacks only a misbehaving LLM can carry (a 10x dose, a fabricated citation).

A tiny CPU model cannot be made to misbehave on cue, so each such case carries the malicious reply;
this model fills its placeholders from the prompt it is actually sent (the first guideline and patient
ids and passages shown) and returns it as the agent's real JSON. The output guard sees exactly what a
misbehaving model would have written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from agent.text import sentences

__all__ = ["ScriptedModel"]

_LINE = re.compile(r"^\[([GP]\d+)\] \([^)]*\) (.*)$")


class ScriptedModel:
    """Returns ``reply`` (placeholders filled) every time; records the prompts it was sent."""

    model = "scripted-redteam"

    def __init__(self, reply: dict[str, Any], values: dict[str, str]) -> None:
        self.reply = reply
        self.values = values
        self.prompts: list[str] = []

    def _fill(self, text: str, items: dict[str, str]) -> str:
        # "G1"/"P1" in a reply mean the first guideline and patient item the prompt shows: packing may
        # put others first (an assessment's inputs lead) or leave the lowest numbers out
        first = {kind: next((k for k in items if k.startswith(kind)), f"{kind}1") for kind in ("G", "P")}
        quote = {
            kind: next((s for s in sentences(items.get(key, "")) if len(s.split()) >= 4), "")
            for kind, key in first.items()
        }
        values = {**self.values, "QUOTE_G": quote["G"], "QUOTE_P": quote["P"]}
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text.replace("[G1]", f"[{first['G']}]").replace("[P1]", f"[{first['P']}]")

    def generate(self, messages: Sequence[Any], schema: dict[str, Any], *, on_token: Any = None) -> str:
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        self.prompts.append(prompt)
        items = {m.group(1): m.group(2) for m in map(_LINE.match, prompt.splitlines()) if m}
        claims = [
            {"text": self._fill(c["text"], items), "citations": c.get("citations", [])}
            for c in self.reply.get("claims", [])
        ]
        raw = json.dumps(
            {"answer": self._fill(self.reply["answer"], items), "claims": claims, "uncertainty": ""}
        )
        if on_token is not None:
            on_token(raw)
        return raw
