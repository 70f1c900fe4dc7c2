"""The embedded engine and qdrant-client must agree: same points, same queries, same top-k ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidelines_index.corpora import corpus_path
from guidelines_index.indexer import prepare_chunks
from guidelines_index.readers import read_file
from retrieval.client_store import ClientStore
from retrieval.edge_store import EdgeStore
from retrieval.guidelines import guideline_spec, parse_filters
from retrieval.store import RRF_K
from retrieval.types import Hit, PointRecord

pytestmark = pytest.mark.integration

QUERIES = [
    "anticoagulation for atrial fibrillation with a CHA2DS2-VASc of 2",
    "qSOFA criteria outside the ICU",
    "when to refer chronic kidney disease to a nephrologist",
    "first line therapy for type 2 diabetes with heart failure",
    "high intensity statin doses",
    "CURB-65 score and hospital admission",
    "target blood pressure in hypertension",
    "gout flare treatment with colchicine",
    "tPA window for acute ischemic stroke",
    "asthma reliever therapy with ICS-formoterol",
    "fluid resuscitation in burns Parkland",
    "duration of anticoagulation after provoked DVT",
]


DEPTH = 20


def _rrf(lists: list[list[Hit]]) -> dict[str, float]:
    """Reciprocal rank fusion as Qdrant defines it: sum of 1 / (k + rank - 1) over lists, ranks from 1."""
    scores: dict[str, float] = {}
    for hits in lists:
        for rank, h in enumerate(hits, 1):
            scores[h.id] = scores.get(h.id, 0.0) + 1.0 / (RRF_K + rank - 1)
    return scores


def _groups(hits: list[Hit], k: int) -> list[frozenset[str]]:
    """Ids grouped by equal score: engines may order exact ties differently, nothing else."""
    groups: list[tuple[float, set[str]]] = []
    for h in hits[:k]:
        score = round(h.score, 5)
        if groups and abs(groups[-1][0] - score) < 1e-5:
            groups[-1][1].add(h.id)
        else:
            groups.append((score, {h.id}))
    return [frozenset(g) for _, g in groups[:-1]]  # the last group may be cut by k


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory, dense_encoder, sparse_encoder):  # type: ignore[no-untyped-def]
    root = corpus_path("open-medicine")
    files = sorted(root.rglob("*.md"))[::4]  # every fourth section file: ~36 files, a few hundred chunks
    chunks = []
    for path in files:
        for doc in read_file(path, str(path), max_bytes=10**7):
            chunks += prepare_chunks(doc, target_words=180, indexed_at="2026-01-01T00:00:00+00:00")
    texts = [c.embed_text for c in chunks]
    dense = dense_encoder.encode(texts)
    sparse = sparse_encoder.encode_documents(texts)
    points = [
        PointRecord(c.id, [float(x) for x in d], s, c.payload)
        for c, d, s in zip(chunks, dense, sparse, strict=True)
    ]
    edge = EdgeStore(Path(tmp_path_factory.mktemp("edge")))
    local = ClientStore.local()
    for store in (edge, local):
        store.ensure_collection(guideline_spec(dense_encoder.dim))
        store.upsert("guidelines", points)
    edge.optimize("guidelines")
    yield edge, local, len(points)
    edge.close()
    local.close()


def test_same_points_and_counts(engines) -> None:  # type: ignore[no-untyped-def]
    edge, local, n = engines
    assert edge.count("guidelines") == local.count("guidelines") == n > 100
    where = parse_filters(["issuer=ACC/AHA"])
    assert edge.count("guidelines", where) == local.count("guidelines", where) > 0
    assert {i for i, _ in edge.scroll("guidelines")} == {i for i, _ in local.scroll("guidelines")}


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("filtered", [False, True])
def test_same_top_k_single_retriever(
    engines, dense_encoder, sparse_encoder, mode: str, filtered: bool
) -> None:  # type: ignore[no-untyped-def]
    edge, local, _ = engines
    where = parse_filters(["superseded=false", "issuer=ACC/AHA,KDIGO,GINA,ADA"]) if filtered else None
    for q in QUERIES:
        if mode == "dense":
            vec = dense_encoder.encode_query(q)
            a, b = (st.search_dense("guidelines", vec, limit=10, where=where) for st in (edge, local))
            assert [h.id for h in a] == [h.id for h in b], q
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
        else:
            svec = sparse_encoder.encode_query(q)
            a, b = (st.search_sparse("guidelines", svec, limit=10, where=where) for st in (edge, local))
            assert len(a) == len(b) > 0, q
            assert _groups(a, 10) == _groups(b, 10), q  # same ids, up to the order of exact ties
            assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-4)


@pytest.mark.parametrize("filtered", [False, True])
def test_same_top_k_hybrid(engines, dense_encoder, sparse_encoder, filtered: bool) -> None:  # type: ignore[no-untyped-def]
    """Hybrid top-10 is identical whenever the two engines rank the prefetch lists identically.

    RRF turns rank positions into scores, so two candidates tied on BM25 that the engines
    break in different order get different fused scores. That is the only source of
    difference allowed: where the prefetch rankings match exactly, the fused top-10 must too.
    """
    edge, local, _ = engines
    where = parse_filters(["superseded=false", "issuer=ACC/AHA,KDIGO,GINA,ADA"]) if filtered else None
    strict = 0
    for q in QUERIES:
        dvec, svec = dense_encoder.encode_query(q), sparse_encoder.encode_query(q)
        a, b = (
            st.search_hybrid("guidelines", dvec, svec, limit=10, where=where, prefetch=DEPTH)
            for st in (edge, local)
        )
        sa, sb = (st.search_sparse("guidelines", svec, limit=DEPTH, where=where) for st in (edge, local))
        da, db = (st.search_dense("guidelines", dvec, limit=DEPTH, where=where) for st in (edge, local))
        # Each engine fuses its own prefetch lists exactly as reciprocal rank fusion defines it.
        for hybrid, dense_hits, sparse_hits in ((a, da, sa), (b, db, sb)):
            expected = _rrf([dense_hits, sparse_hits])
            assert [h.score for h in hybrid] == pytest.approx([expected[h.id] for h in hybrid], abs=1e-6), q
            assert sorted(expected.values(), reverse=True)[:10] == pytest.approx(
                [h.score for h in hybrid], abs=1e-6
            )
        if [h.id for h in sa] == [h.id for h in sb] and [h.id for h in da] == [h.id for h in db]:
            strict += 1
            assert _groups(a, 10) == _groups(b, 10), (
                q
            )  # RRF itself produces exact ties (1/(k+r) from either list)
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)
        else:
            # The prefetch lists differ only by the order of exact ties (checked above per retriever).
            assert len({h.id for h in a} & {h.id for h in b}) >= 7, q
    assert strict >= len(QUERIES) // 2, f"only {strict} queries free of tie-order differences"


def test_payload_fields_narrow_what_a_search_reads(engines, dense_encoder, sparse_encoder) -> None:  # type: ignore[no-untyped-def]
    """``fields=()`` returns ids and scores only, ``fields=(...)`` those keys; the ranking is the same."""
    edge, local, _ = engines
    q = QUERIES[0]
    dvec, svec = dense_encoder.encode_query(q), sparse_encoder.encode_query(q)
    for st in (edge, local):
        full = st.search_dense("guidelines", dvec, limit=10)
        bare = st.search_dense("guidelines", dvec, limit=10, fields=())
        some = st.search_sparse("guidelines", svec, limit=10, fields=("doc_id",))
        assert [h.id for h in bare] == [h.id for h in full]
        assert all(h.payload == {} for h in bare)
        assert some and all(set(h.payload) == {"doc_id"} for h in some)
