"""Index guideline files into the guideline collection: idempotent, versioned, crash-safe.

Point ids are derived from content (document, version, section, text and provenance), so
re-indexing an unchanged file writes nothing. For each file the new chunks are written before
the stale ones are removed, so an interrupted run leaves old or new chunks, never neither, and
running again converges to the same index. After writing, every document touched gets its
``superseded`` flag recomputed: an older version of a ``doc_id``, or a document another one
declares it supersedes, is kept and searchable but flagged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guidelines_index.chunking import Chunk, chunk_document, embed_text
from guidelines_index.documents import DocMeta, ParsedDocument
from guidelines_index.errors import SkipFile
from guidelines_index.metadata import sortable_date
from guidelines_index.readers import SUPPORTED_SUFFIXES, read_file
from retrieval.embedders import DenseEncoder, SparseEncoder
from retrieval.guidelines import guideline_spec
from retrieval.store import VectorStore
from retrieval.types import Equals, Filter, PointRecord

__all__ = ["GuidelineIndexer", "IndexReport", "PendingChunk", "expand_paths", "version_key"]

log = logging.getLogger(__name__)
_ID_NAMESPACE = uuid.UUID("6f1d2a4e-8c1b-4f5e-9a57-3d0c2b1e7a90")
ProgressFn = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    """What one indexing run did."""

    files_read: int = 0
    documents: int = 0
    chunks_total: int = 0
    chunks_written: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    superseded_documents: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    seconds_encoding: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "files_read": self.files_read,
            "documents": self.documents,
            "chunks_total": self.chunks_total,
            "chunks_written": self.chunks_written,
            "chunks_unchanged": self.chunks_unchanged,
            "chunks_removed": self.chunks_removed,
            "superseded_documents": self.superseded_documents,
            "files_skipped": len(self.skipped),
            "skipped": self.skipped,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "seconds_encoding": round(self.seconds_encoding, 3),
        }


@dataclass
class PendingChunk:
    """A chunk ready to be written: its id, the text to embed and its payload."""

    id: str
    embed_text: str
    payload: dict[str, Any]


def expand_paths(paths: Iterable[str]) -> tuple[list[tuple[Path, str]], list[dict[str, str]]]:
    """Files to read as ``(path, source)``, plus paths that cannot be read at all.

    Folders are walked recursively in sorted order; files in them with unsupported
    extensions are ignored (a named file with one is reported), and ``registry.json``
    files are metadata for their siblings, not content.
    """
    files: list[tuple[Path, str]] = []
    missing: list[dict[str, str]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in SUPPORTED_SUFFIXES and child.name != "registry.json":
                    files.append((child, str(child)))
        elif path.exists() or path.is_symlink():
            files.append((path, raw))
        else:
            missing.append({"source": raw, "reason": "no such file or folder"})
    return files, missing


def version_key(published: str, version: str) -> tuple[Any, ...]:
    """Sort key of a document version: publication date first, then the version's numbers."""
    nums = tuple(int(x) for x in re.findall(r"\d+", version or ""))
    return (sortable_date(published), nums, version or "")


def _point_id(meta: DocMeta, chunk: Chunk, occurrence: int) -> str:
    provenance = json.dumps(
        [
            meta.doc_id,
            meta.version,
            meta.title,
            meta.issuer,
            meta.published,
            meta.doi,
            meta.source_key or meta.source,
            meta.locator,
            meta.grade,
            meta.age_min,
            meta.age_max,
            meta.sex,
            meta.supersedes,
            list(chunk.section_path),
        ],
        sort_keys=True,
    )
    digest = hashlib.sha256(f"{provenance}\n{chunk.content_hash}\n{occurrence}".encode()).hexdigest()
    return str(uuid.uuid5(_ID_NAMESPACE, digest))


