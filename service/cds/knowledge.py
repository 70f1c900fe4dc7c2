"""What the CDS services read from the guideline index, loaded once per process and reused.

The guideline collection is scrolled once: USPSTF-style recommendation documents become
:class:`agent.care_gaps.Recommendation` s, the other guidelines' tables and sentences become
:class:`agent.medication_rules.MedicationRules`. The passage that best supports an early-warning
flag's threshold is searched for every known threshold source when the knowledge is loaded, so
answering a hook needs neither the store nor the encoder.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.care_gaps import Recommendation, recommendations_from_json, recommendations_from_payloads
from agent.medication_rules import MedicationRules, extract_rules
from agent.sources import find_passage
from patient_index.flags import THRESHOLD_SOURCES
from retrieval.types import Equals, Filter
from service.cds.settings import CdsSettings
from service.deps import Deps

__all__ = ["Knowledge", "load_knowledge"]

log = logging.getLogger(__name__)
_CURRENT_GUIDELINES = Filter(
    must=(Equals("status", "current"),), must_not=(Equals("kind", "recommendation"),)
)


@dataclass
class Knowledge:
    """Recommendations, medication rules, and a cache of flag-threshold passages."""

    deps: Deps
    recommendations: list[Recommendation]
    rules: MedicationRules
    _passages: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def passage_for(self, source: str) -> dict[str, Any] | None:
        """The current guideline chunk ``{id, payload}`` that best matches a threshold source text."""
        with self._lock:
            if source in self._passages:
                return self._passages[source]
        hits = self.deps.guideline_search.search(source, k=1, where=_CURRENT_GUIDELINES)
        found = {"id": hits[0].id, "payload": hits[0].payload} if hits else None
        with self._lock:
            self._passages[source] = found
        return found

    def passage_for_assessment(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """The chunk ``{id, payload}`` an assessment's source names (the lookup the agent's [G#] uses)."""
        source = record["json"]["source"]
        found = find_passage(
            self.deps.guideline_search,
            self.deps.dense,
            str(source.get("doc_id", "")),
            record["passage_query"],
        )
        return {"id": found[0].id, "payload": found[0].payload} if found else None


def _assessment_sources() -> list[dict[str, Any]]:
    """Every guideline source the assessments cite, shaped like an assessment record's source."""
    try:
        from assessments.sources import SOURCES
    except ImportError:
        return []
    return [
        {"json": {"source": {"doc_id": s.doc_id}}, "passage_query": s.passage_query}
        for s in SOURCES.values()
        if s.doc_id and s.passage_query
    ]


def load_knowledge(deps: Deps, settings: CdsSettings) -> Knowledge:
    """Read the guideline collection once (and the USPSTF JSON when the index holds no recommendations)."""
    collection = deps.settings.guideline_collection
    points = list(deps.store.scroll(collection, None)) if deps.store.has_collection(collection) else []
    recommendations = recommendations_from_payloads(points)
    if not recommendations and settings.uspstf_json is not None:
        recommendations = recommendations_from_json(json.loads(settings.uspstf_json.read_text()))
    rules = extract_rules(points)
    knowledge = Knowledge(deps, recommendations, rules)
    for source in THRESHOLD_SOURCES:  # searched now, so no request waits on the encoder
        knowledge.passage_for(source)
    for record in _assessment_sources():
        knowledge.passage_for_assessment(record)
    log.info(
        "CDS knowledge loaded",
        extra={"chunks": len(points), "recommendations": len(recommendations), "drugs": len(rules.classes)},
    )
    return knowledge
