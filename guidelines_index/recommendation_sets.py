"""Structured recommendation sets (the USPSTF API's JSON shape): one document per recommendation.

Each record carries its grade, the age range and the sex it applies to; those become payload
fields so retrieval can filter by population, and the evals get ground truth from them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from guidelines_index.documents import DocMeta, ParsedDocument
from guidelines_index.errors import SkipFile

__all__ = ["parse_recommendation_set"]

_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(?:br|/p|/li|/div)\s*/?\s*>", re.IGNORECASE)
_SEX = {"female": "female", "women": "female", "male": "male", "men": "male"}


def _plain(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = _BREAK.sub("\n", value)
    text = html.unescape(_TAG.sub(" ", text)).replace("\xa0", " ")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*", text)]
    return "\n\n".join(p for p in paragraphs if p)


def _records(payload: Any) -> list[Any]:
    if isinstance(payload, dict):
        for key in ("specificRecommendations", "recommendations"):
            if isinstance(payload.get(key), list):
                return list(payload[key])
    if isinstance(payload, list) and payload and all(isinstance(r, dict) for r in payload):
        return payload
    raise SkipFile(
        "JSON is not a recommendation set: expected an object with a 'specificRecommendations' list, "
        "or a list of records with 'title', 'grade' and 'text'"
    )


def _sex(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not text or "and" in text or text in ("all", "both", "any"):
        return "any"
    return _SEX.get(text, "any")


def parse_recommendation_set(payload: Any, path: Path, source: str) -> list[ParsedDocument]:
    """Turn a recommendation set into documents; a record without title, grade or text is skipped."""
    records = _records(payload)
    issuer = str(payload.get("issuer", "USPSTF")) if isinstance(payload, dict) else "USPSTF"
    published = str(payload.get("published", "")) if isinstance(payload, dict) else ""
    docs: list[ParsedDocument] = []
    bad = 0
    for rec in records:
        if not isinstance(rec, dict) or not all(rec.get(k) for k in ("title", "grade", "text")):
            bad += 1
            continue
        title = " ".join(str(rec["title"]).split())
        topic, _, population = title.partition(" -- ")
        ages = rec.get("ageRange") or [None, None]
        age_min, age_max = [*ages, None, None][:2] if isinstance(ages, list) else (None, None)
        rec_id = str(rec.get("id", "")).strip() or re.sub(r"\W+", "_", title.lower())
        meta = DocMeta(
            doc_id=f"{issuer.lower()}_{rec_id}",
            title=title,
            source=source,
            locator=f"#{rec_id}",
            issuer=issuer,
            published=str(rec.get("published", published) or ""),
            version=str(rec.get("version", published) or "1"),
            kind="recommendation",
            grade=f"Grade {str(rec['grade']).strip()}",
            age_min=float(age_min) if isinstance(age_min, int | float) else None,
            age_max=float(age_max) if isinstance(age_max, int | float) else None,
            sex=_sex(rec.get("sex") or rec.get("gender")),
        )
        parts = [f"# {population or title}", _plain(rec["text"])]
        if _plain(rec.get("servFreq")):
            parts += ["## Service and frequency", _plain(rec.get("servFreq"))]
        if _plain(rec.get("riskText")):
            parts += ["## Who is at risk", _plain(rec.get("riskText"))]
        docs.append(ParsedDocument(meta=meta, markdown="\n\n".join(parts), base_path=[topic.strip()]))
    if not docs:
        raise SkipFile(f"recommendation set has no usable record ({bad} without title, grade or text)")
    if bad:
        docs[0].warnings.append(f"{bad} record(s) without title, grade or text were skipped")
    return docs
