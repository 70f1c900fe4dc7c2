"""Settings of the HTTP service (``CRA_SERVE_*``, ``CRA_API_*``), refusing unsafe combinations."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.net import is_loopback

__all__ = ["ServeSettings", "is_loopback"]


class ServeSettings(BaseSettings):
    """How ``cra serve`` listens and what it lets through; each field maps to ``CRA_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CRA_", env_file=".env", extra="ignore")

    serve_host: str = Field(default="127.0.0.1", description="Address the API binds.")
    serve_port: int = Field(default=8080, ge=1, le=65535, description="Port the API listens on.")
    api_auth: Literal["keys", "off"] = Field(
        default="keys", description="keys: every /v1 request needs an API key; off: loopback demos only."
    )
    api_max_body_bytes: int = Field(default=65536, ge=1024, description="Largest request body accepted.")
    cds_max_body_bytes: int = Field(
        default=16 * 2**20,
        ge=1024,
        description="Largest CDS Hooks request body (it carries the prefetched FHIR record).",
    )
    api_rate_per_minute: int = Field(default=120, ge=1, description="Requests per minute per API key.")
    api_rate_burst: int = Field(default=30, ge=1, description="Requests a key may send at once.")
    api_max_concurrent_answers: int = Field(
        default=4, ge=1, le=256, description="Agent runs at once in this process (the rest queue)."
    )
    api_thread_turn_wait_s: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="How long a question waits for the previous turn of its thread to finish before 409.",
    )
    api_keys_db: Path | None = Field(
        default=None,
        description=(
            "SQLite file of API keys (one host only). Empty: the shared state store (CRA_STATE_URL): "
            "Postgres for replicas, else <data dir>/api_keys.sqlite."
        ),
    )
    serve_graceful_s: float = Field(
        default=20.0, ge=0, description="On SIGTERM, how long in-flight requests may finish."
    )
    api_docs_auth: Literal["auto", "keys", "off"] = Field(
        default="auto",
        description=(
            "keys: /docs, /redoc, /openapi.json and /metrics need an API key; off: open; "
            "auto: keys off loopback, open on a loopback bind."
        ),
    )

    @field_validator("api_keys_db", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def docs_need_key(self) -> bool:
        """Whether the API description and the metrics ask for an API key."""
        if self.api_docs_auth == "auto":
            return not is_loopback(self.serve_host)
        return self.api_docs_auth == "keys"

    @model_validator(mode="after")
    def _no_open_public_bind(self) -> ServeSettings:
        if self.api_auth == "off" and not is_loopback(self.serve_host):
            raise ValueError(
                f"CRA_API_AUTH=off on {self.serve_host}: an open API is only allowed on a loopback address"
            )
        return self