def _payload(meta: DocMeta, chunk: Chunk, index: int, indexed_at: str) -> dict[str, Any]:
    grades = list(chunk.grades)
    grade = meta.grade or (grades[0] if grades else "")
    payload: dict[str, Any] = {
        "doc_id": meta.doc_id,
        "title": meta.title,
        "issuer": meta.issuer,
        "published": meta.published,
        "published_year": meta.published_year,
        "version": meta.version,
        "doi": meta.doi,
        "kind": meta.kind,
        "source": meta.source,
        "source_key": meta.source_key or meta.source,
        "locator": meta.locator,
        "section_path": list(chunk.section_path),
        "section": " > ".join(chunk.section_path),
        "chunk_index": index,
        "text": chunk.text,
        "has_table": chunk.has_table,
        "grade": grade,
        "grades": ([meta.grade] if meta.grade else []) + [g for g in grades if g != meta.grade],
        "content_hash": chunk.content_hash,
        "supersedes": list(meta.supersedes),
        "superseded": False,
        "status": "current",
        "indexed_at": indexed_at,
    }
    if meta.age_min is not None or meta.age_max is not None:
        payload["age_min"] = meta.age_min
        payload["age_max"] = meta.age_max
    if meta.sex:
        payload["sex"] = meta.sex
    return payload


