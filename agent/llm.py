"""The LLM behind a small protocol; vLLM (or any OpenAI-compatible server) is one implementation.

The ``openai`` SDK is imported here only. Transient failures (connection refused, timeouts, 5xx,
429) are retried with exponential backoff; a server that rejects JSON-schema output is asked
again without it, and the caller's repair and fallback logic takes it from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.errors import LLMError, LLMOutputError, LLMUnavailableError
from agent.settings import AgentSettings

__all__ = ["LLM", "Message", "OpenAICompatibleLLM", "TokenSink", "make_llm"]

log = logging.getLogger(__name__)

Message = dict[str, str]
TokenSink = Callable[[str], None]


class LLM(Protocol):
    """Generates one JSON answer for a chat; ``on_token`` receives text deltas as they arrive."""

    model: str

    def generate(
        self, messages: Sequence[Message], schema: dict[str, Any], *, on_token: TokenSink | None = None
    ) -> str:
        """The raw text of the reply (expected to be JSON matching ``schema``)."""
        ...


@dataclass
class OpenAICompatibleLLM:
    """Chat completions against an OpenAI-compatible endpoint such as ``vllm serve``."""

    base_url: str
    model: str
    api_key: str = ""
    timeout_s: float = 60.0
    connect_timeout_s: float = 3.0
    retries: int = 2
    backoff_s: float = 0.5
    max_tokens: int = 512
    temperature: float = 0.0
    guided: bool = True  # turned off for good once the server rejects JSON-schema output
    _client: Any = field(default=None, init=False, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self.api_key or "none",
                timeout=openai.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                max_retries=0,  # retries are ours, with our backoff and logging
            )
        return self._client

    def generate(
        self, messages: Sequence[Message], schema: dict[str, Any], *, on_token: TokenSink | None = None
    ) -> str:
        attempt = 0
        while True:
            try:
                return self._once(messages, schema, on_token)
            except LLMError as exc:
                if not exc.transient or attempt >= self.retries:
                    raise
                delay = self.backoff_s * (2**attempt)
                log.warning("LLM call failed (%s); retry %d in %.1f s", exc, attempt + 1, delay)
                time.sleep(delay)
                attempt += 1

    def _once(self, messages: Sequence[Message], schema: dict[str, Any], on_token: TokenSink | None) -> str:
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": True,
        }
        if self.guided:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "clinical_answer", "schema": schema, "strict": True},
            }
        try:
            parts: list[str] = []
            for chunk in self.client.chat.completions.create(**kwargs):
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    parts.append(delta)
                    if on_token is not None:
                        on_token(delta)
            return "".join(parts)
        except openai.BadRequestError as exc:
            text = str(exc).lower()
            if self.guided and ("response_format" in text or "json_schema" in text):
                log.warning("the LLM server rejected JSON-schema output; asking without it")
                self.guided = False
                return self._once(messages, schema, on_token)
            raise LLMOutputError(f"the LLM server rejected the request: {exc}") from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise LLMUnavailableError(
                f"LLM server at {self.base_url} unreachable or too slow: {type(exc).__name__}",
                transient=True,
                hint="start it with `cra llm serve`, or unset CRA_LLM_BASE_URL for evidence mode",
            ) from exc
        except openai.APIStatusError as exc:
            transient = exc.status_code >= 500 or exc.status_code == 429
            raise LLMUnavailableError(
                f"LLM server answered HTTP {exc.status_code}", transient=transient
            ) from exc


def make_llm(settings: AgentSettings) -> LLM | None:
    """The configured LLM, or ``None`` (evidence mode) when no endpoint is set."""
    if not settings.llm_base_url:
        return None
    return OpenAICompatibleLLM(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        timeout_s=settings.llm_timeout_s,
        connect_timeout_s=settings.llm_connect_timeout_s,
        retries=settings.llm_retries,
        backoff_s=settings.llm_backoff_s,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
    )
