"""Retrieval suites: each question must find its own document, per retrieval configuration.

* ``retrieval-pubmedqa``: the 1,000 expert-labelled PubMedQA abstracts are the corpus; each
  question must retrieve the abstract it was written from.
* ``guideline-retrieval``: clinician-style questions over the open-medicine corpus; each must
  retrieve the section file that answers it (hits are de-duplicated by file). Every question
  carries a ``split``: ``dev`` questions are the ones retrieval may be tuned on, ``test`` ones
  are held out (see :func:`split_of`), and the summary reports each split beside the whole set.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.metrics import summarize_ranks
from retrieval.guidelines import GuidelineSearch, SearchMode
from retrieval.types import CollectionSpec, Hit, PointRecord

if TYPE_CHECKING:  # types only: numpy and the settings load when a suite runs, not for cra --help
    from retrieval.embedders import DenseEncoder, SparseEncoder
    from retrieval.store import VectorStore

__all__ = [
    "CONFIGS",
    "SPLITS",
    "SuiteResult",
    "load_guideline_questions",
    "run_guideline_retrieval",
    "run_pubmedqa",
    "split_of",
]

# (name, retriever, RRF constant, GuidelineSearch overrides): the shipped hybrid uses the defaults;
# the others are kept in the report so a change of a default stays an informed one.
_PLAIN: dict[str, Any] = {"expansion_weight": 0.0, "heading_weight": 0.0, "section_weight": 0.0}
CONFIGS: tuple[tuple[str, SearchMode, int | None, dict[str, Any]], ...] = (
    ("sparse", "sparse", None, {}),
    ("dense", "dense", None, {}),
    ("hybrid", "hybrid", None, {}),
    ("hybrid-rrf10", "hybrid", 10, {}),
    ("hybrid-rrf60", "hybrid", 60, {}),
    ("sparse-plain", "sparse", None, _PLAIN),
    ("hybrid-plain", "hybrid", None, _PLAIN),
    ("hybrid-no-rerank", "hybrid", None, {"heading_weight": 0.0, "section_weight": 0.0}),
)
_NS = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
SPLITS = ("dev", "test")


def split_of(question_id: str) -> str:
    """The split of one of the original questions: a quarter, chosen by a hash of the id, is held out.

    Questions written later for the held-out set are stored with ``"split": "test"`` directly.
    """
    return "test" if hashlib.sha256(question_id.encode("utf-8")).digest()[0] % 4 == 0 else "dev"


@dataclass
class SuiteResult:
    summary: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    settings: dict[str, Any]


def _rank(ids: list[str], target: str) -> int | None:
    return ids.index(target) + 1 if target in ids else None


def _unique(seq: list[str]) -> list[str]:
    return list(dict.fromkeys(seq))


def _evaluate(
    search: GuidelineSearch, questions: list[dict[str, Any]], key_of: Any, target_of: Any, k: int, depth: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    texts = [q["q"] for q in questions]
    t0 = time.perf_counter()
    vectors = search.dense.encode(texts)
    encode_s = time.perf_counter() - t0
    summary, cases = [], []
    for name, mode, rrf_k, overrides in CONFIGS:
        config = replace(search, **overrides)
        t0 = time.perf_counter()
        results: list[list[Hit]] = [
            config.search_encoded(q, [float(x) for x in v], k=depth, where=None, mode=mode, rrf_k=rrf_k)
            for q, v in zip(texts, vectors, strict=True)
        ]
        seconds = time.perf_counter() - t0
        ranks = []
        for q, hits in zip(questions, results, strict=True):
            ranked = _unique([key_of(h) for h in hits])[:k]
            rank = _rank(ranked, target_of(q))
            ranks.append(rank)
            cases.append(
                {
                    "id": q["id"],
                    "split": q.get("split", ""),
                    "config": name,
                    "q": q["q"],
                    "target": target_of(q),
                    "rank": rank,
                    "top3": ranked[:3],
                }
            )
        row: dict[str, Any] = {"config": name, **summarize_ranks(ranks)}
        ms = round(1000 * (seconds + (encode_s if mode != "sparse" else 0)) / max(1, len(texts)), 2)
        row["ms_per_query"] = ms
        summary.append(row)
        for split in SPLITS:  # the same ranks, summarised per split ("hybrid/test" is the held-out score)
            part = [r for q, r in zip(questions, ranks, strict=True) if q.get("split") == split]
            if part:
                summary.append({"config": f"{name}/{split}", **summarize_ranks(part), "ms_per_query": ms})
    return summary, cases


def run_pubmedqa(
    store: VectorStore, dense: DenseEncoder, sparse: SparseEncoder, data: Path, *, limit: int | None = None
) -> SuiteResult:
    """Index the 1,000 PubMedQA abstracts (once per store) and score every question against them."""
    raw = json.loads(data.read_text(encoding="utf-8"))
    docs = {pmid: " ".join(rec["CONTEXTS"]) for pmid, rec in raw.items()}
    collection = "eval_pubmedqa"
    spec = CollectionSpec(collection, dense.dim, {"pmid": "keyword"})
    store.ensure_collection(spec)
    index_s = 0.0
    if store.count(collection) != len(docs):
        t0 = time.perf_counter()
        pmids = sorted(docs)
        texts = [docs[p] for p in pmids]
        vectors = dense.encode(texts)
        sparse_vecs = sparse.encode_documents(texts)
        store.upsert(
            collection,
            [
                PointRecord(str(uuid.uuid5(_NS, p)), [float(x) for x in v], s, {"pmid": p, "text": t})
                for p, t, v, s in zip(pmids, texts, vectors, sparse_vecs, strict=True)
            ],
        )
        store.optimize(collection)
        index_s = time.perf_counter() - t0
    questions = [{"id": pmid, "q": rec["QUESTION"]} for pmid, rec in sorted(raw.items())]
    if limit:
        questions = questions[:limit]
    search = GuidelineSearch(store, dense, sparse, collection=collection)
    summary, cases = _evaluate(search, questions, lambda h: h.payload["pmid"], lambda q: q["id"], 10, 10)
    return SuiteResult(
        summary,
        cases,
        {
            "corpus": str(data),
            "documents": len(docs),
            "questions": len(questions),
            "index_seconds": round(index_s, 1),
            "rrf_k_default": search.rrf_k,
            "prefetch": search.prefetch,
        },
    )


def load_guideline_questions(path: Path | None = None, *, split: str | None = None) -> list[dict[str, Any]]:
    """The versioned question set shipped with the evals package (only one split when ``split`` is given)."""
    text = (
        path.read_text(encoding="utf-8")
        if path
        else (files("evals") / "data" / "guideline_questions.jsonl").read_text(encoding="utf-8")
    )
    questions = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [q for q in questions if split is None or q.get("split") == split]


def run_guideline_retrieval(
    search: GuidelineSearch, questions: list[dict[str, Any]], *, limit: int | None = None
) -> SuiteResult:
    """Score the question set against an index holding the open-medicine corpus (``limit``: per split)."""
    if limit:
        seen: dict[str, int] = {}
        kept = []
        for q in questions:
            seen[q.get("split", "")] = seen.get(q.get("split", ""), 0) + 1
            if seen[q.get("split", "")] <= limit:
                kept.append(q)
        questions = kept

    def section_of(hit: Hit) -> str:
        source = Path(str(hit.payload.get("source", "")))
        return f"{source.parent.name}/{source.stem}"

    summary, cases = _evaluate(search, questions, section_of, lambda q: q["section"], 10, 50)
    return SuiteResult(
        summary,
        cases,
        {
            "questions": len(questions),
            "splits": {s: sum(1 for q in questions if q.get("split") == s) for s in SPLITS},
            "unit": "section file",
            "chunks_searched_per_query": 50,
        },
    )
