"""Every rule's source names a real passage of the indexed open-medicine corpus.

The doc id and title must be the registry's, and the section path must be a heading path of
that document's Markdown files that holds text of its own (what the index stores as a passage),
joined as the index joins it (``H1 > H2 > H3``). A source with
an empty doc id (a guideline the corpus lacks) must say where its numbers come from.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

import pytest

from assessments import ASSESSMENT_IDS, assess
from assessments.sources import SOURCES
from tests.unit.test_assessments_factory import Patient

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@cache
def _corpus() -> Path | None:
    spec = importlib.util.find_spec("open_medicine")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "guidelines"
    return folder if (folder / "registry.json").is_file() else None


def _passage_paths(doc_folder: Path) -> set[str]:
    """Heading paths that hold text of their own (a heading with only subheadings is no passage)."""
    paths: set[str] = set()
    for md in doc_folder.glob("*.md"):
        stack: list[str] = []
        for line in md.read_text(encoding="utf-8").splitlines():
            m = _HEADING.match(line)
            if m:
                level = len(m.group(1))
                stack = [*stack[: level - 1], m.group(2)]
            elif line.strip() and stack:
                paths.add(" > ".join(stack))
    return paths


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_each_source_is_a_real_passage(key: str) -> None:
    folder = _corpus()
    if folder is None:
        pytest.skip("the open-medicine package is not installed")
    source = SOURCES[key]
    if not source.doc_id:
        assert source.reference, f"{key}: a source outside the corpus must name its publication"
        return
    registry = {e["id"]: e for e in json.loads((folder / "registry.json").read_text(encoding="utf-8"))}
    assert source.doc_id in registry, key
    assert source.title == registry[source.doc_id]["title"], key
    assert source.section in _passage_paths(folder / "content" / source.doc_id), (key, source.section)
    assert source.passage_query, key


def test_every_assessment_id_has_a_source_and_uses_only_listed_ones() -> None:
    p = Patient("1957-02-01", "male")
    p.condition("Ischemic heart disease", "2021-11-23", "414545008")
    p.condition("Atrial fibrillation", "2023-01-01", "49436004")
    listed = set(SOURCES.values())
    for a in assess(p.events):
        assert a.source in listed, a.id
    assert set(ASSESSMENT_IDS) - {"statin"} <= set(SOURCES)
