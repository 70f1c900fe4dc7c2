"""``make bench``: ingestion against raw encoding, and hybrid search latency at 1k / 10k / 100k chunks.

Every ratio compares two things measured in the same process, minutes apart, because the
machines are shared and absolute seconds drift. Writes ``bench.json`` and ``bench.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from rich.console import Console

from evals.metrics import latency_percentiles
from evals.report import environment, markdown_table
from evals.retrieval_suites import load_guideline_questions
from guidelines_index.chunking import embed_text
from guidelines_index.corpora import corpus_path
from guidelines_index.indexer import GuidelineIndexer
from retrieval.client_store import ClientStore
from retrieval.edge_store import EdgeStore
from retrieval.embedders import Bm25SparseEncoder, SentenceTransformerEncoder, make_dense_encoder
from retrieval.guidelines import guideline_spec, parse_filters
from retrieval.settings import Settings
from retrieval.store import VectorStore
from retrieval.types import Filter, PointRecord, SparseVec

__all__ = ["main"]

console = Console(soft_wrap=True, highlight=False, markup=False)


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


Base = list[tuple[list[float], SparseVec, dict[str, Any]]]


def bench_ingestion(
    dense: SentenceTransformerEncoder, sparse: Bm25SparseEncoder, settings: Settings
) -> tuple[dict[str, Any], Base]:
    """Whole pipeline (read, chunk, encode, upsert, version flags, optimize) vs raw model.encode of the same texts.

    Also returns the corpus as (dense, sparse, payload) triples, the seed of the synthetic scale-up.
    """
    corpus = str(corpus_path("open-medicine"))
    dense.encode(["warm up the model"] * 8)
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(Path(tmp))
        indexer = GuidelineIndexer(store, dense, sparse, target_words=settings.chunk_words)
        t0 = time.perf_counter()
        report = indexer.index([corpus])
        pipeline_s = time.perf_counter() - t0
        payloads = [p for _, p in store.scroll("guidelines")]
        store.close()
    texts = [embed_text(p["title"], tuple(p["section_path"]), p["text"]) for p in payloads]
    # The raw baseline: the library call alone on the same texts, same batch size, no I/O.
    raw_runs = []
    vectors: Any = None
    for _ in range(2):
        t0 = time.perf_counter()
        vectors = dense.model.encode(
            texts, batch_size=dense.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        raw_runs.append(time.perf_counter() - t0)
    raw_s = min(raw_runs)
    stats = {
        "files": report.files_read,
        "chunks": report.chunks_total,
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_encoding_s": round(report.seconds_encoding, 2),
        "raw_encoding_s": round(raw_s, 2),
        "raw_encoding_runs_s": [round(x, 2) for x in raw_runs],
        "ratio_pipeline_to_raw": round(pipeline_s / raw_s, 3),
        "goal_ratio": 1.25,
        "chunks_per_s": round(report.chunks_total / pipeline_s, 1),
    }
    base = [
        (list(map(float, v)), sv, p)
        for v, sv, p in zip(vectors, sparse.encode_documents(texts), payloads, strict=True)
    ]
    return stats, base


def _replicate(base: Base, n: int, seed: int) -> list[PointRecord]:
    """``n`` synthetic chunks: real vectors and payloads, copied with a little noise on the dense vector."""
    rng = np.random.default_rng(seed)
    dense = np.array([b[0] for b in base], dtype=np.float32)
    points = []
    for i in range(n):
        j = i % len(base)
        vec = (
            dense[j]
            if i < len(base)
            else dense[j] + np.asarray(rng.normal(0, 0.02, dense.shape[1]), dtype=np.float32)
        )
        vec = vec / np.linalg.norm(vec)
        payload = dict(base[j][2])
        payload["doc_id"] = f"{payload['doc_id']}~{i // len(base)}"
        points.append(PointRecord(str(uuid.UUID(int=(seed << 64) | i)), vec.tolist(), base[j][1], payload))
    return points


def _time_queries(fn: Callable[[int], object], n: int) -> list[float]:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t0)
    return samples


def _measure(
    store: VectorStore,
    questions: list[str],
    q_dense: list[list[float]],
    q_sparse: list[SparseVec],
    where: Filter | None,
    nq: int,
    dense: SentenceTransformerEncoder,
    sparse: Bm25SparseEncoder,
) -> dict[str, Any]:
    m = len(questions)
    for i in range(3):  # warm caches
        store.search_hybrid("guidelines", q_dense[i], q_sparse[i], limit=10, where=where)

    def plain(i: int) -> object:
        return store.search_hybrid("guidelines", q_dense[i % m], q_sparse[i % m], limit=10)

    def filtered(i: int) -> object:
        return store.search_hybrid("guidelines", q_dense[i % m], q_sparse[i % m], limit=10, where=where)

    def embedded(i: int) -> object:
        q = questions[i % m]
        return store.search_hybrid(
            "guidelines", dense.encode_query(q), sparse.encode_query(q), limit=10, where=where
        )

    return {
        "hybrid": latency_percentiles(_time_queries(plain, nq)),
        "hybrid_filtered": latency_percentiles(_time_queries(filtered, nq)),
        "hybrid_filtered_with_embedding": latency_percentiles(_time_queries(embedded, nq)),
    }


def bench_search(
    dense: SentenceTransformerEncoder,
    sparse: Bm25SparseEncoder,
    base: Base,
    scales: list[int],
    local_max: int,
) -> list[dict[str, Any]]:
    """Hybrid latency per engine and scale, without and with query embedding, unfiltered and filtered."""
    questions = [q["q"] for q in load_guideline_questions()][:60]
    q_dense = [v.tolist() for v in dense.encode(questions)]
    q_sparse = [sparse.encode_query(q) for q in questions]
    where = parse_filters(["issuer=ACC/AHA", "superseded=false"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in scales:
            points = _replicate(base, n, seed=n)
            names = ["embedded (qdrant-edge)"] + (["qdrant-client local"] if n <= local_max else [])
            for name in names:
                gc.collect()
                rss0 = _rss_mb()
                store: VectorStore = (
                    EdgeStore(Path(tmp) / f"edge{n}") if name.startswith("embedded") else ClientStore.local()
                )
                store.ensure_collection(guideline_spec(dense.dim))
                t0 = time.perf_counter()
                store.upsert("guidelines", points)
                store.optimize("guidelines")
                build_s = time.perf_counter() - t0
                rss1 = _rss_mb()
                # qdrant-client local mode needs about a second per query at 100k: fewer samples there.
                nq = len(questions) if (name.startswith("embedded") or n <= 10_000) else 12
                row = {"engine": name, "chunks": n, "build_s": round(build_s, 2)}
                row.update(_measure(store, questions, q_dense, q_sparse, where, nq, dense, sparse))
                row.update(rss_delta_mb=round(rss1 - rss0, 1), peak_rss_mb=round(_peak_rss_mb(), 1))
                rows.append(row)
                console.print(json.dumps(row))
                store.close()
                del store
    return rows


def _markdown(result: dict[str, Any]) -> str:
    ing = result["ingestion"]
    lines = [
        "# Benchmarks\n",
        f"Run {result['environment']['when']} on {result['environment']['machine']}, "
        f"{psutil.cpu_count()} cores. Ratios compare measurements taken in the same process.\n",
        "## Ingestion of the open-medicine corpus\n",
        markdown_table(
            [ing],
            [
                "files",
                "chunks",
                "pipeline_s",
                "pipeline_encoding_s",
                "raw_encoding_s",
                "ratio_pipeline_to_raw",
                "goal_ratio",
                "chunks_per_s",
            ],
        ),
        "\n## Hybrid search latency (dense + BM25 prefetch, RRF in Qdrant, k=10)\n",
        "`filtered` = issuer=ACC/AHA and superseded=false; `+embed` adds encoding the query with MiniLM.\n",
    ]
    table = []
    for r in result["search"]:
        table.append(
            {
                "engine": r["engine"],
                "chunks": r["chunks"],
                "build s": r["build_s"],
                "p50 ms": r["hybrid"]["p50_ms"],
                "p95 ms": r["hybrid"]["p95_ms"],
                "filtered p50": r["hybrid_filtered"]["p50_ms"],
                "filtered p95": r["hybrid_filtered"]["p95_ms"],
                "+embed p50": r["hybrid_filtered_with_embedding"]["p50_ms"],
                "+embed p95": r["hybrid_filtered_with_embedding"]["p95_ms"],
                "queries": r["hybrid"]["n"],
                "RSS delta MB": r["rss_delta_mb"],
                "peak RSS MB": r["peak_rss_mb"],
            }
        )
    if table:
        lines.append(markdown_table(table, list(table[0].keys())))
    lines.append(
        "\nGoals: pipeline <= 1.25x raw encoding; filtered hybrid p50 <= 5 ms at 100k chunks without query embedding.\n"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--scales", default="1000,10000,100000")
    parser.add_argument(
        "--local-max", type=int, default=100_000, help="Largest scale run through qdrant-client local mode."
    )
    args = parser.parse_args(argv)
    random.seed(0)
    settings = Settings()
    dense = make_dense_encoder(settings)
    sparse = Bm25SparseEncoder()
    result: dict[str, Any] = {"environment": environment()}
    result["ingestion"], base = bench_ingestion(dense, sparse, settings)
    console.print(json.dumps(result["ingestion"]))
    scales = [int(s) for s in args.scales.split(",")]
    result["search"] = bench_search(dense, sparse, base, scales, args.local_max)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=2))
    (args.out / "bench.md").write_text(_markdown(result))
    console.print((args.out / "bench.md").read_text())


if __name__ == "__main__":
    main()
