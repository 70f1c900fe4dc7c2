"""A sentence-transformers model run by ONNX Runtime: the same vectors, without torch at start-up.

Importing torch and sentence-transformers costs several seconds; onnxruntime and tokenizers
load in a fraction of one. The model's transformer is exported to ONNX once (that one time
needs torch and transformers) into a per-user cache keyed by the model's files, then every
process loads the exported graph. Tokenizing (``tokenizer.json``), mean or CLS pooling and
normalization follow the model folder's own sentence-transformers configuration, so the vectors
match the torch encoder's (cosine >= 0.999, checked by a test over the corpus).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import EmbeddingModelError

__all__ = ["EXPORT_VERSION", "OnnxSentenceModel", "onnx_cache_dir", "onnx_path_for"]

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the export below changes: the cache key includes it
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def onnx_cache_dir() -> Path:
    """Where exported models live: ``$XDG_CACHE_HOME`` (else ``~/.cache``)/clinical-reasoning-agent/onnx."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clinical-reasoning-agent" / "onnx"


def _fingerprint(folder: Path) -> str:
    """A key that changes when the model's weights or configuration change (names, sizes, mtimes)."""
    digest = hashlib.sha256(f"{EXPORT_VERSION}|{folder.resolve()}".encode())
    for name in ("config.json", "tokenizer.json", *_WEIGHTS):
        path = folder / name
        if path.is_file():
            st = path.stat()
            digest.update(f"|{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def onnx_path_for(folder: Path, cache: Path | None = None) -> Path:
    """The exported graph of the model in ``folder`` (it may not exist yet)."""
    return (cache or onnx_cache_dir()) / f"{folder.name}-{_fingerprint(folder)}" / "model.onnx"


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _pipeline(folder: Path) -> tuple[str, bool, int]:
    """(pooling, normalize, max_seq_length) of a Transformer -> Pooling [-> Normalize] model folder."""
    modules = _read_json(folder / "modules.json") if (folder / "modules.json").is_file() else []
    kinds = [m.get("type") for m in modules]
    if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
        raise EmbeddingModelError(
            f"The ONNX backend runs Transformer -> Pooling [-> Normalize] models; {folder} has {kinds}.",
            hint="Set CRA_EMBEDDING_BACKEND=torch for this model.",
        )
    pooling_cfg = _read_json(folder / modules[1]["path"] / "config.json")
    if pooling_cfg.get("pooling_mode_mean_tokens"):
        pooling = "mean"
    elif pooling_cfg.get("pooling_mode_cls_token"):
        pooling = "cls"
    else:
        raise EmbeddingModelError(
            f"The ONNX backend supports mean or CLS pooling; {folder} asks for another.",
            hint="Set CRA_EMBEDDING_BACKEND=torch for this model.",
        )
    st_cfg = folder / "sentence_bert_config.json"
    max_len = int(_read_json(st_cfg).get("max_seq_length") or 512) if st_cfg.is_file() else 512
    return pooling, len(kinds) == 3, max_len


def export_onnx(folder: Path, target: Path) -> None:
    """Export the model's transformer to ``target`` (torch and transformers, once per model)."""
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    target.parent.mkdir(parents=True, exist_ok=True)
    # written beside the target, then renamed: a process loading it never sees half a file
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        # The tracer warns about Python branches on shapes; for an encoder they never depend on them.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHidden(model),
                sample,
                tmp,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class OnnxSentenceModel:
    """The model in ``folder`` run by ONNX Runtime; ``encode`` takes ``SentenceTransformer.encode``'s arguments."""

    def __init__(self, folder: str | Path, *, threads: int = 0, cache: Path | None = None) -> None:
        self.folder = Path(folder)
        if not (self.folder / "tokenizer.json").is_file():
            raise EmbeddingModelError(
                f"The ONNX backend needs {self.folder / 'tokenizer.json'} (a fast tokenizer).",
                hint="Set CRA_EMBEDDING_BACKEND=torch for this model.",
            )
        self.pooling, self.normalize, self.max_seq_length = _pipeline(self.folder)
        self.onnx_path = onnx_path_for(self.folder, cache)
        if not self.onnx_path.is_file():
            log.info("exporting %s to ONNX once, into %s", self.folder, self.onnx_path)
            try:
                export_onnx(self.folder, self.onnx_path)
            except OSError as exc:  # a read-only or full cache folder
                raise EmbeddingModelError(
                    f"Could not write the ONNX export of {self.folder} to {self.onnx_path}: {exc}",
                    hint="Point XDG_CACHE_HOME at a writable folder, or set CRA_EMBEDDING_BACKEND=torch.",
                ) from exc
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, one per core
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: the cores are shared with other processes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._dim = int(_read_json(self.folder / "config.json")["hidden_size"])

    def get_sentence_embedding_dimension(self) -> int:
        """The size of the vectors (the transformer's hidden size)."""
        return self._dim

    def _forward(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        types = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return np.asarray(pooled, dtype=np.float32)

    def encode(
        self,
        sentences: Sequence[str],
        *,
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """Vectors in input order; like sentence-transformers, batches are formed by length."""
        texts = list(sentences)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._forward([texts[i] for i in chunk])
        if self.normalize or normalize_embeddings:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out
