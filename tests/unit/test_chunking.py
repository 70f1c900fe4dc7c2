"""Structure-aware chunking: heading paths, whole tables, lead-ins, long paragraphs, embed text."""

from __future__ import annotations

import hashlib

from guidelines_index.chunking import Chunk, chunk_document, embed_text
from guidelines_index.documents import DocMeta, ParsedDocument

TITLE = "Heart Failure Care"


def _doc(markdown: str, *, base_path: list[str] | None = None, title: str = TITLE) -> ParsedDocument:
    meta = DocMeta(doc_id="hf_care", title=title, source="hf.md")
    return ParsedDocument(meta=meta, markdown=markdown, base_path=base_path or [])


def _body_words(chunk: Chunk) -> int:
    """Words of a chunk without the heading that opens it."""
    heading = f"{chunk.section_path[-1]}:" if chunk.section_path else ""
    text = chunk.text.removeprefix(heading) if heading and chunk.text.startswith(heading) else chunk.text
    return len(text.split())


NESTED = f"""# {TITLE}

Scope of this guide in one short paragraph.

## ACC/AHA Recommendations

### Beta blockers

Use an evidence-based beta blocker when the ejection fraction is reduced (Class I, LOE A).

### Diuretics/Volume

Loop diuretics relieve congestion.

## Follow-up

Review the patient within two weeks of discharge.
"""


def test_heading_paths_follow_the_heading_levels() -> None:
    paths = [c.section_path for c in chunk_document(_doc(NESTED))]
    assert paths == [
        (TITLE,),
        (TITLE, "ACC/AHA Recommendations", "Beta blockers"),
        (TITLE, "ACC/AHA Recommendations", "Diuretics/Volume"),
        (TITLE, "Follow-up"),
    ]


def test_slash_in_a_heading_is_not_a_path_separator() -> None:
    chunks = chunk_document(_doc(NESTED))
    parts = {p for c in chunks for p in c.section_path}
    assert "ACC/AHA Recommendations" in parts
    assert "Diuretics/Volume" in parts
    assert not parts & {"ACC", "AHA Recommendations", "Diuretics", "Volume"}


def test_chunk_text_opens_with_its_heading_and_carries_its_grades() -> None:
    beta = next(c for c in chunk_document(_doc(NESTED)) if c.section_path[-1] == "Beta blockers")
    assert beta.text.startswith("Beta blockers: Use an evidence-based beta blocker")
    assert beta.grades == ("Class I, LOE A",)
    assert not beta.has_table


def test_heading_levels_may_skip_and_climb_back() -> None:
    md = "# Top\n\n### Deep\n\nDeep text here.\n\n## Middle\n\nMiddle text here.\n\n# Other top\n\nMore text.\n"
    paths = [c.section_path for c in chunk_document(_doc(md))]
    assert paths == [("Top", "Deep"), ("Top", "Middle"), ("Other top",)]


def test_text_before_the_first_heading_sits_at_the_base_path() -> None:
    md = "Preface sentence before any heading.\n\n# Section\n\nSection text.\n"
    chunks = chunk_document(_doc(md, base_path=["Topic"]))
    assert chunks[0].section_path == ("Topic",)
    assert "Preface sentence" in chunks[0].text
    assert chunks[1].section_path == ("Topic", "Section")


def test_empty_sections_are_dropped() -> None:
    md = "# Guide\n\n## Empty one\n\n## Also empty\n\n   \n\n## Filled\n\nSome advice.\n"
    chunks = chunk_document(_doc(md))
    assert [c.section_path for c in chunks] == [("Guide", "Filled")]


def test_a_document_of_headings_only_has_no_chunks() -> None:
    assert chunk_document(_doc("# A\n\n## B\n\n### C\n")) == []


TABLE_ROWS = 40


def _dose_table() -> str:
    rows = "\n".join(f"| Drug {i} | {i} mg daily | {i * 2} mg daily |" for i in range(TABLE_ROWS))
    return f"| Drug | Start | Target |\n| --- | --- | --- |\n{rows}"


