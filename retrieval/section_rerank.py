"""Section-aware reranking of guideline hits: where a passage sits says as much as what it says.

A question about "finerenone dosing in CKD" is answered by the chunk under *CKD Staging >
Non-Steroidal MRA (Finerenone)*, though a chunk elsewhere may share more of its words. The hybrid
(dense + BM25) ranking is kept and two signals are fused into it:

* heading match: the share of the question's terms, weighted by how rare each is among the
  candidates' headings, that appear in the chunk's title and heading path;
* section support: how strongly the other candidates from the same section file rank, so a
  section that answers several parts of a question is not beaten by one lucky chunk elsewhere
  (given to the section's best chunk only).

Terms are the sparse encoder's own (stemmed, stop words removed), so "statins" meets "Statin".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from retrieval.types import Hit

__all__ = ["heading_text", "rerank_by_section"]


def heading_text(hit: Hit) -> str:
    """The title and heading path of a guideline chunk (what a reader sees above the passage)."""
    p = hit.payload
    return " ".join([str(p.get("title", "")), *(str(s) for s in p.get("section_path", []))])


def _section(hit: Hit) -> str:
    return str(hit.payload.get("source", "")) or str(hit.payload.get("doc_id", ""))


def rerank_by_section(
    query_terms: set[int],
    hits: Sequence[Hit],
    terms_of: Callable[[str], set[int]],
    *,
    heading_weight: float,
    section_weight: float,
) -> list[Hit]:
    """``hits`` (best first) reordered by rank score + heading match + section support.

    The rank score is the reciprocal of the hybrid rank (1, 1/2, 1/3, ...) so the fused signals
    are on a known scale whatever the store's raw scores are. The returned hits carry the fused
    score.
    """
    if not hits or not query_terms or (heading_weight <= 0 and section_weight <= 0):
        return list(hits)
    base = [1.0 / (rank + 1) for rank in range(len(hits))]
    heads = [terms_of(heading_text(h)) & query_terms for h in hits]
    df = Counter(t for head in heads for t in head)
    n = len(hits)
    weight = {t: math.log(1.0 + n / df.get(t, 0.5)) for t in query_terms}
    total = sum(weight.values()) or 1.0
    support: dict[str, float] = {}
    for h, b in zip(hits, base, strict=True):
        support[_section(h)] = support.get(_section(h), 0.0) + b
    fused = []
    lifted: set[str] = set()
    for h, b, head in zip(hits, base, heads, strict=True):
        match = sum(weight[t] for t in head) / total
        section = _section(h)
        # Only a section's best chunk carries its support: the section rises, its weaker
        # siblings do not ride along above other sections' passages. Hits from no known
        # section (a collection without provenance) get no support.
        others = support[section] - b if section and section not in lifted else 0.0
        lifted.add(section)
        fused.append(b + heading_weight * match + section_weight * others)
    order = sorted(range(n), key=lambda i: (-fused[i], i))
    return [replace(hits[i], score=fused[i]) for i in order]