def prepare_chunks(doc: ParsedDocument, *, target_words: int, indexed_at: str) -> list[PendingChunk]:
    """Chunk a document and give each chunk its content-derived id and full payload."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for i, chunk in enumerate(chunk_document(doc, target_words=target_words)):
        key = f"{chunk.section_path}\n{chunk.content_hash}"
        occurrence = seen[key]
        seen[key] += 1
        out.append(
            PendingChunk(
                id=_point_id(doc.meta, chunk, occurrence),
                embed_text=embed_text(doc.meta.title, chunk.section_path, chunk.text),
                payload=_payload(doc.meta, chunk, i, indexed_at),
            )
        )
    return out


class GuidelineIndexer:
    """Reads guideline files and keeps the guideline collection in step with them."""

    def __init__(
        self,
        store: VectorStore,
        dense: DenseEncoder,
        sparse: SparseEncoder,
        *,
        collection: str = "guidelines",
        target_words: int = 180,
        max_file_bytes: int = 20_000_000,
        encode_batch: int = 1024,
    ) -> None:
        self.store = store
        self.dense = dense
        self.sparse = sparse
        self.collection = collection
        self.target_words = target_words
        self.max_file_bytes = max_file_bytes
        self.encode_batch = encode_batch

    def index(self, paths: Sequence[str], progress: ProgressFn | None = None) -> IndexReport:
        """Index every readable file under ``paths``; unreadable ones are reported, never fatal."""
        started = time.perf_counter()
        report = IndexReport()
        self.store.ensure_collection(guideline_spec(self.dense.dim, self.collection))
        files, missing = expand_paths(paths)
        report.skipped.extend(missing)
        indexed_at = datetime.now(UTC).isoformat(timespec="seconds")

        to_write: list[PendingChunk] = []
        stale: list[str] = []
        touched_docs: set[str] = set()
        for n, (path, source) in enumerate(files, 1):
            if progress:
                progress("read", n, len(files))
            try:
                docs = read_file(path, source, max_bytes=self.max_file_bytes)
                source_key = str(path.resolve())
                for d in docs:
                    d.meta.source_key = source_key
                pending_by_doc = [
                    (d, prepare_chunks(d, target_words=self.target_words, indexed_at=indexed_at))
                    for d in docs
                ]
            except SkipFile as exc:
                report.skipped.append({"source": source, "reason": exc.reason})
                continue
            except Exception as exc:  # a reader bug must not sink the other files
                log.exception("unexpected error while reading %s", source)
                report.skipped.append(
                    {"source": source, "reason": f"unexpected error: {type(exc).__name__}: {exc}"}
                )
                continue
            report.files_read += 1
            for d in docs:
                report.warnings.extend({"source": source, "warning": w} for w in d.warnings)
            new, old = self._diff(source_key, pending_by_doc)
            report.documents += len(docs)
            report.chunks_total += sum(len(p) for _, p in pending_by_doc)
            report.chunks_unchanged += sum(len(p) for _, p in pending_by_doc) - len(new)
            to_write.extend(new)
            stale.extend(old)
            for d, _ in pending_by_doc:
                touched_docs.add(d.meta.doc_id)
                touched_docs.update(d.meta.supersedes)

        report.seconds_encoding = self._write(to_write, progress)
        report.chunks_written = len(to_write)
        # Stale chunks go only after their replacements are stored.
        self.store.delete_ids(self.collection, stale)
        report.chunks_removed = len(stale)
        report.superseded_documents = self.refresh_superseded(touched_docs)
        if to_write or stale:
            self.store.optimize(self.collection)
        report.seconds = time.perf_counter() - started
        return report

    def _diff(
        self, source_key: str, pending_by_doc: list[tuple[ParsedDocument, list[PendingChunk]]]
    ) -> tuple[list[PendingChunk], list[str]]:
        """New chunks to write, and ids from this source that the file no longer holds.

        Chunks of another *version* of a document from this source are kept: they become a
        superseded version rather than disappearing.
        """
        versions = {(d.meta.doc_id, d.meta.version) for d, _ in pending_by_doc}
        doc_ids = {doc_id for doc_id, _ in versions}
        new_ids = {c.id for _, chunks in pending_by_doc for c in chunks}
        existing: set[str] = set()
        stale: list[str] = []
        for pid, payload in self.store.scroll(
            self.collection, Filter(must=(Equals("source_key", source_key),)), fields=["doc_id", "version"]
        ):
            existing.add(pid)
            doc_id, version = payload.get("doc_id"), payload.get("version")
            same_version = (doc_id, version) in versions
            if pid not in new_ids and (same_version or doc_id not in doc_ids):
                stale.append(pid)
        new = [c for _, chunks in pending_by_doc for c in chunks if c.id not in existing]
        return new, stale

    def _write(self, chunks: list[PendingChunk], progress: ProgressFn | None) -> float:
        """Encode and upsert in large batches across files (the encoder sorts each batch by length)."""
        encoding = 0.0
        for start in range(0, len(chunks), self.encode_batch):
            batch = chunks[start : start + self.encode_batch]
            texts = [c.embed_text for c in batch]
            t0 = time.perf_counter()
            dense = self.dense.encode(texts)
            encoding += time.perf_counter() - t0
            sparse = self.sparse.encode_documents(texts)
            self.store.upsert(
                self.collection,
                [
                    PointRecord(id=c.id, dense=[float(x) for x in d], sparse=s, payload=c.payload)
                    for c, d, s in zip(batch, dense, sparse, strict=True)
                ],
            )
            if progress:
                progress("embed", min(start + len(batch), len(chunks)), len(chunks))
        return encoding

    def refresh_superseded(self, doc_ids: set[str]) -> int:
        """Recompute the superseded flag of every version of ``doc_ids``; returns how many versions are superseded."""
        if not doc_ids:
            return 0
        versions: dict[str, dict[str, str]] = defaultdict(dict)  # doc_id -> version -> published
        superseded_by_decl: set[str] = set()
        fields = ["doc_id", "version", "published", "supersedes", "status"]
        # Declarations may come from any document, so read them collection-wide (one payload field).
        for _, p in self.store.scroll(self.collection, None, fields=fields):
            doc_id = str(p.get("doc_id", ""))
            # Documents flagged superseded are rechecked too: the declaration that flagged them may be gone.
            if doc_id in doc_ids or p.get("status") == "superseded":
                versions[doc_id][str(p.get("version", ""))] = str(p.get("published", ""))
            for target in p.get("supersedes") or []:
                superseded_by_decl.add(str(target))
        count = 0
        for doc_id, by_version in versions.items():
            latest = max(by_version, key=lambda v: version_key(by_version[v], v))
            for version in by_version:
                old = version != latest or doc_id in superseded_by_decl
                count += old
                where = Filter(must=(Equals("doc_id", doc_id), Equals("version", version)))
                self.store.set_payload_where(
                    self.collection, where, {"superseded": old, "status": "superseded" if old else "current"}
                )
        return count