def test_a_table_is_never_split_even_above_the_word_target() -> None:
    md = f"# Guide\n\n## Dosing\n\nStarting and target doses:\n\n{_dose_table()}\n\nAfter the table, titrate slowly.\n"
    chunks = chunk_document(_doc(md), target_words=30)
    tables = [c for c in chunks if c.has_table]
    assert len(tables) == 1
    table = tables[0]
    assert len(table.text.split()) > 30
    assert table.text.count("| Drug ") == TABLE_ROWS + 1  # header plus every row
    assert table.section_path == ("Guide", "Dosing")
    assert table.text.startswith("Dosing: Starting and target doses:\n\n| Drug |")
    assert "| --- | --- | --- |" in table.text


def test_a_lead_in_ending_with_a_colon_stays_with_its_table() -> None:
    filler = " ".join(f"Paragraph sentence {i} about monitoring kidneys." for i in range(8))
    md = f"# Guide\n\n## Dosing\n\n{filler}\n\nUse these doses:\n\n{_dose_table()}\n"
    chunks = chunk_document(_doc(md), target_words=40)
    table = next(c for c in chunks if c.has_table)
    assert "Use these doses:\n\n| Drug | Start | Target |" in table.text
    assert not any("Use these doses:" in c.text for c in chunks if not c.has_table)


def test_a_lead_in_stays_with_its_list() -> None:
    md = "# Guide\n\n## Checks\n\nBefore discharge check:\n\n- weight\n- potassium\n- blood pressure\n"
    (chunk,) = chunk_document(_doc(md))
    assert "Before discharge check:\n\n- weight\n- potassium\n- blood pressure" in chunk.text


def test_text_after_a_table_is_not_glued_into_the_table_chunk() -> None:
    md = "# Guide\n\n## Dosing\n\n| A | B |\n| --- | --- |\n| 1 | 2 |\n\nA closing remark on titration.\n"
    chunks = chunk_document(_doc(md), target_words=40)
    assert [c.has_table for c in chunks] == [True, False]
    assert "closing remark" in chunks[1].text
    assert chunks[1].text.startswith(
        "Dosing: A closing"
    )  # the heading travels with every chunk of the section


def test_long_paragraphs_are_split_under_the_word_target() -> None:
    sentences = [f"Sentence {i} describes dosing in reduced kidney function." for i in range(60)]
    md = "# Guide\n\n## Kidney dosing\n\n" + " ".join(sentences) + "\n"
    chunks = chunk_document(_doc(md), target_words=50)
    assert len(chunks) > 1
    assert all(_body_words(c) <= 50 for c in chunks)
    assert all(c.section_path == ("Guide", "Kidney dosing") for c in chunks)
    # Nothing lost, nothing repeated, order kept.
    joined = " ".join(c.text.removeprefix("Kidney dosing:") for c in chunks)
    assert joined.split() == " ".join(sentences).split()


def test_short_paragraphs_of_a_section_are_packed_together() -> None:
    md = "# Guide\n\n## Notes\n\nFirst short note.\n\nSecond short note.\n\nThird short note.\n"
    (chunk,) = chunk_document(_doc(md), target_words=50)
    assert "First short note." in chunk.text and "Third short note." in chunk.text


def test_embed_text_puts_title_and_section_path_first() -> None:
    assert embed_text(TITLE, (TITLE, "ACC/AHA Recommendations", "Beta blockers"), "Body.") == (
        f"{TITLE}\nACC/AHA Recommendations > Beta blockers\nBody."
    )
    assert embed_text(TITLE, (TITLE,), "Body.") == f"{TITLE}\nBody."
    assert embed_text(TITLE, (), "Body.") == f"{TITLE}\nBody."
    assert embed_text(TITLE, ("Topic", "", "Population"), "Body.") == f"{TITLE}\nTopic > Population\nBody."


def test_content_hash_is_the_sha256_of_the_text_and_stable() -> None:
    first = chunk_document(_doc(NESTED))
    again = chunk_document(_doc(NESTED))
    assert [c.content_hash for c in first] == [c.content_hash for c in again]
    for chunk in first:
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode("utf-8")).hexdigest()
    assert len({c.content_hash for c in first}) == len(first)
    edited = chunk_document(_doc(NESTED.replace("two weeks", "one week")))
    assert edited[-1].content_hash != first[-1].content_hash
    assert [c.content_hash for c in edited[:-1]] == [c.content_hash for c in first[:-1]]


