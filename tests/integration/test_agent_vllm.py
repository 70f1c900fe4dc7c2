"""LLM mode end to end: the agent against a real ``vllm serve`` with the small model on loopback.

SmolLM2-135M follows the JSON schema (vLLM's guided decoding) but invents facts, so the test
asserts the serving path (structured output parsed, citations resolved or the guard catching what
the model made up), never the wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from agent.llm import OpenAICompatibleLLM, TokenSink
from agent.schema import parse_llm_answer
from agent.settings import AgentSettings
from agent.tokens import token_counter
from tests.agent_world import World
from tests.llm_fixtures import LLMEndpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Recording(OpenAICompatibleLLM):
    """The real client, keeping every raw reply for the test to inspect."""

    raws: list[str]

    def generate(
        self, messages: Sequence[dict[str, str]], schema: dict[str, Any], *, on_token: TokenSink | None = None
    ) -> str:
        raw = super().generate(messages, schema, on_token=on_token)
        self.raws.append(raw)
        return raw


def test_llm_mode_answer_from_a_real_vllm(world: World, vllm_server: LLMEndpoint) -> None:
    llm = Recording(base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=256, timeout_s=120)
    llm.raws = []
    agent = world.agent(llm)
    agent.context.count_tokens = token_counter(AgentSettings().served_model_dir)  # the served model's own
    answer = agent.ask(
        "Which statin and dose counts as high-intensity therapy?", patient_id=world.patient_ids[0]
    )
    assert llm.raws, answer["guard"]
    parsed = parse_llm_answer(llm.raws[0])  # guided decoding: schema-valid JSON, or this raises
    assert isinstance(parsed.answer, str)
    assert answer["mode"] in ("llm", "abstain", "evidence")
    evidence_ids = {e["id"] for e in answer["evidence"]}
    assert all(c["id"] in evidence_ids for c in answer["citations"])
    if answer["mode"] == "llm":
        assert answer["guard"]["passed"] and answer["model"] == vllm_server.model
        assert answer["citations"], "an LLM answer that passed the guard cites evidence"
    else:  # the guard caught the tiny model: the report says which check and the answer is safe
        failed = [c["name"] for c in answer["guard"]["checks"] if not c["passed"]]
        assert {"llm", "llm_draft"} & set(failed) or answer["mode"] == "abstain", answer["guard"]
    assert answer["timings_ms"]["reason"] > 0


def test_streaming_tokens_from_a_real_vllm(world: World, vllm_server: LLMEndpoint) -> None:
    llm = OpenAICompatibleLLM(
        base_url=vllm_server.base_url, model=vllm_server.model, max_tokens=128, timeout_s=120
    )
    events = list(world.agent(llm).stream("What is the first-line drug for type 2 diabetes?"))
    tokens = [e for e in events if e["type"] == "token"]
    assert len(tokens) > 3, "the answer field should stream in several pieces"
    assert events[-1]["type"] == "answer"
