"""Guideline query processing: shorthand expansion, repeatable fusion, section-aware reranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.retrieval_suites import SPLITS, load_guideline_questions, split_of
from retrieval.clinical_terms import expansion_terms
from retrieval.guidelines import fuse_rrf
from retrieval.section_rerank import rerank_by_section
from retrieval.types import Hit


def _hit(pid: str, source: str = "a/x.md", path: tuple[str, ...] = (), title: str = "T") -> Hit:
    return Hit(pid, 0.0, {"source": source, "section_path": list(path), "title": title})


def _terms(text: str) -> set[int]:
    return {hash(w.lower().strip("(),:")) for w in text.split()}


def test_shorthand_gets_the_written_out_words() -> None:
    terms = expansion_terms("my 70 yo w/ eGFR 25 on metformin, AFib on eliquis — ACEi/ARB ok?")
    assert "estimated glomerular filtration rate GFR" in terms
    assert "atrial fibrillation AF" in terms
    assert "apixaban" in terms
    assert any("ACE inhibitor" in t for t in terms) and "angiotensin receptor blocker" in terms


def test_ordinary_words_are_not_taken_for_shorthand() -> None:
    assert expansion_terms("he will cap the dose; ie the usual") == []
    assert "hepatic encephalopathy" in expansion_terms("recurrent HE despite lactulose")
    assert "community-acquired pneumonia" in expansion_terms("outpatient CAP regimen")


def test_each_expansion_once() -> None:
    assert expansion_terms("AFib, afib and AFib again") == ["atrial fibrillation AF"]


def test_fusion_matches_qdrant_scores_and_breaks_ties_the_same_way_every_time() -> None:
    dense = [_hit("a"), _hit("b"), _hit("c")]
    sparse = [_hit("c"), _hit("b"), _hit("a")]
    fused = fuse_rrf(dense, sparse, 2, tie_break="sparse")
    assert [h.id for h in fused] == ["c", "a", "b"]  # a and c tie at 1/2 + 1/4; sparse decides
    assert fused[0].score == pytest.approx(1 / 2 + 1 / 4)
    assert [h.id for h in fuse_rrf(dense, sparse, 2, tie_break="dense")] == ["a", "c", "b"]
    only_dense = fuse_rrf([_hit("a")], [], 2)
    assert only_dense[0].score == pytest.approx(1 / 2)


def test_heading_match_lifts_the_section_the_question_names() -> None:
    hits = [
        _hit("low", "c/statin.md", ("Statin Intensity", "Low-Intensity Statin Therapy")),
        _hit("high", "c/statin.md", ("Statin Intensity", "High-Intensity Statin Therapy")),
    ]
    query = _terms("High-Intensity statin")
    ranked = rerank_by_section(query, hits, _terms, heading_weight=1.0, section_weight=0.0)
    assert [h.id for h in ranked] == ["high", "low"]
    same = rerank_by_section(query, hits, _terms, heading_weight=0.0, section_weight=0.0)
    assert [h.id for h in same] == ["low", "high"]


def test_section_support_lifts_only_the_best_chunk_of_a_section() -> None:
    hits = [_hit("x1", "d/x.md"), _hit("y1", "d/y.md"), _hit("y2", "d/y.md"), _hit("y3", "d/y.md")]
    ranked = rerank_by_section({1}, hits, lambda _t: set(), heading_weight=0.0, section_weight=1.0)
    order = [h.id for h in ranked]
    assert order[0] == "y1"  # its section has three strong chunks
    assert order.index("x1") < order.index("y2")  # the siblings keep their own rank


def test_question_splits_are_recorded_and_labels_exist() -> None:
    from guidelines_index.corpora import corpus_path

    try:
        corpus = corpus_path("open-medicine")
    except Exception as exc:  # the corpus package is optional
        pytest.skip(f"open-medicine corpus not installed: {exc}")
    questions = load_guideline_questions()
    assert {q["split"] for q in questions} == set(SPLITS)
    assert len({q["id"] for q in questions}) == len(questions)
    for q in questions:
        assert (Path(corpus) / f"{q['section']}.md").is_file(), q["id"]
        assert q["section"].split("/")[0] == q["doc_id"], q["id"]
        if q["id"].startswith("gq"):  # the original set: a quarter held out by hash
            assert q["split"] == split_of(q["id"]), q["id"]
        else:  # written later for the held-out set only
            assert q["split"] == "test", q["id"]
    dev = load_guideline_questions(split="dev")
    assert dev and all(q["split"] == "dev" for q in dev)


def test_the_bm25_query_adds_expanded_terms_at_lower_weight() -> None:
    from retrieval.embedders import Bm25SparseEncoder
    from retrieval.guidelines import GuidelineSearch

    sparse = Bm25SparseEncoder()
    search = GuidelineSearch(store=None, dense=None, sparse=sparse)  # type: ignore[arg-type]
    base = sparse.encode_query("AFib anticoagulation")
    own = dict(zip(base.indices, base.values, strict=True))
    vec = search.sparse_query("AFib anticoagulation")
    weights = dict(zip(vec.indices, vec.values, strict=True))
    extra = set(sparse.encode_query("atrial fibrillation").indices)
    assert all(weights[i] == own[i] for i in own)  # the question's own words keep their weight
    assert extra - set(own) and all(weights[i] == 0.5 * 1.0 for i in extra - set(own))
    plain = GuidelineSearch(store=None, dense=None, sparse=sparse, expansion_weight=0.0)  # type: ignore[arg-type]
    assert plain.sparse_query("AFib anticoagulation") == sparse.encode_query("AFib anticoagulation")
