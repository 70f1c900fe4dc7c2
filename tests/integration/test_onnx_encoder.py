"""The ONNX Runtime encoder against sentence-transformers on torch: the same vectors, the same hits.

Every chunk of the open-medicine corpus is encoded by both backends (cosine >= 0.999 each); two
embedded stores hold the same chunks with either backend's vectors, and every guideline question
(evals/data), each encoded by its store's backend, must find the same chunks in the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evals.retrieval_suites import load_guideline_questions
from guidelines_index.corpora import corpus_path
from guidelines_index.indexer import expand_paths, prepare_chunks
from guidelines_index.readers import read_file
from retrieval.edge_store import EdgeStore
from retrieval.embedders import Bm25SparseEncoder, SentenceTransformerEncoder, make_dense_encoder
from retrieval.guidelines import GuidelineSearch, guideline_spec
from retrieval.settings import Settings, default_embedding_model
from retrieval.types import PointRecord

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def encoders() -> dict[str, SentenceTransformerEncoder]:
    model = default_embedding_model()
    return {b: SentenceTransformerEncoder(model, backend=b) for b in ("torch", "onnx")}


@pytest.fixture(scope="module")
def corpus() -> list[Any]:
    files, missing = expand_paths([str(corpus_path("open-medicine"))])
    assert files and not missing
    chunks = []
    for path, source in files:
        for doc in read_file(path, source, max_bytes=20_000_000):
            chunks.extend(prepare_chunks(doc, target_words=180, indexed_at="2026-01-01T00:00:00+00:00"))
    assert len(chunks) > 1000
    return chunks


def test_the_default_backend_is_onnx_and_torch_stays_selectable() -> None:
    assert make_dense_encoder(Settings()).backend == "onnx"
    assert make_dense_encoder(Settings(embedding_backend="torch")).backend == "torch"


@pytest.mark.timeout(2400)  # two encodings of the whole corpus: minutes on 2 busy cores
def test_onnx_vectors_match_torch_on_every_corpus_chunk_and_the_hits_are_the_same(
    encoders: dict[str, SentenceTransformerEncoder], corpus: list[Any], tmp_path: Path
) -> None:
    texts = [c.embed_text for c in corpus]
    vectors = {b: enc.encode(texts) for b, enc in encoders.items()}
    cosine = (vectors["torch"] * vectors["onnx"]).sum(axis=1)
    print(f"cosine over {len(texts)} chunks: min {cosine.min():.6f}, mean {cosine.mean():.6f}")
    assert cosine.min() >= 0.999
    assert np.allclose(np.linalg.norm(vectors["onnx"], axis=1), 1.0, atol=1e-5)

    sparse = Bm25SparseEncoder()
    sparse_vectors = sparse.encode_documents(texts)
    searches = {}
    for backend, enc in encoders.items():
        store = EdgeStore(tmp_path / backend)
        store.ensure_collection(guideline_spec(enc.dim))
        store.upsert(
            "guidelines",
            [
                PointRecord(id=c.id, dense=[float(x) for x in v], sparse=s, payload=c.payload)
                for c, v, s in zip(corpus, vectors[backend], sparse_vectors, strict=True)
            ],
        )
        store.optimize("guidelines")
        searches[backend] = GuidelineSearch(store, enc, sparse)
    questions = [q["q"] for q in load_guideline_questions()]
    exact = 0
    for mode in ("dense", "hybrid"):
        for q in questions:
            got = {b: s.search(q, k=10, mode=mode) for b, s in searches.items()}
            if mode == "dense":  # cosine scores: the same five in the same order
                assert [h.id for h in got["onnx"][:5]] == [h.id for h in got["torch"][:5]], q
                continue
            # Fused ranks reach deep into each candidate list, where a 7th-digit difference may swap
            # two chunks and move a fused score: the first hit must agree (up to a near-tie), the
            # top five may differ by one, and nearly every question must rank its top five alike.
            onnx, torch = got["onnx"], got["torch"]
            shown = (
                q,
                [(h.id, round(h.score, 4)) for h in onnx[:5]],
                [(h.id, round(h.score, 4)) for h in torch[:5]],
            )
            assert _same_ranking(onnx, torch, k=1), shown
            assert len({h.id for h in onnx[:5]} & {h.id for h in torch[:5]}) >= 4, shown
            exact += _same_ranking(onnx, torch)
    assert exact >= 0.95 * len(questions), f"{exact} of {len(questions)} questions rank their top five alike"
    for s in searches.values():
        s.store.close()


def _same_ranking(a: list[Any], b: list[Any], k: int = 5, eps: float = 2e-3) -> bool:
    """The same top ``k`` in the same order, except near-ties: hybrid scores fuse ranks with a
    section rerank, so two chunks a hair apart may swap when the vectors differ in the 7th digit."""
    ids_a, ids_b = [h.id for h in a[:k]], [h.id for h in b[:k]]
    score_a, score_b = {h.id: h.score for h in a}, {h.id: h.score for h in b}
    for x, y in zip(ids_a, ids_b, strict=True):
        if x == y:
            continue
        if (
            abs(score_a[x] - score_a.get(y, float("-inf"))) > eps
            or abs(score_b[y] - score_b.get(x, float("-inf"))) > eps
        ):
            return False
    return True


def test_queries_encode_alike_one_at_a_time_and_in_batches(
    encoders: dict[str, SentenceTransformerEncoder],
) -> None:
    queries = [
        "statin",
        "Which statin dose counts as high intensity?",
        "eGFR 25 on metformin — stop it?",
        "x " * 600,
    ]
    onnx, torch = encoders["onnx"], encoders["torch"]
    batch = onnx.encode(queries)
    for i, q in enumerate(queries):
        one = np.asarray(onnx.encode_query(q))
        assert float(one @ batch[i]) >= 0.99999  # padding in a batch changes nothing
        assert float(one @ np.asarray(torch.encode_query(q))) >= 0.999  # the long one is truncated alike
