"""Where document provenance comes from: front matter, a registry beside the files, or the text itself."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from guidelines_index.documents import DocMeta

__all__ = ["build_meta", "registry_entry", "slugify", "sortable_date", "split_front_matter"]

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
_TITLE_ISSUER_YEAR = re.compile(
    r"[-–—]{1,2}\s*(?P<issuer>[A-Z][A-Za-z/&.\- ]{1,40}?)\s+(?P<year>(?:19|20)\d\d)\s*$"
)
_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")


_DATE_FORMATS = (
    ("%Y-%m-%d", 3),
    ("%Y/%m/%d", 3),
    ("%d %B %Y", 3),
    ("%d %b %Y", 3),
    ("%B %d, %Y", 3),
    ("%b %d, %Y", 3),
    ("%Y-%m", 2),
    ("%Y/%m", 2),
    ("%B %Y", 2),
    ("%b %Y", 2),
    ("%Y", 1),
)


def sortable_date(text: str) -> str:
    """A publication date as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` so versions sort by time.

    "May 2021" becomes "2021-05", which sorts before "2022-01-01" as it should; text that is
    no date falls back to the first year in it, or the empty string.
    """
    value = " ".join(str(text or "").replace(".", "").split())
    for fmt, parts in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.strftime(("%Y", "%Y-%m", "%Y-%m-%d")[parts - 1])
    year = _YEAR.search(value)
    return year.group(1) if year else ""


def slugify(text: str) -> str:
    """A lower-case identifier made of letters, digits and underscores."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug[:80] or "document"


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a leading YAML block (``---`` ... ``---``) from Markdown; bad YAML counts as no front matter."""
    m = _FRONT.match(text)
    if not m:
        return {}, text
    try:
        # BaseLoader keeps every scalar as written: "version: 2.10" must not become the float 2.1.
        data = yaml.load(m.group(1), Loader=yaml.BaseLoader)
    except yaml.YAMLError:
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    return {str(k).lower(): v for k, v in data.items()}, text[m.end() :]


@lru_cache(maxsize=32)
def _load_registry(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict):
        data = data.get("guidelines", [])
    if not isinstance(data, list):
        return {}
    return {str(e["id"]): e for e in data if isinstance(e, dict) and "id" in e}


def registry_entry(path: Path) -> dict[str, Any] | None:
    """The entry for ``path`` in a ``registry.json`` up to three folders above it.

    A registry is a JSON list of guideline records with an ``id``; a file belongs to the
    entry whose id names one of its parent folders (``content/<id>/<section>.md``). This
    is how the open-medicine corpus lays out its 43 guidelines.
    """
    parents = list(path.resolve().parents)[:4]
    for folder in parents:
        registry = folder / "registry.json"
        if registry.is_file():
            entries = _load_registry(registry)
            for parent in parents:
                if parent.name in entries:
                    return entries[parent.name]
    return None


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def build_meta(path: Path, source: str, front: dict[str, Any], first_heading: str, kind: str) -> DocMeta:
    """Merge provenance: front matter wins over the registry, which wins over what the text suggests."""
    reg = registry_entry(path) or {}
    heading_hint = _TITLE_ISSUER_YEAR.search(first_heading or "")
    title = _as_str(front.get("title")) or _as_str(reg.get("title")) or first_heading or path.stem
    issuer = (
        _as_str(front.get("issuer") or front.get("organization"))
        or _as_str(reg.get("organization"))
        or (heading_hint.group("issuer").strip() if heading_hint else "")
    )
    published = _as_str(front.get("published") or front.get("date") or front.get("year")) or _as_str(
        reg.get("year")
    )
    if not published:
        year = heading_hint.group("year") if heading_hint else None
        if year is None:
            found = _YEAR.search(title)
            year = found.group(1) if found else None
        published = year or ""
    version = _as_str(front.get("version")) or _as_str(reg.get("version")) or published
    doc_id = _as_str(front.get("doc_id") or front.get("id")) or _as_str(reg.get("id")) or slugify(title)
    supersedes = _as_list(front.get("supersedes")) or _as_list(reg.get("supersedes"))
    return DocMeta(
        doc_id=doc_id,
        title=title,
        source=source,
        issuer=issuer,
        published=published,
        version=version or "1",
        doi=_as_str(front.get("doi")) or _as_str(reg.get("doi")),
        kind=kind,
        supersedes=supersedes,
        grade=_as_str(front.get("grade")),
    )
