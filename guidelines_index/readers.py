"""Readers: a file on disk becomes one or more :class:`ParsedDocument`, or a :class:`SkipFile` verdict.

Markdown and plain text are read directly; PDF pages come through llama-index's PDF reader
(pypdf underneath); HTML is turned into Markdown so its headings and tables keep their shape;
JSON must be a recommendation set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from guidelines_index.documents import ParsedDocument
from guidelines_index.errors import SkipFile
from guidelines_index.metadata import build_meta, split_front_matter
from guidelines_index.recommendation_sets import parse_recommendation_set

__all__ = ["SUPPORTED_SUFFIXES", "read_file"]

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SkipFile("binary content (NUL bytes) in a text file; is the extension right?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipFile(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); re-save the file as UTF-8"
        ) from exc


def _first_heading(markdown: str) -> str:
    m = _HEADING.search(markdown)
    return m.group(1).strip() if m else ""


def _require_text(markdown: str) -> None:
    if not re.search(r"\w{2,}", markdown):
        raise SkipFile("no readable text in the file")


def _read_markdown(path: Path, source: str, data: bytes) -> list[ParsedDocument]:
    front, body = split_front_matter(_decode(data))
    _require_text(body)
    meta = build_meta(path, source, front, _first_heading(body), "markdown")
    return [ParsedDocument(meta=meta, markdown=body)]


def _read_text(path: Path, source: str, data: bytes) -> list[ParsedDocument]:
    text = _decode(data)
    _require_text(text)
    all_lines = text.splitlines()
    first = next(i for i, ln in enumerate(all_lines) if ln.strip())
    title = all_lines[first].strip()[:200]
    meta = build_meta(path, source, {}, title, "text")
    # Plain text has no markup: the first non-blank line is the title, blank lines separate paragraphs.
    body = "\n".join(all_lines[first + 1 :])
    return [ParsedDocument(meta=meta, markdown=f"# {title}\n\n{body}")]


def _table_markdown(table: object) -> str:
    rows = []
    for tr in table.find_all("tr"):  # type: ignore[attr-defined]
        cells = [
            " ".join(c.get_text(" ", strip=True).split()).replace("|", "/") for c in tr.find_all(["th", "td"])
        ]
        if cells:
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def _html_to_markdown(html: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    # html5lib parses as browsers do: omitted end tags (<p>, <li>, <td>) close where the standard says.
    soup = BeautifulSoup(html, "html5lib")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "template"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root = soup.body or soup
    out: list[str] = []
    for el in root.find_all(
        ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "pre", "blockquote", "dd", "dt"]
    ):
        if el.find_parent("table") is not None and el.name != "table":
            continue
        if el.name != "table" and el.find_parent(["li", "blockquote"]) is not None and el.name in ("p",):
            continue
        if el.name == "table":
            md = _table_markdown(el)
        else:
            text = " ".join(el.get_text(" ", strip=True).split())
            if not text:
                continue
            if el.name[0] == "h":
                md = "#" * int(el.name[1]) + " " + text
            elif el.name == "li":
                md = "- " + text
            else:
                md = text
        if md:
            out.append(md)
    if not out:
        text = " ".join(root.get_text(" ", strip=True).split())
        if text:
            out.append(text)
    return title, "\n\n".join(out)


def _read_html(path: Path, source: str, data: bytes) -> list[ParsedDocument]:
    title, markdown = _html_to_markdown(_decode(data))
    _require_text(markdown)
    first = _first_heading(markdown)
    if not first:
        markdown = f"# {title or path.stem}\n\n{markdown}"
    meta = build_meta(path, source, {}, title or first or path.stem, "html")
    return [ParsedDocument(meta=meta, markdown=markdown)]


def _read_pdf(path: Path, source: str, data: bytes) -> list[ParsedDocument]:
    import pypdf
    from llama_index.readers.file import PDFReader

    try:
        probe = pypdf.PdfReader(path)
        encrypted = probe.is_encrypted
    except Exception as exc:  # pypdf raises several types for damaged files
        raise SkipFile(f"cannot read the PDF ({type(exc).__name__}: {exc}); the file may be corrupt") from exc
    if encrypted:
        raise SkipFile("the PDF is encrypted; save a decrypted copy and index that")
    try:
        pages = PDFReader(return_full_document=False).load_data(path)
    except Exception as exc:
        raise SkipFile(f"cannot extract text from the PDF ({type(exc).__name__}: {exc})") from exc
    title = ""
    try:
        title = str(probe.metadata.get("/Title") or "").strip() if probe.metadata else ""
    except Exception:  # damaged info dictionaries are common and harmless here
        title = ""
    parts = []
    for i, page in enumerate(pages, 1):
        text = page.text.strip()
        if text:
            parts.append(f"## Page {i}\n\n{text}")
    if not parts:
        raise SkipFile("the PDF has no extractable text (a scan? run OCR first)")
    if not title:
        first_line = (
            next((ln.strip() for ln in pages[0].text.splitlines() if ln.strip()), "") if pages else ""
        )
        title = first_line[:200] or path.stem
    meta = build_meta(path, source, {}, title, "pdf")
    return [ParsedDocument(meta=meta, markdown=f"# {title}\n\n" + "\n\n".join(parts))]


def _read_json(path: Path, source: str, data: bytes) -> list[ParsedDocument]:
    text = _decode(data)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SkipFile(f"invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    return parse_recommendation_set(payload, path, source)


_READERS: dict[str, Callable[[Path, str, bytes], list[ParsedDocument]]] = {
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".txt": _read_text,
    ".text": _read_text,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".json": _read_json,
}
SUPPORTED_SUFFIXES = frozenset(_READERS)


def read_file(path: Path, source: str, *, max_bytes: int) -> list[ParsedDocument]:
    """Read one file into documents, or raise :class:`SkipFile` with the reason."""
    if not path.exists():
        raise SkipFile("no such file or folder")
    if not path.is_file():
        raise SkipFile("not a regular file")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise SkipFile(
            f"unsupported file type {path.suffix or '(none)'}; use one of {', '.join(sorted(_READERS))}"
        )
    size = path.stat().st_size
    if size == 0:
        raise SkipFile("empty file")
    if size > max_bytes:
        raise SkipFile(
            f"file is {_human(size)}, above the {_human(max_bytes)} limit (raise CRA_MAX_FILE_MB to allow it)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"cannot read the file ({exc.strerror or exc})") from exc
    return reader(path, source, data)