def test_a_lead_in_section_opens_its_first_subsection() -> None:
    from guidelines_index.chunking import chunk_document
    from guidelines_index.documents import DocMeta, ParsedDocument

    md = (
        "# Referral\n\n## When to refer\n\nRefer when any of the following are present:\n\n"
        "### Urgent\n\n- Potassium above 6.5 mmol/L\n\n### Routine\n\n- Slowly rising creatinine\n\n"
        "## Follow-up\n\nSee the patient again in three months.\n"
    )
    doc = ParsedDocument(meta=DocMeta(doc_id="r", title="Referral", source="r.md"), markdown=md)
    chunks = chunk_document(doc)
    assert [c.section_path[-1] for c in chunks] == ["Urgent", "Routine", "Follow-up"]
    assert "When to refer: Refer when any of the following are present:" in chunks[0].text
    assert "Potassium above 6.5" in chunks[0].text and "following" not in chunks[1].text


def test_a_lead_in_without_subsections_is_kept() -> None:
    from guidelines_index.chunking import chunk_document
    from guidelines_index.documents import DocMeta, ParsedDocument

    md = "# Doc\n\n## Scope\n\nThis applies to:\n\n## Other\n\nUnrelated text here.\n"
    doc = ParsedDocument(meta=DocMeta(doc_id="d", title="Doc", source="d.md"), markdown=md)
    chunks = chunk_document(doc)
    assert [c.section_path[-1] for c in chunks] == ["Scope", "Other"]
    assert chunks[0].text == "Scope: This applies to:"


STATINS = """# Statin Therapy

## Statin Intensity Definitions

Statin therapy is classified by the expected percentage reduction in LDL-C:

### High-Intensity Statin Therapy (LDL-C Reduction >= 50%)

| Drug | Daily Dose |
|---|---|
| **Atorvastatin** | 40--80 mg |

### Low-Intensity Statin Therapy (LDL-C Reduction < 30%)

| Drug | Daily Dose |
|---|---|
| **Simvastatin** | 10 mg |

---

### Follow-up

---

## Monitoring

Check a lipid panel 4 to 12 weeks after starting.
"""


def test_no_chunk_is_a_bare_heading() -> None:
    chunks = chunk_document(_doc(STATINS))
    for chunk in chunks:
        first = chunk.text.split("\n", 1)[0]
        assert first.endswith(":") or len(first.split()) > len(chunk.section_path[-1].split()), chunk.text
        assert chunk.text.strip() != chunk.section_path[-1]
    low = next(c for c in chunks if c.section_path[-1].startswith("Low-Intensity"))
    assert (
        low.text
        == "Low-Intensity Statin Therapy (LDL-C Reduction < 30%):\n| Drug | Daily Dose |\n|---|---|\n| **Simvastatin** | 10 mg |"
    )
    high = next(c for c in chunks if c.section_path[-1].startswith("High-Intensity"))
    assert high.text.startswith("Statin Intensity Definitions: Statin therapy is classified")
    assert "High-Intensity Statin Therapy (LDL-C Reduction >= 50%):\n| Drug |" in high.text


def test_horizontal_rules_are_dropped_and_a_section_of_rules_only_is_empty() -> None:
    chunks = chunk_document(_doc(STATINS))
    assert not any("---\n" in c.text.replace("|---|", "") or c.text.endswith("\n---") for c in chunks)
    assert "Follow-up" not in [c.section_path[-1] for c in chunks]
    assert chunks[-1].text == "Monitoring: Check a lipid panel 4 to 12 weeks after starting."


def test_a_fenced_algorithm_stays_whole_and_is_not_a_table() -> None:
    drawing = "\n".join(
        [
            "```",
            "Suspected UTI",
            "  |",
            "  +--> Sepsis?",
            "",
            "  |     YES --> carbapenem",
            "",
            "  +--> NO",
            "```",
        ]
    )
    md = f"# Guide\n\n## Algorithm\n\n{drawing}\n\nAfter the drawing, a remark.\n"
    chunks = chunk_document(_doc(md), target_words=5)
    fenced = [c for c in chunks if "```" in c.text]
    assert len(fenced) == 1 and fenced[0].text == f"Algorithm:\n{drawing}"
    assert not fenced[0].has_table
    assert chunks[-1].text == "Algorithm: After the drawing, a remark."
