"""Structure-aware chunking: sections from Markdown headings (llama-index), blocks packed inside them.

Rules: every chunk knows its heading path; a table is never split and travels with its
heading and the sentence that introduces it; the text embedded for search is prefixed with
the document title and the section path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from guidelines_index.documents import ParsedDocument
from retrieval.text import pack_by_words

__all__ = ["Chunk", "chunk_document", "embed_text"]

_HEADING_LINE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_TABLE_LINE = re.compile(r"^\s*\|")
_LIST_LINE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True)
class Chunk:
    """A passage of one document with its place in the document's structure."""

    section_path: tuple[str, ...]
    text: str
    has_table: bool
    grades: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def embed_text(title: str, section_path: tuple[str, ...], text: str) -> str:
    """The text the encoders see: title and section path first, so context shapes the vector."""
    path = " > ".join(p for p in section_path if p and p != title)
    return f"{title}\n{path}\n{text}" if path else f"{title}\n{text}"


def _sections(markdown: str) -> list[tuple[list[str], str, str]]:
    """(parent heading path, own heading, body) per heading section.

    llama-index's Markdown parser splits at headings (and knows code fences); the heading
    path is rebuilt here from heading levels, because titles such as "ACC/AHA" contain the
    slash the parser uses as its path separator.
    """
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser

    nodes = MarkdownNodeParser(include_metadata=False, include_prev_next_rel=False).get_nodes_from_documents(
        [Document(text=markdown)]
    )
    stack: list[tuple[int, str]] = []
    out = []
    for node in nodes:
        lines = node.get_content().split("\n")
        m = _HEADING_LINE.match(lines[0]) if lines else None
        if m:
            level, heading = len(m.group(1)), m.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            parents = [h for _, h in stack]
            stack.append((level, heading))
            body = "\n".join(lines[1:])
        else:
            parents, heading, body = [h for _, h in stack], "", "\n".join(lines)
        out.append((parents, heading, body.strip()))
    return out


def _blocks(body: str) -> list[tuple[str, bool]]:
    """Split a section body into paragraphs, lists and tables; ``True`` marks a table."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    kind = ""

    def flush() -> None:
        nonlocal current, kind
        if current:
            blocks.append(("\n".join(current).strip(), kind == "table"))
        current, kind = [], ""

    for line in body.split("\n"):
        if not line.strip():
            if kind != "list":
                flush()
            continue
        line_kind = "table" if _TABLE_LINE.match(line) else "list" if _LIST_LINE.match(line) else "text"
        if kind == "list" and line_kind == "text" and line.startswith((" ", "\t")):
            line_kind = "list"  # continuation of a list item
        if current and line_kind != kind:
            flush()
        kind = line_kind
        current.append(line)
    flush()
    # A short lead-in sentence ending with a colon belongs with the table or list that follows it.
    merged: list[tuple[str, bool]] = []
    for text, is_table in blocks:
        if merged and merged[-1][0].endswith(":") and not merged[-1][1] and len(merged[-1][0].split()) < 60:
            lead, _ = merged.pop()
            merged.append((f"{lead}\n\n{text}", is_table))
        else:
            merged.append((text, is_table))
    return [b for b in merged if b[0]]


def _split_long(text: str, limit: int) -> list[str]:
    """Split an over-long non-table block at sentence or line boundaries."""
    return pack_by_words(re.split(r"(?<=[.;!?])\s+|\n", text), limit)


def _is_lead_in(body: str) -> bool:
    """A section whose whole body announces what its subsections hold ("... the following:")."""
    return body.endswith(":") and len(body.split()) < 60 and "\n\n" not in body


def chunk_document(doc: ParsedDocument, *, target_words: int = 180) -> list[Chunk]:
    """Cut a parsed document into chunks that respect its headings and keep tables whole.

    A section that only introduces its subsections ("refer when any of the following:") is
    not a chunk of its own: its sentence opens the first subsection's chunk, which it belongs to.
    """
    chunks: list[Chunk] = []
    lead: tuple[tuple[str, ...], str] | None = None
    for parents, heading, body in _sections(doc.markdown):
        if not body:
            continue
        path = tuple(doc.base_path + parents + ([heading] if heading else []))
        if lead is not None:
            lead_path, lead_text = lead
            lead = None
            if path[: len(lead_path)] == lead_path and len(path) > len(lead_path):
                body = f"{lead_text}\n\n{body}"
            else:
                chunks.append(_chunk(lead_path, lead_text, False))
        if _is_lead_in(body) and heading:
            lead = (path, f"{heading}: {body}")
            continue
        head_line = f"{heading}\n" if heading else ""
        packed: list[tuple[list[str], bool]] = []
        words = 0
        for text, is_table in _blocks(body):
            parts = (
                [text] if is_table or len(text.split()) <= target_words else _split_long(text, target_words)
            )
            for part in parts:
                n = len(part.split())
                if packed and not is_table and not packed[-1][1] and words + n <= target_words:
                    packed[-1][0].append(part)
                    words += n
                elif packed and is_table and words + n <= target_words and not packed[-1][1]:
                    packed[-1][0].append(part)
                    packed[-1] = (packed[-1][0], True)
                    words += n
                else:
                    packed.append(([part], is_table))
                    words = n
        for parts, has_table in packed:
            chunks.append(_chunk(path, head_line + "\n\n".join(parts), has_table))
    if lead is not None:
        chunks.append(_chunk(lead[0], lead[1], False))
    return chunks


def _chunk(path: tuple[str, ...], text: str, has_table: bool) -> Chunk:
    from guidelines_index.grades import extract_grades

    return Chunk(path, text.strip(), has_table, tuple(extract_grades(text)))
