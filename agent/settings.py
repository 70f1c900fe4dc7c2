"""Settings of the agent: the LLM endpoint and the conversation store, on top of the retrieval settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from guidelines_index.trust import DEFAULT_TRUSTED_ISSUERS, expand_trusted
from retrieval.settings import Settings

__all__ = ["SMOLLM2_DIRNAME", "AgentSettings"]

SMOLLM2_DIRNAME = "smollm2-135m-instruct"


class AgentSettings(Settings):
    """Everything ``Settings`` has, plus the LLM and the checkpointer; env vars keep the ``CRA_`` prefix."""

    llm_base_url: str = Field(
        default="",
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; empty means evidence mode.",
    )
    llm_model: str = Field(default="smollm2", description="Model name the server serves.")
    llm_api_key: str = Field(default="", description="Bearer key for the LLM server, if it needs one.")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one LLM request.")
    llm_connect_timeout_s: float = Field(default=3.0, gt=0, description="Connect timeout to the LLM server.")
    llm_retries: int = Field(default=2, ge=0, le=10, description="Retries after a transient LLM failure.")
    llm_backoff_s: float = Field(default=0.5, ge=0, description="First backoff; doubles at each retry.")
    llm_max_tokens: int = Field(default=512, ge=16, le=32768, description="Most tokens one answer may use.")
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    llm_context_tokens: int = Field(
        default=2048, ge=512, description="Context window of the served model (prompt + answer)."
    )
    llm_tokenizer: str = Field(
        default="",
        description="Tokenizer folder of the served model, for packing evidence; empty: a word-based estimate.",
    )
    # Serving side: `cra llm serve` starts vLLM with these; the agent itself only reads llm_base_url.
    llm_venv: Path = Field(
        default=Path(".venv-llm"),
        description="Virtual environment holding vLLM (make llm-install); without it, a vllm on PATH.",
    )
    llm_model_path: str = Field(
        default="",
        description="Hugging Face model folder to serve; empty: SmolLM2-135M-Instruct converted into the data dir.",
    )
    llm_host: str = Field(default="127.0.0.1", description="Address the local vLLM server binds.")
    llm_port: int = Field(default=8000, ge=1, le=65535, description="Port of the local vLLM server.")
    llm_start_timeout_s: float = Field(
        default=300.0, gt=0, description="How long to wait for the vLLM server to become healthy."
    )
    llm_kv_cache_gib: int = Field(
        default=1, ge=1, description="KV cache of vLLM on CPU in GiB (VLLM_CPU_KVCACHE_SPACE)."
    )
    checkpointer_url: str = Field(
        default="",
        description="Empty: SQLite under the data dir. postgresql://... uses LangGraph's Postgres checkpointer.",
    )
    trusted_issuers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_TRUSTED_ISSUERS,
        description=(
            "Guideline issuers whose passages are cited as guidance, comma-separated; 'default' stands for "
            "the packaged corpus's issuers and USPSTF. Passages from any other issuer are labelled "
            "'local, unverified'."
        ),
    )

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _issuers(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        return expand_trusted(value)

    @field_validator("llm_base_url", "checkpointer_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @property
    def served_model_dir(self) -> Path:
        """The model folder a local vLLM serves: ``llm_model_path``, else SmolLM2 converted into the data dir."""
        return (
            Path(self.llm_model_path) if self.llm_model_path else self.data_dir / "models" / SMOLLM2_DIRNAME
        )

    @property
    def tokenizer_dir(self) -> Path | None:
        """Where the served model's tokenizer is: ``llm_tokenizer``, else the served folder if it has one."""
        if self.llm_tokenizer:
            return Path(self.llm_tokenizer)
        folder = self.served_model_dir
        return folder if (folder / "tokenizer.json").is_file() else None

    @property
    def threads_db(self) -> Path:
        """SQLite file holding conversation threads (the default checkpointer)."""
        return self.data_dir / "threads.sqlite"
