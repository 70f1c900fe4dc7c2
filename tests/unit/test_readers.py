"""Readers: every supported format becomes structured documents; every bad input a clear SkipFile."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from guidelines_index.documents import ParsedDocument
from guidelines_index.errors import SkipFile
from guidelines_index.readers import SUPPORTED_SUFFIXES, read_file

MAX = 1_000_000


def _read(path: Path, *, max_bytes: int = MAX) -> list[ParsedDocument]:
    return read_file(path, str(path), max_bytes=max_bytes)


def _skip_reason(path: Path, *, max_bytes: int = MAX) -> str:
    with pytest.raises(SkipFile) as info:
        _read(path, max_bytes=max_bytes)
    assert info.value.reason == str(info.value)
    return info.value.reason


def _text_pdf(path: Path, lines: list[str], *, title: str | None = None) -> None:
    """A one-page PDF whose content stream draws ``lines`` in Helvetica (pypdf only, no other tools)."""
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    stream = DecodedStreamObject()
    ops = " ".join(f"({line}) '" for line in lines)
    stream.set_data(f"BT /F1 12 Tf 72 720 Td 14 TL {ops} ET".encode("latin-1"))
    page.replace_contents(stream)
    if title:
        writer.add_metadata({"/Title": title})
    with path.open("wb") as fh:
        writer.write(fh)


# -- Markdown ------------------------------------------------------------------


def test_markdown_front_matter_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "htn.md"
    path.write_text(
        "---\n"
        "doc_id: htn_adult\n"
        "title: Adult Blood Pressure Care\n"
        "issuer: Example Cardiology Society\n"
        "published: 2021-05-01\n"
        "version: '2.1'\n"
        "supersedes: [htn_adult_2015]\n"
        "---\n"
        "# A heading that is not the title\n\n"
        "Measure blood pressure at every visit.\n",
        encoding="utf-8",
    )
    (doc,) = _read(path)
    meta = doc.meta
    assert meta.doc_id == "htn_adult"
    assert meta.title == "Adult Blood Pressure Care"
    assert meta.issuer == "Example Cardiology Society"
    assert meta.published == "2021-05-01"
    assert meta.published_year == 2021
    assert meta.version == "2.1"
    assert meta.supersedes == ["htn_adult_2015"]
    assert meta.kind == "markdown"
    assert meta.source == str(path)
    assert "doc_id" not in doc.markdown and "---" not in doc.markdown
    assert doc.markdown.startswith("# A heading that is not the title")


def test_markdown_without_front_matter_takes_provenance_from_its_heading(tmp_path: Path) -> None:
    path = tmp_path / "sepsis.md"
    path.write_text("# Sepsis Bundle -- Example Critical Care Group 2019\n\nGive fluids early.\n")
    (doc,) = _read(path)
    assert doc.meta.title == "Sepsis Bundle -- Example Critical Care Group 2019"
    assert doc.meta.issuer == "Example Critical Care Group"
    assert doc.meta.published == "2019"
    assert doc.meta.doc_id == "sepsis_bundle_example_critical_care_group_2019"


def test_front_matter_supersedes_may_be_a_single_id(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\ndoc_id: new_one\nsupersedes: old_one\n---\n# New\n\nNew advice on gout.\n")
    assert _read(path)[0].meta.supersedes == ["old_one"]


def test_front_matter_version_keeps_its_written_form(tmp_path: Path) -> None:
    # BUG: YAML reads an unquoted 2.10 as the float 2.1, so version 2.10 is stored as "2.1" and sorts
    # below version 2.9 when the indexer decides which version is current.
    path = tmp_path / "a.md"
    path.write_text("---\ndoc_id: asthma\nversion: 2.10\n---\n# Asthma\n\nReview inhaler technique.\n")
    assert _read(path)[0].meta.version == "2.10"


# -- HTML ----------------------------------------------------------------------


def test_html_becomes_structured_markdown(tmp_path: Path) -> None:
    path = tmp_path / "asthma.html"
    path.write_text(
        "<html><head><title>Asthma Steps</title><script>var tracking = 1;</script></head><body>"
        "<nav>Home | About</nav>"
        "<h1>Asthma Steps</h1><p>Assess control at every visit.</p>"
        "<h2>Treatment</h2><ul><li>Check inhaler technique</li><li>Step up if poorly controlled</li></ul>"
        "<table><tr><th>Step</th><th>Preferred</th></tr><tr><td>1</td><td>As-needed reliever</td></tr>"
        "<tr><td>2</td><td>Low dose inhaled steroid</td></tr></table>"
        "</body></html>"
    )
    (doc,) = _read(path)
    md = doc.markdown
    assert doc.meta.title == "Asthma Steps"
    assert doc.meta.kind == "html"
    assert "# Asthma Steps" in md
    assert "## Treatment" in md
    assert "- Check inhaler technique" in md and "- Step up if poorly controlled" in md
    assert (
        "| Step | Preferred |\n|---|---|\n| 1 | As-needed reliever |\n| 2 | Low dose inhaled steroid |" in md
    )
    assert "tracking" not in md and "Home" not in md
    assert md.index("# Asthma Steps") < md.index("## Treatment") < md.index("| Step |")


def test_html_without_headings_gets_its_title_as_heading(tmp_path: Path) -> None:
    path = tmp_path / "gout.html"
    path.write_text(
        "<html><head><title>Gout Flares</title></head><body><p>Treat flares early.</p></body></html>"
    )
    (doc,) = _read(path)
    assert doc.markdown.startswith("# Gout Flares\n\nTreat flares early.")


def test_broken_html_still_yields_its_text(tmp_path: Path) -> None:
    path = tmp_path / "broken.html"
    path.write_text("<html><body><h2>Fluids<p>Give a bolus of crystalloid <b>early<div>and reassess often")
    (doc,) = _read(path)
    for words in ("Fluids", "Give a bolus of crystalloid", "early", "and reassess often"):
        assert words in doc.markdown


def test_html_with_bare_text_only(tmp_path: Path) -> None:
    path = tmp_path / "note.html"
    path.write_text("<div>Only a div about anticoagulant bridging</div>")
    (doc,) = _read(path)
    assert "Only a div about anticoagulant bridging" in doc.markdown
    assert doc.meta.title == "note"


def test_html_with_omitted_end_tags_keeps_each_paragraph_once(tmp_path: Path) -> None:
    # BUG: HTML lets </p>, </li>, </td> and </tr> be omitted; html.parser nests the following
    # element inside the open one, so its text is emitted twice and table rows are garbled.
    path = tmp_path / "legacy.html"
    path.write_text(
        "<h1>Legacy Page</h1><p>Check potassium weekly.<p>Stop the drug if it rises."
        "<ul><li>Weigh daily<li>Limit salt</ul>"
        "<table><tr><th>Level<th>Action<tr><td>High<td>Stop</table>"
    )
    (doc,) = _read(path)
    md = doc.markdown
    assert md.count("Stop the drug if it rises.") == 1
    assert md.count("Limit salt") == 1
    assert "| Level | Action |\n|---|---|\n| High | Stop |" in md


# -- Plain text -----------------------------------------------------------------


def test_plain_text_first_line_is_the_title(tmp_path: Path) -> None:
    path = tmp_path / "dm.txt"
    path.write_text("Diabetes Notes\n\nMetformin is usually first line.\n\nCheck kidney function yearly.\n")
    (doc,) = _read(path)
    assert doc.meta.title == "Diabetes Notes"
    assert doc.meta.kind == "text"
    assert doc.markdown.startswith("# Diabetes Notes\n")
    assert "Metformin is usually first line." in doc.markdown
    assert doc.markdown.count("Diabetes Notes") == 1


def test_plain_text_with_leading_blank_lines_does_not_repeat_its_title(tmp_path: Path) -> None:
    # BUG: the title is the first non-blank line but the body drops the first *line*, so a file
    # that starts with a blank line gets its title line twice.
    path = tmp_path / "dm.txt"
    path.write_text("\n\nDiabetes Notes\n\nMetformin is usually first line.\n")
    (doc,) = _read(path)
    assert doc.meta.title == "Diabetes Notes"
    assert doc.markdown.count("Diabetes Notes") == 1


# -- PDF -----------------------------------------------------------------------


def test_pdf_with_text(tmp_path: Path) -> None:
    path = tmp_path / "anticoag.pdf"
    _text_pdf(path, ["Anticoagulation Primer", "Warfarin needs regular INR checks."])
    (doc,) = _read(path)
    assert doc.meta.kind == "pdf"
    assert doc.meta.title == "Anticoagulation Primer"
    assert doc.markdown.startswith("# Anticoagulation Primer\n\n## Page 1\n\n")
    assert "Warfarin needs regular INR checks." in doc.markdown


def test_pdf_title_comes_from_its_metadata(tmp_path: Path) -> None:
    path = tmp_path / "kidney.pdf"
    _text_pdf(path, ["Body line about kidney care."], title="Kidney Care 2020")
    (doc,) = _read(path)
    assert doc.meta.title == "Kidney Care 2020"
    assert doc.meta.published == "2020"


def test_pdf_without_text_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    with path.open("wb") as fh:
        writer.write(fh)
    assert "no extractable text" in _skip_reason(path)


def test_encrypted_pdf_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    with path.open("wb") as fh:
        writer.write(fh)
    assert "encrypted" in _skip_reason(path)


def test_corrupt_pdf_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pdf"
    path.write_bytes(random.Random(7).randbytes(2048))  # fixed "random" bytes: the same file every run
    reason = _skip_reason(path)
    assert "PDF" in reason and "corrupt" in reason


# -- Recommendation sets (JSON) ----------------------------------------------------------


RECOMMENDATIONS = {
    "specificRecommendations": [
        {
            "id": 101,
            "title": "Bowel Cancer: Screening -- Adults aged 45 to 75 years",
            "grade": "B",
            "sex": "men and women",
            "ageRange": [45, 75],
            "text": "<p>Offer bowel cancer screening.</p>",
            "servFreq": "<p>Stool test every year&nbsp;or scope every 10 years</p>",
            "riskText": "<p>Family history raises risk.</p>",
        },
        {
            "id": 102,
            "title": "Bone Density: Screening -- Women 65 years or older",
            "grade": "A",
            "sex": "female",
            "ageRange": [65, 100],
            "text": "Measure bone density.",
        },
        {
            "id": 103,
            "title": "Aortic Aneurysm: Screening -- Men aged 65 to 75 who have smoked",
            "grade": "B",
            "sex": "male",
            "ageRange": [65, 75],
            "text": "Scan the aorta once.",
        },
    ]
}


def test_recommendation_set_gives_one_document_per_record(tmp_path: Path) -> None:
    path = tmp_path / "recs.json"
    path.write_text(json.dumps(RECOMMENDATIONS))
    docs = _read(path)
    assert [d.meta.doc_id for d in docs] == ["uspstf_101", "uspstf_102", "uspstf_103"]
    assert [d.meta.grade for d in docs] == ["Grade B", "Grade A", "Grade B"]
    assert [(d.meta.age_min, d.meta.age_max) for d in docs] == [(45.0, 75.0), (65.0, 100.0), (65.0, 75.0)]
    assert [d.meta.sex for d in docs] == ["any", "female", "male"]
    assert all(d.meta.kind == "recommendation" and d.meta.issuer == "USPSTF" for d in docs)
    assert [d.meta.locator for d in docs] == ["#101", "#102", "#103"]

    first = docs[0]
    assert first.meta.title == "Bowel Cancer: Screening -- Adults aged 45 to 75 years"
    assert first.base_path == ["Bowel Cancer: Screening"]
    assert first.markdown.startswith("# Adults aged 45 to 75 years\n\nOffer bowel cancer screening.")
    assert "## Service and frequency\n\nStool test every year or scope every 10 years" in first.markdown
    assert "## Who is at risk\n\nFamily history raises risk." in first.markdown
    assert "<p>" not in first.markdown and "&nbsp;" not in first.markdown
    assert "## Service and frequency" not in docs[1].markdown


def test_recommendation_records_without_grade_are_skipped_with_a_warning(tmp_path: Path) -> None:
    payload = {
        "specificRecommendations": [*RECOMMENDATIONS["specificRecommendations"], {"title": "No grade"}]
    }
    path = tmp_path / "recs.json"
    path.write_text(json.dumps(payload))
    docs = _read(path)
    assert len(docs) == 3
    assert docs[0].warnings == ["1 record(s) without title, grade or text were skipped"]


# -- Bad inputs ------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    assert _skip_reason(tmp_path / "absent.md") == "no such file or folder"


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    assert _skip_reason(tmp_path) == "not a regular file"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    assert _skip_reason(path) == "empty file"


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("  \n\n \t\n")
    assert "no readable text" in _skip_reason(path)


def test_binary_file_named_md(tmp_path: Path) -> None:
    path = tmp_path / "image.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    reason = _skip_reason(path)
    assert "binary" in reason and "NUL" in reason


def test_non_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "latin.md"
    path.write_bytes("# Café diet advice\n\nLess salt.\n".encode("latin-1"))
    reason = _skip_reason(path)
    assert "not valid UTF-8" in reason and "0xe9" in reason and "UTF-8" in reason


def test_json_that_is_no_recommendation_set(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"name": "settings", "values": [1, 2, 3]}))
    assert "not a recommendation set" in _skip_reason(path)


def test_json_list_of_scalars_is_no_recommendation_set(tmp_path: Path) -> None:
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2, 3]")
    assert "not a recommendation set" in _skip_reason(path)


def test_recommendation_set_without_a_usable_record(tmp_path: Path) -> None:
    path = tmp_path / "recs.json"
    path.write_text(json.dumps({"specificRecommendations": [{"title": "Only a title"}]}))
    assert "no usable record" in _skip_reason(path)


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"specificRecommendations": [')
    reason = _skip_reason(path)
    assert reason.startswith("invalid JSON (line 1, column")


def test_file_above_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    path.write_text("# Big\n\n" + "word " * 600_000)  # about 3 MB
    reason = _skip_reason(path, max_bytes=2_000_000)
    assert "3.0 MB" in reason and "2.0 MB limit" in reason and "CRA_MAX_FILE_MB" in reason


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "notes.docx"
    path.write_text("some text")
    reason = _skip_reason(path)
    assert reason.startswith("unsupported file type .docx")
    assert all(suffix in reason for suffix in SUPPORTED_SUFFIXES)


def test_file_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "README"
    path.write_text("some text")
    assert "unsupported file type (none)" in _skip_reason(path)


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "LOUD.MD"
    path.write_text("# Loud\n\nUpper-case extensions are fine.\n")
    assert _read(path)[0].meta.title == "Loud"
