"""What a reader hands to the chunker: a document's provenance and its structured text."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DocMeta", "ParsedDocument"]


@dataclass
class DocMeta:
    """Provenance of one guideline document (one version of it)."""

    doc_id: str
    title: str
    source: str
    issuer: str = ""
    published: str = ""
    version: str = ""
    doi: str = ""
    kind: str = "markdown"
    locator: str = ""  # where inside the source, for sources holding many documents
    source_key: str = ""  # the resolved path: one file named two ways is still one source
    supersedes: list[str] = field(default_factory=list)
    # Population and grade given by structured sources (recommendation sets), not guessed from text.
    grade: str = ""
    age_min: float | None = None
    age_max: float | None = None
    sex: str = ""

    @property
    def published_year(self) -> int | None:
        head = self.published[:4]
        return int(head) if head.isdigit() else None


@dataclass
class ParsedDocument:
    """A document as Markdown (headings give the section structure) with its provenance.

    ``base_path`` is the section path every chunk of this document starts from (used by
    recommendation sets, where a record sits under its topic and population).
    """

    meta: DocMeta
    markdown: str
    base_path: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
