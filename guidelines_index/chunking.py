"""Structure-aware chunking: sections from Markdown headings (llama-index), blocks packed inside them.

Rules: every chunk knows its heading path; a table or a fenced block (an algorithm drawn in
text) is never split and travels with its heading and the sentence that introduces it; the
text embedded for search is prefixed with the document title and the section path.

A chunk is never a bare heading: the heading opens the chunk's first line (``Heading: first
sentence...``, or ``Heading:`` above the table or list it titles), so a passage quoted from
a chunk always carries content; horizontal rules are layout, not content, and are dropped.
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
_RULE_LINE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_FENCE_LINE = re.compile(r"^\s{0,3}(```|~~~)")


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


def _without_rules(body: str) -> str:
    """The body without horizontal rules (``---``), except inside fenced blocks."""
    out: list[str] = []
    fenced = False
    for line in body.split("\n"):
        if _FENCE_LINE.match(line):
            fenced = not fenced
        elif not fenced and _RULE_LINE.match(line):
            continue
        out.append(line)
    return "\n".join(out).strip()


def _blocks(body: str) -> list[tuple[str, str]]:
    """Split a section body into blocks, each with its kind: ``text``, ``list``, ``table`` or
    ``fence`` (the last two are never split)."""
    blocks: list[tuple[str, str]] = []
    current: list[str] = []
    kind = ""
    fence = ""

    def flush() -> None:
        nonlocal current, kind
        if current:
            blocks.append(("\n".join(current).strip(), kind))
        current, kind = [], ""

    for line in body.split("\n"):
        if fence:  # inside a fenced block: every line, blank or not, belongs to it
            current.append(line)
            if line.strip().startswith(fence):
                fence = ""
                flush()
            continue
        opening = _FENCE_LINE.match(line)
        if opening:
            flush()
            fence, kind = opening.group(1), "fence"
            current.append(line)
            continue
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
    flush()  # an unclosed fence ends with the body
    # A short lead-in sentence ending with a colon belongs with the table or list that follows it.
    merged: list[tuple[str, str]] = []
    for text, kind in blocks:
        last = merged[-1] if merged else ("", "")
        if last[0].endswith(":") and last[1] not in _WHOLE and len(last[0].split()) < 60:
            merged.pop()
            merged.append((f"{last[0]}\n\n{text}", kind))
        else:
            merged.append((text, kind))
    return [b for b in merged if b[0]]


_WHOLE = ("table", "fence")


@dataclass
class _Pack:
    """Blocks packed into one chunk; ``whole`` once a table or fenced block closes it."""

    parts: list[str]
    whole: bool
    table: bool


def _split_long(text: str, limit: int) -> list[str]:
    """Split an over-long non-table block at sentence or line boundaries."""
    return pack_by_words(re.split(r"(?<=[.;!?])\s+|\n", text), limit)


def _titled(heading: str, text: str) -> str:
    """``text`` opened by its heading, so the heading never stands alone as a sentence.

    Prose continues the heading's line (``Dosing: Start at 10 mg daily.``); a table, list or
    fenced block gets the heading as its lead-in line (``Dosing:`` above the rows).
    """
    if not heading:
        return text
    lead = heading if heading.endswith((":", ".", "?", "!")) else f"{heading}:"
    first = text.lstrip().split("\n", 1)[0]
    if _TABLE_LINE.match(first) or _LIST_LINE.match(first) or _FENCE_LINE.match(first):
        return f"{lead}\n{text}"
    return f"{lead} {text}"


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
    for parents, heading, raw in _sections(doc.markdown):
        body = _without_rules(raw)
        if not body:
            continue
        path = tuple(doc.base_path + parents + ([heading] if heading else []))
        opening = ""  # a parent's lead-in sentence, which opens this section's first chunk
        if lead is not None:
            lead_path, lead_text = lead
            lead = None
            if path[: len(lead_path)] == lead_path and len(path) > len(lead_path):
                opening = lead_text
            else:
                chunks.append(_chunk(lead_path, lead_text, False))
        if _is_lead_in(body) and heading:
            lead = (path, _titled(heading, body))
            continue
        packed: list[_Pack] = []
        words = 0
        for text, kind in _blocks(body):
            whole = kind in _WHOLE
            parts = [text] if whole or len(text.split()) <= target_words else _split_long(text, target_words)
            for part in parts:
                n = len(part.split())
                if packed and not packed[-1].whole and words + n <= target_words:
                    # prose after prose, or a table/fenced block joining the prose that leads to it
                    packed[-1].parts.append(part)
                    packed[-1].whole = whole
                    packed[-1].table = packed[-1].table or kind == "table"
                    words += n
                else:
                    packed.append(_Pack([part], whole, kind == "table"))
                    words = n
        for n, pack in enumerate(packed):
            text = _titled(heading, "\n\n".join(pack.parts))
            chunks.append(_chunk(path, f"{opening}\n\n{text}" if opening and n == 0 else text, pack.table))
    if lead is not None:
        chunks.append(_chunk(lead[0], lead[1], False))
    return chunks


def _chunk(path: tuple[str, ...], text: str, has_table: bool) -> Chunk:
    from guidelines_index.grades import extract_grades

    return Chunk(path, text.strip(), has_table, tuple(extract_grades(text)))
